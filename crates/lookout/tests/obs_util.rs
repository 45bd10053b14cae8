//! Helpers of the observability tests: plain HTTP over loopback, a `lookout demo` child that
//! reports its ops address, and parsing of the Prometheus text format and `docs/metrics.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::lookout;

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET` that panics on a transport error.
pub(crate) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path).unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// A free loopback port (bound and released; good enough for a test).
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running `lookout demo`, stopped (SIGTERM, then kill) on drop.
pub(crate) struct Demo {
    pub(crate) child: Child,
    pub(crate) ops: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts `lookout demo` on a free port and waits for its banner.
    pub(crate) fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut child = lookout()
            .args(["demo", "--http", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("LOOKOUT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("ops:") {
                    let addr = rest.trim().trim_start_matches("http://");
                    let addr = addr.split('/').next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("lookout demo printed no ops address within 30 s");
        Demo {
            child,
            ops: addr.parse().unwrap(),
            _dir: dir,
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `/metrics` exposes: metric name → (type, label names seen).
pub(crate) type Exposed = BTreeMap<String, (String, BTreeSet<String>)>;

/// Parses the Prometheus text format into [`Exposed`].
pub(crate) fn parse_exposition(text: &str) -> Exposed {
    let mut out = Exposed::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                out.entry(name.to_owned()).or_default().0 = kind.to_owned();
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let series = line.split_whitespace().next().unwrap_or_default();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| out.get(*b).is_some_and(|e| e.0 == "histogram"))
            })
            .unwrap_or(name);
        let entry = out.entry(base.to_owned()).or_default();
        for pair in split_labels(labels) {
            if let Some((k, _)) = pair.split_once('=')
                && k != "le"
            {
                entry.1.insert(k.to_owned());
            }
        }
    }
    out
}

fn split_labels(labels: &str) -> Vec<String> {
    // Label values are quoted and may hold commas.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in labels.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A repository file.
pub(crate) fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(rel)
}

/// One row of the catalogue table of `docs/metrics.md`.
#[derive(Debug)]
pub(crate) struct Documented {
    pub(crate) kind: String,
    pub(crate) labels: BTreeSet<String>,
}

/// The catalogue table of `docs/metrics.md`: name → row.
pub(crate) fn documented_metrics() -> BTreeMap<String, Documented> {
    let path = repo_file("docs/metrics.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table = text
        .split_once("<!-- catalogue:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- catalogue:end -->"))
        .map(|(t, _)| t)
        .unwrap_or_else(|| panic!("{} has no catalogue markers", path.display()));
    let mut out = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let name = cells[0]
            .trim_start_matches("| ")
            .trim_matches('`')
            .to_owned();
        let labels = cells[2]
            .split(", ")
            .map(|l| l.trim_matches('`').to_owned())
            .filter(|l| l != "—")
            .collect();
        out.insert(
            name,
            Documented {
                kind: cells[1].to_owned(),
                labels,
            },
        );
    }
    out
}
