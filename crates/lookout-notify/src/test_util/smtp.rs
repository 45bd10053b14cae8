//! A loopback SMTP receiver that can accept, answer 4xx/5xx, or hang after DATA.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::channels::SmtpSettings;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// Accept every message (`250` after DATA).
    Accept,
    /// Answer `451 4.3.0` to `MAIL FROM` (transient).
    TempFail,
    /// Answer `550 5.7.1` to `MAIL FROM` (permanent).
    PermFail,
    /// Read the whole message, then never answer the final `.`.
    HangAfterData,
    /// Accept the connection and never send the greeting.
    HangOnGreeting,
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The message as received (dot-unstuffed, CRLF line ends).
    pub data: String,
}

struct State {
    mode: SmtpMode,
    received: Vec<ReceivedMail>,
    connections: usize,
    open: usize,
}

/// A running SMTP receiver; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _stop: watch::Sender<bool>,
    /// Bumped to make every open connection close at once (no reply, no `421`).
    cut: watch::Sender<u64>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SmtpServer {
    /// Binds 127.0.0.1:0 and starts accepting.
    pub async fn start(mode: SmtpMode) -> std::io::Result<SmtpServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            mode,
            received: Vec::new(),
            connections: 0,
            open: 0,
        }));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (cut_tx, cut_rx) = watch::channel(0u64);
        let st = Arc::clone(&state);
        super::spawn_background(async move {
            let mut stop = stop_rx.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        {
                            let mut st = sentinel::sync::lock(&st);
                            st.connections += 1;
                            st.open += 1;
                        }
                        let st = Arc::clone(&st);
                        let mut stop = stop_rx.clone();
                        let mut cut = cut_rx.clone();
                        // Only cuts after this connection was accepted close it.
                        cut.borrow_and_update();
                        super::spawn_background(async move {
                            tokio::select! {
                                _ = stop.changed() => {}
                                _ = cut.changed() => {}
                                _ = serve(stream, Arc::clone(&st)) => {}
                            }
                            sentinel::sync::lock(&st).open -= 1;
                        });
                    }
                }
            }
        });
        Ok(SmtpServer {
            addr,
            state,
            _stop: stop_tx,
            cut: cut_tx,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how later commands are answered.
    pub fn set_mode(&self, mode: SmtpMode) {
        sentinel::sync::lock(&self.state).mode = mode;
    }

    /// Messages accepted so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        sentinel::sync::lock(&self.state).received.clone()
    }

    /// Closes every connection open now, as a server restart or an idle cut-off would
    /// (later connections are served as usual).
    pub fn drop_connections(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Connections open now (accepted and not yet closed by either side).
    pub fn open_connections(&self) -> usize {
        sentinel::sync::lock(&self.state).open
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        sentinel::sync::lock(&self.state).connections
    }

    /// Plain-SMTP settings pointing at this server (2 s connect, 10 s total: generous for a
    /// loaded CI machine; hang tests shorten `total_timeout`).
    pub fn settings(&self) -> SmtpSettings {
        let mut s = SmtpSettings::plain(
            "127.0.0.1",
            self.addr.port(),
            "Lookout <alerts@lookout.test>",
        );
        s.connect_timeout = std::time::Duration::from_secs(2);
        s.total_timeout = std::time::Duration::from_secs(10);
        s.message_id_domain = "lookout.test".to_owned();
        s
    }
}

fn strip_path(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(arg, |(addr, _)| addr);
    inner.to_owned()
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if sentinel::sync::lock(&state).mode == SmtpMode::HangOnGreeting {
        std::future::pending::<()>().await;
    }
    write
        .write_all(b"220 lookout.test ESMTP test receiver\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let mode = sentinel::sync::lock(&state).mode;
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-lookout.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") {
            b"250 lookout.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            match mode {
                SmtpMode::TempFail => b"451 4.3.0 try again later\r\n",
                SmtpMode::PermFail => b"550 5.7.1 mailbox unavailable\r\n",
                SmtpMode::Accept | SmtpMode::HangAfterData | SmtpMode::HangOnGreeting => {
                    from = strip_path(&line[10..]);
                    to.clear();
                    b"250 2.1.0 ok\r\n"
                }
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(strip_path(&line[8..]));
            b"250 2.1.5 ok\r\n"
        } else if upper.starts_with("DATA") {
            write
                .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            if sentinel::sync::lock(&state).mode == SmtpMode::HangAfterData {
                std::future::pending::<()>().await;
            }
            sentinel::sync::lock(&state).received.push(ReceivedMail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            b"250 2.0.0 queued\r\n"
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            b"250 2.0.0 ok\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.2 command not recognised\r\n"
        };
        write.write_all(reply).await?;
    }
}
