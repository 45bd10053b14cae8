//! End-to-end latency through `lookout run`: sentence written → its webhook received.
//!
//! `cargo bench -p lookout --bench e2e_latency` (release). For SQLite (a temp file) and
//! PostgreSQL (`LOOKOUT_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, a
//! fresh database; skipped when unreachable unless `LOOKOUT_REQUIRE_PG` is set), starts the
//! built `lookout run` with a `tcp_server` feed, one circular area, one rule "any vessel
//! entered" and one user whose channel is a webhook to a loopback HTTP receiver in this
//! process. It then writes `LOOKOUT_E2E_RATE` (2,000) sentences/s for `LOOKOUT_E2E_SECS` (10) s,
//! each behind a tag block with the current second. Every vessel reports three times, one
//! second apart: twice just outside the circle (its first fix needs a second report that agrees
//! with it) and then just inside, so that third sentence is the crossing and produces exactly
//! one `entered` webhook. A third of the sentences cross.
//!
//! For each crossing vessel the latency is from the moment its sentence was written to the
//! feed socket to the moment its webhook (found by MMSI in the body) arrived; p50, p99 and the
//! maximum over all of them are printed with how many arrived. What it leaves out: the feed's
//! own network path (loopback), the receiver's processing (it answers 200 at once), and any
//! retry (a failed delivery would show as a missing or very late webhook).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Arrival time of each MMSI's webhook.
type Arrivals = Arc<Mutex<HashMap<u32, Instant>>>;

const LAT: f64 = -36.8;
const LON: f64 = 174.9;
const RADIUS_NM: f64 = 5.0;
/// Distance from the circle's edge, nautical miles, of the three reports (outside positive):
/// 0.01 nm per second is 36 knots, well under the tracker's plausibility limit.
const STEPS_NM: [f64; 3] = [0.02, 0.01, -0.01];

/// The `lookout` binary, built by Cargo for benches as for integration tests.
fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

fn free_port() -> SocketAddr {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// A keep-alive HTTP/1.1 receiver (one thread per connection) answering 200 to every POST and
/// recording when each MMSI's webhook arrived.
fn receiver() -> (String, Arrivals) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || serve(stream, &seen));
        }
    });
    (url, arrivals)
}

fn serve(stream: TcpStream, seen: &Arrivals) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut write = stream.try_clone()?;
    let mut read = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let mut length = 0usize;
        loop {
            line.clear();
            if read.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        read.read_exact(&mut body)?;
        let at = Instant::now();
        write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
        if let Some(mmsi) = mmsi_of(&body) {
            seen.lock().unwrap().entry(mmsi).or_insert(at);
        }
    }
}

/// The `mmsi` anywhere in a JSON webhook body.
fn mmsi_of(body: &[u8]) -> Option<u32> {
    fn find(v: &serde_json::Value) -> Option<u32> {
        match v {
            serde_json::Value::Object(map) => map
                .get("mmsi")
                .and_then(serde_json::Value::as_u64)
                .and_then(|m| u32::try_from(m).ok())
                .or_else(|| map.values().find_map(find)),
            serde_json::Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&serde_json::from_slice(body).ok()?)
}

/// One position report of `mmsi` at `nm` from the circle's edge, stamped `unix` seconds.
fn sentence(mmsi: u32, nm: f64, unix: i64) -> String {
    let lat = LAT + (RADIUS_NM + nm) / 60.0;
    let msg = ais::Message::Position(ais::PositionReport::class_a(ais::Mmsi(mmsi), lat, LON));
    let opts = ais::encode::EncodeOptions::default().tag_block(
        ais::encode::TagBlockOptions::new()
            .time(unix)
            .source("bench"),
    );
    let mut lines = ais::encode::encode(&msg, &opts).unwrap();
    let mut line = lines.remove(0);
    line.push_str("\r\n");
    line
}

fn write_config(dir: &Path, store_url: &str, ops: SocketAddr, feed: SocketAddr, hook: &str) {
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "{store_url}"

[http]
listen = "{ops}"

[[sources]]
kind = "tcp_server"
name = "bench"
listen = "{feed}"

[[areas]]
kind = "circle"
id = "zone"
name = "Zone"
lat = {LAT}
lon = {LON}
radius_nm = {RADIUS_NM}

[tracker]
max_first_sightings_per_minute = 1000000

[webhooks.sink]
url = "{hook}"
secret_env = "LOOKOUT_BENCH_SECRET"

[http_client]
connect_timeout = "2s"
total_timeout = "5s"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.toml"),
        "[[organisations]]\nid = \"acme\"\nname = \"Acme\"\n\n[[users]]\nid = \"ops\"\norg = \"acme\"\n\
         name = \"Ops\"\nemail = \"ops@example.com\"\ntimezone = \"UTC\"\n\
         channels = [{ kind = \"webhook\", endpoint = \"sink\" }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        "[[rules]]\nid = \"r\"\nowner = \"ops\"\nvessels = \"any\"\nareas = [\"zone\"]\nevents = [\"entered\"]\n",
    )
    .unwrap();
}

