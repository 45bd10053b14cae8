//! The `worker_loop` example as an operator sees it: serves the ops endpoints, keeps running through panics, and
//! drains and exits 0 on SIGTERM. Needs the `http` feature (the example's).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The example binary, built next to this test binary (`cargo test` builds examples); built on demand otherwise.
fn example_binary() -> PathBuf {
    let test_exe = std::env::current_exe().unwrap();
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_path_buf();
    let binary = profile_dir.join("examples").join("worker_loop");
    if !binary.exists() {
        let target_dir = profile_dir.parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "sentinel",
                "--example",
                "worker_loop",
                "--features",
                "http",
                "--target-dir",
            ])
            .arg(target_dir)
            .status()
            .unwrap();
        assert!(status.success(), "building the worker_loop example failed");
    }
    binary
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response.split_once("\r\n\r\n")?.1.to_owned()))
}

/// The value of the first metric line starting with `prefix` (labels included).
fn metric(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn worker_loop_survives_panics_serves_ops_endpoints_and_drains_on_sigterm() {
    let binary = example_binary();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(binary)
        .args([
            "--listen",
            &addr.to_string(),
            "--panic-every",
            "3",
            "--tick-ms",
            "50",
        ])
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);

    let panics = "sentinel_task_finished_total{task=\"send-notification\",outcome=\"panic\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "no panics counted in /metrics within 20 s"
        );
        if let Some((200, body)) = http_get(addr, "/metrics")
            && metric(&body, panics) >= 2.0
        {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    let (_, later) = http_get(addr, "/metrics").unwrap();
    assert!(
        metric(&later, panics) > metric(&first, panics),
        "the panic counter grows"
    );
    assert!(
        metric(&later, "worker_processed_total") > metric(&first, "worker_processed_total"),
        "the processed counter keeps growing"
    );
    let (status, health) = http_get(addr, "/healthz").unwrap();
    assert_eq!(status, 200, "{health}");
    let (status, tasks) = http_get(addr, "/tasks").unwrap();
    assert_eq!(status, 200);
    assert!(tasks.contains("\"name\":\"alert-sender\""), "{tasks}");

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "worker_loop did not exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
}
