//! KilnProxy's lesson: know the memory per connection and leak nothing. A real `lookout run`
//! with a `tcp_server` source takes 1,000 feed connections (each sends one sentence, so its
//! decoder is live), then they all close; twice. Running tasks in `/tasks` and open file
//! descriptors return to their baseline (within what the service opens by itself), and (with
//! the `profiling` feature) so do jemalloc's allocated bytes. The memory per idle connection
//! is measured and printed (documented in
//! `docs/metrics.md`).

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::obs_util::get;
use crate::util::lookout;

const CONNECTIONS: usize = 1000;

struct Service {
    child: Child,
    ops: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn start(dir: &Path, ops: SocketAddr, feed: SocketAddr) -> Service {
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "sqlite://{db}?mode=rwc"

[http]
listen = "{ops}"

[[sources]]
kind = "tcp_server"
name = "hub"
listen = "{feed}"
max_connections = {max}
max_per_peer = {max}
idle_timeout = "10m"

[[areas]]
kind = "circle"
id = "zone"
name = "Zone"
lat = -36.8
lon = 174.9
radius_nm = 5
"#,
            db = dir.join("lookout.db").display(),
            max = CONNECTIONS + 100,
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.toml"),
        format!(
            "[[organisations]]\nid = \"acme\"\nname = \"Acme\"\n\n[[users]]\nid = \"ops\"\norg = \"acme\"\n\
             name = \"Ops\"\nemail = \"ops@example.com\"\ntimezone = \"UTC\"\n\
             channels = [{{ kind = \"maildir\", path = \"{}\" }}]\n",
            dir.join("maildir").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        "[[rules]]\nid = \"r\"\nowner = \"ops\"\nvessels = \"any\"\nareas = [\"zone\"]\nevents = [\"entered\"]\n",
    )
    .unwrap();
    let child = lookout()
        .args(["run", "--config"])
        .arg(dir.join("lookout.toml"))
        .env("LOOKOUT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let service = Service { child, ops };
    let started = Instant::now();
    while crate::obs_util::http(ops, "GET", "/readyz").map_or(true, |(s, _)| s != 200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "lookout not ready in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    service
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    tasks: usize,
    fds: usize,
    rss: u64,
    connections: usize,
    /// Bytes allocated (jemalloc's `stats.allocated`), with the `profiling` feature.
    allocated: Option<u64>,
}

fn sample(s: &Service) -> Sample {
    let pid = s.child.id();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap()
        * 1024;
    let (_, tasks) = get(s.ops, "/tasks");
    let tasks: serde_json::Value = serde_json::from_str(&tasks).unwrap();
    let (_, conns) = get(s.ops, "/connections");
    let conns: serde_json::Value = serde_json::from_str(&conns).unwrap();
    Sample {
        // `/tasks` has one row per task name, with how many run under it.
        tasks: tasks["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["running"].as_u64().unwrap_or(0) as usize)
            .sum(),
        fds,
        rss,
        connections: conns["connections"].as_array().map_or(0, Vec::len),
        allocated: allocated(s.ops),
    }
}

#[cfg(feature = "profiling")]
fn allocated(ops: SocketAddr) -> Option<u64> {
    let (status, body) = get(ops, "/debug/heap");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["allocated"].as_u64()
}

#[cfg(not(feature = "profiling"))]
fn allocated(_ops: SocketAddr) -> Option<u64> {
    None
}

/// Tasks the service may run by itself beyond its baseline (a periodic task caught running).
const SLACK_TASKS: usize = 4;
/// Descriptors the service may open by itself beyond its baseline (store pool growth).
const SLACK_FDS: usize = 12;

fn wait_for(s: &Service, what: &str, ok: impl Fn(&Sample) -> bool) -> Sample {
    let started = Instant::now();
    loop {
        let now = sample(s);
        if ok(&now) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} not reached within 60 s: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Opens `n` connections, each sending one sentence; returns them open.
fn open(feed: SocketAddr, n: usize) -> Vec<TcpStream> {
    let line = b"!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*4E\r\n";
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&feed, Duration::from_secs(5)).unwrap();
            s.write_all(line).unwrap();
            s
        })
        .collect()
}

#[test]
fn a_thousand_feed_connections_open_and_close_without_leaking() {
    let dir = tempfile::tempdir().unwrap();
    let ops: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
    let feed: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
    let service = start(dir.path(), ops, feed);

    // Warm up (allocator arenas, registry shards, the first connection's lazy statics).
    drop(open(feed, 100));
    let baseline = wait_for(&service, "warm-up connections closed", |s| {
        s.connections == 0
    });
    // The warm-up connections' tasks finish a moment after the registry forgets them: the
    // baseline is the first of three equal task counts in a row (or what is there after 10 s).
    let mut baseline = baseline;
    let mut same = 0;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        let now = sample(&service);
        same = if now.tasks == baseline.tasks {
            same + 1
        } else {
            0
        };
        baseline = now;
        if same >= 2 {
            break;
        }
    }

    let mut after_rounds = Vec::new();
    for round in 1..=2 {
        let conns = open(feed, CONNECTIONS);
        // One task and one descriptor per connection (give or take the few the service runs
        // by itself: the baseline may have caught a periodic task running).
        let busy = wait_for(&service, "1,000 connections with their tasks", |s| {
            s.connections == CONNECTIONS
                && s.tasks + 4 >= baseline.tasks + CONNECTIONS
                && s.fds + 4 >= baseline.fds + CONNECTIONS
        });
        let per_conn = busy.rss.saturating_sub(baseline.rss) / CONNECTIONS as u64;
        let per_conn_allocated = busy
            .allocated
            .zip(baseline.allocated)
            .map(|(b, a)| b.saturating_sub(a) / CONNECTIONS as u64);
        eprintln!(
            "leaks round {round}: {CONNECTIONS} idle connections: rss {} KiB -> {} KiB, {} resident bytes and {per_conn_allocated:?} allocated bytes per connection",
            baseline.rss / 1024,
            busy.rss / 1024,
            per_conn
        );
        drop(conns);
        // Back to the baseline, give or take what the service opens by itself meanwhile: the
        // SQLite pool may grow by a connection or two (three descriptors each: db, wal, shm) and
        // a periodic task may be caught running — a handful, never one per connection.
        let idle = wait_for(&service, "every connection closed and its task gone", |s| {
            s.connections == 0
                && s.tasks <= baseline.tasks + SLACK_TASKS
                && s.fds <= baseline.fds + SLACK_FDS
        });
        eprintln!("leaks round {round}: after close {idle:?} (baseline {baseline:?})");
        after_rounds.push(idle);
    }
    // A leak grows with every round; the service's own pool and tasks do not.
    if let [first, second] = after_rounds.as_slice() {
        assert!(
            second.fds <= first.fds + SLACK_FDS / 2 && second.tasks <= first.tasks + SLACK_TASKS,
            "descriptors or tasks grew from round 1 to round 2: {first:?} -> {second:?}"
        );
    }
    // Allocated bytes: a leak of a KiB per connection grows them by a MiB from round to round;
    // what the service keeps by itself is bounded (jemalloc's thread caches, the SQLite page
    // cache, the registries' bounded caches: the first rounds measured +0.6 MiB and +1.1 MiB
    // over the baseline, +0.5 MiB between them), so rounds may not grow by a MiB and neither
    // may exceed the baseline by 4 MiB. Resident memory is only reported: glibc keeps freed
    // pages in per-thread arenas, so RSS measures the allocator as much as the program.
    let allocated: Vec<u64> = after_rounds.iter().filter_map(|s| s.allocated).collect();
    if let (Some(base), [first, second]) = (baseline.allocated, allocated.as_slice()) {
        assert!(
            *second <= first + (1 << 20),
            "allocated bytes grew by {} KiB from round 1 to round 2 (a leak of about a KiB per connection): {first} -> {second}",
            second.saturating_sub(*first) / 1024
        );
        for (round, now) in [first, second].into_iter().enumerate() {
            assert!(
                *now <= base + (4 << 20),
                "round {}: {} KiB still allocated after every connection closed ({base} -> {now} bytes)",
                round + 1,
                now.saturating_sub(base) / 1024
            );
        }
    }
    if baseline.allocated.is_none() {
        eprintln!("leaks: allocated bytes not checked (build with --features profiling)");
    }
}