/// `lookout run`, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, ops: SocketAddr) -> Service {
    let log = std::fs::File::create(dir.join("lookout.log")).unwrap();
    let child = lookout()
        .args(["run", "--config"])
        .arg(dir.join("lookout.toml"))
        .env("LOOKOUT_LOG", "warn")
        .env("LOOKOUT_BENCH_SECRET", "bench-secret")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let service = Service(child);
    let started = Instant::now();
    while !ready(ops) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "lookout not ready in 60 s: {}",
            std::fs::read_to_string(dir.join("lookout.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    service
}

fn ready(ops: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&ops, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn unix_now() -> (i64, Duration) {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (
        i64::try_from(since.as_secs()).unwrap(),
        Duration::from_nanos(u64::from(since.subsec_nanos())),
    )
}

/// Feeds `rate` sentences/s for `secs` seconds; returns when each crossing was written.
fn feed(addr: SocketAddr, rate: usize, secs: usize) -> HashMap<u32, Instant> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    let per_second = rate / 3; // vessels starting each second
    const SLICES: usize = 100; // writes per second, 10 ms apart
    let mut written = HashMap::new();
    // Start on a second boundary, so each second's writes carry that second's time.
    let (_, into) = unix_now();
    std::thread::sleep(Duration::from_secs(1) - into);
    let (first, _) = unix_now();
    let origin = Instant::now();
    // Two extra seconds let the last vessels finish their three reports.
    for second in 0..secs + 2 {
        let unix = first + i64::try_from(second).unwrap();
        for slice in 0..SLICES {
            let due =
                origin + Duration::from_millis(u64::try_from(second * 1000 + slice * 10).unwrap());
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (lo, hi) = (
                per_second * slice / SLICES,
                per_second * (slice + 1) / SLICES,
            );
            let mut chunk = String::new();
            let mut crossing = Vec::new();
            for (step, nm) in STEPS_NM.iter().enumerate() {
                // Vessels that started `step` seconds ago make their report number `step`.
                let Some(started) = second.checked_sub(step) else {
                    continue;
                };
                if started >= secs {
                    continue;
                }
                for v in lo..hi {
                    let mmsi = 201_000_000 + u32::try_from(started * per_second + v).unwrap();
                    chunk.push_str(&sentence(mmsi, *nm, unix));
                    if step == 2 {
                        crossing.push(mmsi);
                    }
                }
            }
            conn.write_all(chunk.as_bytes()).unwrap();
            let at = Instant::now();
            written.extend(crossing.into_iter().map(|m| (m, at)));
        }
    }
    written
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run(name: &str, store_url: &str, dir: &Path, rate: usize, secs: usize) {
    let (hook, arrivals) = receiver();
    let (ops, feed_addr) = (free_port(), free_port());
    write_config(dir, store_url, ops, feed_addr, &hook);
    let _service = start(dir, ops);
    let written = feed(feed_addr, rate, secs);
    let expected = written.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let arrived = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = written
        .iter()
        .filter_map(|(mmsi, at)| {
            arrived
                .get(mmsi)
                .map(|got| got.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    println!(
        "{name}: {rate} sentences/s for {secs} s through `lookout run`: {} of {expected} webhooks, \
         sentence → webhook p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
    );
}

/// A fresh PostgreSQL database (URL, admin URL, name), or `None` when none answers.
fn fresh_pg() -> Option<(String, String, String)> {
    let admin = std::env::var("LOOKOUT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("lookout_e2e_{}", std::process::id());
    let created = pg(&admin, &format!("CREATE DATABASE {name}"));
    if let Err(err) = created {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_PG").is_none(),
            "LOOKOUT_REQUIRE_PG is set but PostgreSQL at {admin} is unusable: {err}"
        );
        eprintln!("postgres: skipped ({err})");
        return None;
    }
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some((format!("{base}/{name}"), admin, name))
}

fn pg(url: &str, statement: &str) -> Result<(), sqlx::Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut conn)
                .await?;
            conn.close().await
        })
}

fn main() {
    let env = |key: &str, default: usize| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rate = env("LOOKOUT_E2E_RATE", 2000);
    let secs = env("LOOKOUT_E2E_SECS", 10);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("lookout.db").display()
    );
    run("sqlite", &sqlite, dir.path(), rate, secs);
    if let Some((url, admin, name)) = fresh_pg() {
        let dir = tempfile::tempdir().unwrap();
        run("postgres", &url, dir.path(), rate, secs);
        let _ = pg(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
}
