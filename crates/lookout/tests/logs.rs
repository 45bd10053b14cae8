//! Logs written to a pipe or a file carry no ANSI colour codes, and the HTTP request lines
//! carry the request id.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::lookout;

#[test]
fn logs_to_a_pipe_have_no_ansi_colours_and_requests_carry_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let child = lookout()
        .args([
            "demo",
            "--http",
            "127.0.0.1:0",
            "--duration",
            "4s",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("LOOKOUT_LOG", "info,tower_http=debug")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Find the ops address in the banner, then make one request with an id.
    let started = Instant::now();
    let mut ops: Option<std::net::SocketAddr> = None;
    let out = {
        let mut child = child;
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead as _;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("ops:")
                        .and_then(|r| r.trim().strip_prefix("http://"))
                        .and_then(|r| r.split('/').next())
                        .map(str::to_owned)
                })
        });
        if let Ok(Some(addr)) = reader.join() {
            ops = addr.parse().ok();
        }
        if let Some(addr) = ops {
            use std::io::{Read as _, Write as _};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-request-id: trace-me-7\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let mut response = String::new();
            let _ = s.read_to_string(&mut response);
            assert!(
                response
                    .to_ascii_lowercase()
                    .contains("x-request-id: trace-me-7"),
                "{response}"
            );
        }
        child.wait_with_output().unwrap()
    };
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(ops.is_some(), "no ops address in the banner");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty(), "no log lines at all");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape codes in piped logs:\n{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.contains("request_id=trace-me-7")),
        "no log line carries the request id:\n{stderr}"
    );
}
