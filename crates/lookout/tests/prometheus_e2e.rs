//! The shipped alert rules against a real Prometheus and a real `lookout run` (feature
//! `fault-injection`): every fault is injected, the matching alert must be **firing** in
//! Prometheus's `/api/v1/alerts` within 2 minutes, and must resolve once the fault clears.
//!
//! Prometheus runs on a free port, scraping every second, with `deploy/prometheus/lookout.rules.yml`
//! under a test overlay: every `for:` becomes 3 s and every range `[…]` 20 s (so an alert can
//! fire and resolve in seconds; thresholds are untouched). Lookout runs on SQLite with:
//!
//! - a `tcp_client` source dialling the test's own feeder (clean position reports of new
//!   vessels inside a circle area, one every 200 ms; on command also garbage lines, "poison"
//!   vessels, or nothing at all with the listener closed);
//! - three users with a webhook, an email and a Maildir channel, served by loopback receivers
//!   that fail on command;
//! - a template override that fails to render for poison vessels (the alert sender's
//!   outage: templating failing on some data);
//! - `LOOKOUT_FAULT_MEMORY_LIMIT_BYTES` so memory pressure needs a modest allocation.
//!
//! Skips with a message when `prometheus` is not installed, unless
//! `LOOKOUT_REQUIRE_PROMETHEUS=1` (set by `.ci/run`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lookout_notify::test_util::{HttpMode, HttpReceiver, SmtpMode, SmtpServer};

use crate::obs_util::{free_port, get, http, repo_file};
use crate::util::lookout;

/// Each alert must fire (and resolve) within this.
const ALERT_DEADLINE: Duration = Duration::from_secs(120);
/// Memory limit the faulty build reports, and what the alloc fault holds.
const FAKE_LIMIT: u64 = 384 << 20;
const ALLOC: u64 = 352 << 20;

fn prometheus_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_PROMETHEUS").is_none(),
            "LOOKOUT_REQUIRE_PROMETHEUS is set but no `prometheus` is on PATH (apt-get install prometheus)"
        );
        eprintln!(
            "skipped: `prometheus` is not installed (set LOOKOUT_REQUIRE_PROMETHEUS=1 to fail instead)"
        );
    }
    found
}

