//! `lookout run` as an operator runs it: a configuration file, a recorded-file source, SQLite;
//! the ops endpoints answer; SIGTERM stops it with exit code 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{lookout, run_ok, sigterm};

/// A minimal HTTP/1.1 GET: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn write_config(dir: &Path, feed: &Path, store_url: &str) {
    let areas = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/areas/nz.geojson"
    );
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "{store_url}"

[http]
listen = "127.0.0.1:0"

[[sources]]
kind = "file"
name = "recording"
path = "{feed}"

[[areas]]
kind = "geojson"
path = "{areas}"
"#,
            feed = feed.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.toml"),
        format!(
            r#"[[organisations]]
id = "acme"
name = "Acme"

[[users]]
id = "ops"
org = "acme"
name = "Ops Desk"
email = "ops@example.com"
timezone = "Pacific/Auckland"
channels = [{{ kind = "maildir", path = "{maildir}" }}]
"#,
            maildir = dir.join("maildir").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        r#"[[rules]]
id = "all-traffic"
owner = "ops"
vessels = "any"
areas = ["hauraki-gulf", "cook-strait"]
events = ["entered", "exited"]
"#,
    )
    .unwrap();
}

#[test]
fn run_on_sqlite_serves_ops_endpoints_delivers_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("lookout.db").display()
    );
    run_service(dir.path(), &url);
}

#[test]
fn run_on_postgres_serves_ops_endpoints_delivers_and_stops_cleanly() {
    let Some(db) = crate::util::FreshPg::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run_service(dir.path(), &db.url);
}

fn run_service(dir: &Path, store_url: &str) {
    let feed = dir.join("feed.nmea");
    run_ok(
        lookout()
            .args([
                "simulate",
                "--vessels",
                "30",
                "--hours",
                "1",
                "--seed",
                "7",
                "--out",
            ])
            .arg(&feed),
    );
    write_config(dir, &feed, store_url);

    let mut child = lookout()
        .args(["--log-format", "json", "run", "--config"])
        .arg(dir.join("lookout.toml"))
        .env("LOOKOUT_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(ops) = v["fields"]["ops"].as_str()
        {
            addr = Some(ops.to_owned());
        }
        line.clear();
    }
    let addr = addr.expect("the service logs its ops address");
    // Keep draining stderr so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });

    let (status, body) = get(&addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&addr, "/readyz");
    assert_eq!(status, 200);
    let (status, body) = get(&addr, "/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["git_sha"].is_string() && info["uptime_seconds"].is_number());

    // The recording is replayed as fast as possible; mail follows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let maildir = dir.join("maildir/new");
    let mut n_mail = 0;
    while Instant::now() < deadline {
        n_mail = std::fs::read_dir(&maildir).map(|d| d.count()).unwrap_or(0);
        if n_mail > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(n_mail > 0, "no mail delivered within 30 s");

    let (status, body) = get(&addr, "/connections");
    assert_eq!(status, 200);
    assert!(body.contains("recording"), "{body}");
    let (status, body) = get(&addr, "/tasks");
    assert_eq!(status, 200);
    for task in ["dispatcher", "recorder", "tracker"] {
        assert!(body.contains(task), "/tasks lacks {task}: {body}");
    }
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "lookout_ais_sentences_total",
        "sentinel_task_started_total",
        "lookout_notifications_total",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }

    sigterm(&child);
    let status = child.wait().unwrap();
    let log = drain.join().unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}