/// The rules with every `for:` at 3 s and every range selector at 20 s.
fn overlay(rules: &str) -> String {
    let mut out = String::with_capacity(rules.len());
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("for:") {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(indent);
            out.push_str("for: 3s\n");
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            let (head, tail) = rest.split_at(open);
            out.push_str(head);
            match tail.find(']') {
                Some(close)
                    if tail[1..close].chars().all(|c| c.is_ascii_alphanumeric()) && close > 1 =>
                {
                    out.push_str("[20s]");
                    rest = &tail[close + 1..];
                }
                _ => {
                    out.push('[');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the feeder sends.
#[derive(Default)]
struct FeedControl {
    garbage: AtomicBool,
    poison: AtomicBool,
    stopped: AtomicBool,
    done: AtomicBool,
    next_mmsi: AtomicU32,
}

fn sentence(mmsi: u32, lat: f64, lon: f64) -> String {
    let msg = ais::Message::Position(ais::PositionReport::class_a(ais::Mmsi(mmsi), lat, lon));
    let mut lines = ais::encode::encode(&msg, &ais::encode::EncodeOptions::default()).unwrap();
    lines.remove(0)
}

/// Serves AIS on `addr` to whoever connects (Lookout's `tcp_client` source), as `ctl` says.
fn feeder(addr: SocketAddr, ctl: Arc<FeedControl>) {
    while !ctl.done.load(Ordering::Relaxed) {
        if ctl.stopped.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let Ok(listener) = TcpListener::bind(addr) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        listener.set_nonblocking(true).unwrap();
        let mut conn: Option<TcpStream> = None;
        while !ctl.done.load(Ordering::Relaxed) && !ctl.stopped.load(Ordering::Relaxed) {
            if let Ok((stream, _)) = listener.accept() {
                conn = Some(stream);
            }
            if let Some(stream) = conn.as_mut() {
                let n = ctl.next_mmsi.fetch_add(1, Ordering::Relaxed);
                // Each vessel reports twice, 200 ms and ~5 m apart: the tracker uses a first
                // fix only once a second report agrees with it.
                let mut batch = sentence(512_000_000 + n, -36.80, 174.90);
                batch.push_str("\r\n");
                if n > 0 {
                    batch.push_str(&sentence(512_000_000 + n - 1, -36.80005, 174.90));
                    batch.push_str("\r\n");
                }
                if ctl.poison.load(Ordering::Relaxed) {
                    batch.push_str(&sentence(512_500_000 + n, -36.75, 174.90));
                    batch.push_str("\r\n");
                    if n > 0 {
                        batch.push_str(&sentence(512_500_000 + n - 1, -36.75005, 174.90));
                        batch.push_str("\r\n");
                    }
                }
                if ctl.garbage.load(Ordering::Relaxed) {
                    batch.push_str("!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*00\r\n");
                    batch.push_str("!AIVDM,1,1,,A,this is not armoured,0*4A\r\n");
                }
                if stream.write_all(batch.as_bytes()).is_err() {
                    conn = None;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Stopped: the connection and the listener close here.
    }
}

fn write_config(dir: &Path, ops: SocketAddr, feed: SocketAddr, hook: &str, smtp: SocketAddr) {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    // Fails to render for vessels north of -36.77 (the poison ones): attribute of undefined.
    std::fs::write(
        templates.join("entered.text.txt"),
        "{{ subject }}\n\nMMSI: {{ mmsi }}\n{% if lat > -36.77 %}{{ lat.no_such.field }}{% endif %}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"
templates = "templates"

[store]
url = "sqlite://{db}?mode=rwc"

[http]
listen = "{ops}"

[[sources]]
kind = "tcp_client"
name = "hub"
addr = "{feed}"
dial_timeout = "1s"
stall_timeout = "5s"
backoff_initial = "1s"
backoff_max = "1s"

[[areas]]
kind = "circle"
id = "zone"
name = "Test zone"
lat = -36.8
lon = 174.9
radius_nm = 10

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Lookout <alerts@lookout.test>"
connect_timeout = "2s"
total_timeout = "5s"

[webhooks.sink]
url = "{hook}"
secret_env = "LOOKOUT_E2E_SECRET"

[http_client]
connect_timeout = "2s"
total_timeout = "5s"

[dispatcher]
batch_size = 64
lease = "30s"
poll_interval = "1s"
max_attempts = 1000
backoff_base = "1s"
backoff_max = "2s"
"#,
            db = dir.join("lookout.db").display(),
            smtp_port = smtp.port(),
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
id = "hook"
org = "acme"
name = "Webhook Desk"
email = "hook@example.com"
timezone = "Pacific/Auckland"
channels = [{{ kind = "webhook", endpoint = "sink" }}]

[[users]]
id = "mailer"
org = "acme"
name = "Email Desk"
email = "mailer@example.com"
timezone = "Pacific/Auckland"
channels = [{{ kind = "email" }}]

[[users]]
id = "files"
org = "acme"
name = "Maildir Desk"
email = "files@example.com"
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
id = "hook-entered"
owner = "hook"
vessels = "any"
areas = ["zone"]
events = ["entered"]

[[rules]]
id = "mail-entered"
owner = "mailer"
vessels = "any"
areas = ["zone"]
events = ["entered"]

[[rules]]
id = "files-entered"
owner = "files"
vessels = "any"
areas = ["zone"]
events = ["entered"]
"#,
    )
    .unwrap();
}

fn start_lookout(dir: &Path) -> Proc {
    let log = std::fs::File::create(dir.join("lookout.log")).unwrap();
    Proc(
        lookout()
            .args(["run", "--config"])
            .arg(dir.join("lookout.toml"))
            .env("LOOKOUT_LOG", "info")
            .env("LOOKOUT_E2E_SECRET", "e2e-secret")
            .env("LOOKOUT_FAULT_MEMORY_LIMIT_BYTES", FAKE_LIMIT.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// The end of Lookout's log, for failure messages.
fn lookout_log(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("lookout.log")).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    text.get(start..).unwrap_or_default().to_owned()
}

fn wait_lookout_ready(proc: &mut Proc, dir: &Path, ops: SocketAddr) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = proc.0.try_wait() {
            panic!("lookout exited with {status}:\n{}", lookout_log(dir));
        }
        if http(ops, "GET", "/readyz").is_ok_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("lookout not ready within 60 s:\n{}", lookout_log(dir));
}

fn wait_http_ok(addr: SocketAddr, path: &str, within: Duration) {
    let started = Instant::now();
    while started.elapsed() < within {
        if http(addr, "GET", path).is_ok_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{addr}{path} did not answer 200 within {within:?}");
}

/// Alerts by name, each with the label sets of its firing instances.
fn firing(prom: SocketAddr) -> BTreeMap<String, Vec<serde_json::Value>> {
    let (status, body) = get(prom, "/api/v1/alerts");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for alert in json["data"]["alerts"].as_array().into_iter().flatten() {
        if alert["state"] == "firing" {
            let name = alert["labels"]["alertname"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            out.entry(name).or_default().push(alert["labels"].clone());
        }
    }
    out
}

/// One expected alert: its name and the labels that must match.
type Want = (&'static str, &'static [(&'static str, &'static str)]);

fn matches(firing: &BTreeMap<String, Vec<serde_json::Value>>, want: &Want) -> bool {
    firing.get(want.0).is_some_and(|instances| {
        instances
            .iter()
            .any(|labels| want.1.iter().all(|(k, v)| labels[*k] == *v))
    })
}

/// Polls until every wanted alert fires; returns seconds to fire per alert.
fn wait_firing(prom: SocketAddr, wants: &[Want], since: Instant) -> Vec<(String, f64)> {
    let mut fired: Vec<(String, f64)> = Vec::new();
    while since.elapsed() < ALERT_DEADLINE {
        let now = firing(prom);
        for want in wants {
            let label = format!("{}{:?}", want.0, want.1);
            if !fired.iter().any(|(l, _)| *l == label) && matches(&now, want) {
                fired.push((label, since.elapsed().as_secs_f64()));
            }
        }
        if fired.len() == wants.len() {
            return fired;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let missing: Vec<String> = wants
        .iter()
        .map(|w| format!("{}{:?}", w.0, w.1))
        .filter(|l| !fired.iter().any(|(f, _)| f == l))
        .collect();
    panic!(
        "not firing within {ALERT_DEADLINE:?}: {missing:?}; firing now: {:#?}",
        firing(prom)
    );
}

/// Polls until none of the alerts fires; returns seconds to resolve.
fn wait_resolved(prom: SocketAddr, wants: &[Want], since: Instant) -> f64 {
    while since.elapsed() < ALERT_DEADLINE {
        let now = firing(prom);
        if !wants.iter().any(|w| matches(&now, w)) {
            return since.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let still: Vec<&str> = wants
        .iter()
        .filter(|w| matches(&firing(prom), w))
        .map(|w| w.0)
        .collect();
    panic!("still firing {ALERT_DEADLINE:?} after the fault cleared: {still:?}");
}

fn post(addr: SocketAddr, path: &str) {
    let (status, body) = http(addr, "POST", path).unwrap();
    assert!((200..300).contains(&status), "POST {path}: {status} {body}");
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn report(phase: &str, fired: &[(String, f64)]) {
    for (alert, secs) in fired {
        eprintln!("e2e {phase}: {alert} firing after {secs:.1} s");
    }
}

#[test]
fn shipped_alerts_fire_on_each_fault_and_resolve_against_a_real_prometheus() {
    let Some(prometheus) = prometheus_binary() else {
        return;
    };
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hook = runtime.block_on(HttpReceiver::start(HttpMode::Ok)).unwrap();
    let smtp = runtime
        .block_on(SmtpServer::start(SmtpMode::Accept))
        .unwrap();

    let ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let feed_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    write_config(dir.path(), ops, feed_addr, &hook.url("/hook"), smtp.addr());

    let ctl = Arc::new(FeedControl::default());
    let feeder_thread = {
        let ctl = Arc::clone(&ctl);
        std::thread::spawn(move || feeder(feed_addr, ctl))
    };

    // Prometheus, with the rules under the test overlay.
    let rules = std::fs::read_to_string(repo_file("deploy/prometheus/lookout.rules.yml")).unwrap();
    std::fs::write(dir.path().join("rules.yml"), overlay(&rules)).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: lookout\n    static_configs:\n      - targets: ['{ops}']\n"
        ),
    )
    .unwrap();
    let check = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(dir.path().join("prometheus.yml"))
        .output();
    if let Ok(out) = check {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Proc(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .unwrap(),
    );

    let mut lookout_proc = Some(start_lookout(dir.path()));
    if let Some(p) = lookout_proc.as_mut() {
        wait_lookout_ready(p, dir.path(), ops);
    }
    wait_http_ok(prom, "/-/ready", Duration::from_secs(60));

    // Baseline: traffic flows and is delivered on every channel, and none of the alerts the
    // faults should raise is firing.
    let baseline: [Want; 3] = [
        ("LookoutNoAisReceived", &[("source", "hub")]),
        ("LookoutInstanceDown", &[]),
        ("LookoutNotReady", &[]),
    ];
    let t = Instant::now();
    wait_resolved(prom, &baseline, t);
    let started = Instant::now();
    while hook.received().is_empty() || smtp.received().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no delivery on webhook ({}) or email ({}) within 60 s",
            hook.received().len(),
            smtp.received().len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let quiet = firing(prom);
    for name in [
        "LookoutTemplateErrors",
        "LookoutNotificationsDead",
        "LookoutDeliveryErrorRatioHigh",
        "LookoutHeartbeatStale",
        "LookoutNearOOM",
        "LookoutTaskPanicked",
        "LookoutDecodeErrorRatioHigh",
    ] {
        assert!(
            !quiet.contains_key(name),
            "{name} fires before any fault: {quiet:#?}"
        );
    }
    eprintln!(
        "e2e baseline ready after {:.1} s",
        test_started.elapsed().as_secs_f64()
    );

    // Phase 1: every fault that needs a running feed, at once.
    let faults1: &[Want] = &[
        ("LookoutDeliveryErrorRatioHigh", &[("channel", "webhook")]),
        ("LookoutDeliveryErrorRatioHigh", &[("channel", "email")]),
        ("LookoutTemplateErrors", &[]),
        ("LookoutNotificationsDead", &[("channel", "maildir")]),
        ("LookoutErrorLogs", &[]),
        ("LookoutDeliverySLOBurnFast", &[]),
        ("LookoutHeartbeatStale", &[("task", "fault/stuck")]),
        ("LookoutNearOOM", &[]),
        ("LookoutTaskPanicked", &[("task", "fault/panic")]),
        ("LookoutDecodeErrorRatioHigh", &[("source", "hub")]),
        ("LookoutDecodeSLOBurnFast", &[]),
    ];
    let t = Instant::now();
    hook.set_mode(HttpMode::Status(503, None));
    smtp.set_mode(SmtpMode::TempFail);
    ctl.poison.store(true, Ordering::Relaxed);
    ctl.garbage.store(true, Ordering::Relaxed);
    post(ops, "/debug/fault/stuck?seconds=40");
    post(ops, &format!("/debug/fault/alloc?bytes={ALLOC}"));
    post(ops, "/debug/fault/panic");
    let fired = wait_firing(prom, faults1, t);
    report("phase 1", &fired);

    let t = Instant::now();
    hook.set_mode(HttpMode::Ok);
    smtp.set_mode(SmtpMode::Accept);
    ctl.poison.store(false, Ordering::Relaxed);
    ctl.garbage.store(false, Ordering::Relaxed);
    post(ops, "/debug/fault/alloc?bytes=0");
    // The stuck loop ends by itself after its 40 s.
    let secs = wait_resolved(prom, faults1, t);
    eprintln!("e2e phase 1: every alert resolved {secs:.1} s after the faults cleared");

    // Phase 2: the feed stops (listener closed): no AIS, and readiness fails (the only source
    // is reconnecting).
    let faults2: &[Want] = &[
        ("LookoutNoAisReceived", &[("source", "hub")]),
        ("LookoutNotReady", &[]),
    ];
    let t = Instant::now();
    ctl.stopped.store(true, Ordering::Relaxed);
    let fired = wait_firing(prom, faults2, t);
    report("phase 2", &fired);
    let t = Instant::now();
    ctl.stopped.store(false, Ordering::Relaxed);
    let secs = wait_resolved(prom, faults2, t);
    eprintln!("e2e phase 2: resolved {secs:.1} s after the feed came back");

    // Phase 3: the process stops.
    let faults3: &[Want] = &[("LookoutInstanceDown", &[])];
    let t = Instant::now();
    drop(lookout_proc.take());
    let fired = wait_firing(prom, faults3, t);
    report("phase 3", &fired);
    let t = Instant::now();
    lookout_proc = Some(start_lookout(dir.path()));
    let secs = wait_resolved(prom, faults3, t);
    eprintln!("e2e phase 3: resolved {secs:.1} s after the restart");

    // Every dashboard expression is valid PromQL for this Prometheus.
    for expr in crate::dashboard::dashboard_exprs() {
        let q = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace("$job", "lookout");
        let (status, body) = get(prom, &format!("/api/v1/query?query={}", percent_encode(&q)));
        assert_eq!(
            status, 200,
            "dashboard expression rejected by Prometheus: {expr}\n{body}"
        );
    }

    drop(lookout_proc);
    ctl.done.store(true, Ordering::Relaxed);
    let _ = feeder_thread.join();
    eprintln!("e2e total {:.1} s", test_started.elapsed().as_secs_f64());
}

#[test]
fn the_overlay_shortens_for_and_ranges_only() {
    let rules =
        "      - alert: X\n        expr: rate(a{le=\"60\"}[10m]) / b[1h] > 0.5\n        for: 5m\n";
    assert_eq!(
        overlay(rules),
        "      - alert: X\n        expr: rate(a{le=\"60\"}[20s]) / b[20s] > 0.5\n        for: 3s\n"
    );
}
