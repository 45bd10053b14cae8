//! Several instances on one feed (issue 10): `lookout run` with `[cluster]` on PostgreSQL and
//! an own `nats-server -js`. Three instances read the same recording; one is SIGKILLed while
//! tracking; the notifications in the outbox must be exactly those of one uninterrupted
//! instance on the same recording (same dedupe keys: nothing lost, no false gap, one id per
//! key), and every one of them is delivered.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{FreshPg, lookout, run_ok, sigterm};

const VESSELS: u32 = 40;
const PARTITIONS: u32 = 8;

fn write_config(dir: &Path, feed: &Path, store_url: &str, nats_url: &str, stream: &str) {
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

[cluster]
nats_url = "{nats_url}"
stream = "{stream}"
subject_prefix = "{prefix}"
partitions = {PARTITIONS}
lease = "3s"

[dispatcher]
lease = "5s"

[[sources]]
kind = "file"
name = "recording"
path = "{feed}"
speed = 400.0
clock = "data"

[[areas]]
kind = "geojson"
path = "{areas}"
"#,
            feed = feed.display(),
            prefix = stream.to_lowercase(),
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
    let mmsi: Vec<String> = (1..=VESSELS)
        .map(|n| (512_900_000 + n).to_string())
        .collect();
    std::fs::write(
        dir.join("rules.toml"),
        format!(
            r#"[[rules]]
id = "all-traffic"
owner = "ops"
vessels = "any"
areas = ["hauraki-gulf", "cook-strait"]
events = ["entered", "exited"]

[[rules]]
id = "gaps"
owner = "ops"
mmsi = [{mmsi}]
areas = ["hauraki-gulf", "cook-strait"]
events = ["gap_started", "gap_ended"]
gap_threshold = "15m"
"#,
            mmsi = mmsi.join(", ")
        ),
    )
    .unwrap();
}

/// A running `lookout run`, its ops address and its log (drained on a thread).
struct Instance {
    child: Child,
    ops: String,
    log: std::thread::JoinHandle<String>,
}

fn start(config: &Path) -> Instance {
    let mut child = lookout()
        .args(["--log-format", "json", "run", "--config"])
        .arg(config)
        .env("LOOKOUT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut ops = None;
    let mut head = String::new();
    let mut line = String::new();
    while ops.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(addr) = v["fields"]["ops"].as_str()
        {
            ops = Some(addr.to_owned());
        }
        head.push_str(&line);
        line.clear();
    }
    let ops = ops.unwrap_or_else(|| panic!("the instance did not start:\n{head}"));
    let log = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        head + &rest
    });
    Instance { child, ops, log }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
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

/// An own `nats-server -js`, or `None` (the test skips) when none is installed, unless
/// `LOOKOUT_REQUIRE_NATS=1`.
fn nats_server(runtime: &tokio::runtime::Runtime) -> Option<lookout_cluster::rig::NatsRig> {
    runtime.block_on(async {
        match lookout_cluster::rig::find_nats_server() {
            Some(_) => Some(lookout_cluster::rig::NatsRig::start().await.unwrap()),
            None => {
                assert!(
                    std::env::var("LOOKOUT_REQUIRE_NATS").as_deref() != Ok("1"),
                    "nats-server not found and LOOKOUT_REQUIRE_NATS=1"
                );
                eprintln!("skipped: nats-server not found (set LOOKOUT_REQUIRE_NATS=1 to fail)");
                None
            }
        }
    })
}

/// The value of the unlabelled metric `name` at the instance at `ops` (0 when absent).
fn metric_at(ops: &str, name: &str) -> u32 {
    let (_, text) = get(ops, "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u32)
}

/// Sum of `lookout_partitions_owned` over the instances.
fn owned(instances: &[&Instance]) -> u32 {
    instances
        .iter()
        .map(|i| metric_at(&i.ops, "lookout_partitions_owned"))
        .sum()
}

/// Outbox rows: `(dedupe_key, id, state)`.
fn outbox(url: &str) -> Vec<(String, String, String)> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let rows: Vec<(String, String, String)> =
                sqlx::query_as("SELECT dedupe_key, id, state FROM outbox ORDER BY dedupe_key")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
            let _ = conn.close().await;
            rows
        })
}

/// Whether the trackers committed the newest record of every partition of `stream` (the
/// recording is read whole by then: the feed's end is followed by seconds of quiet).
fn log_applied(url: &str, nats: &str, stream: &str) -> bool {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let Ok(client) =
                lookout_cluster::log::connect(nats, "cluster-test", Duration::from_secs(5)).await
            else {
                return false;
            };
            let config = lookout_cluster::log::LogConfig {
                stream: stream.to_owned(),
                subject_prefix: stream.to_lowercase(),
                partitions: PARTITIONS,
                ..lookout_cluster::log::LogConfig::default()
            };
            let Ok(log) = lookout_cluster::log::ObservationLog::open(client, config).await else {
                return false;
            };
            let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
                return false;
            };
            let applied: Vec<(i32, i64)> =
                sqlx::query_as("SELECT partition, last_applied_seq FROM partitions")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
            let _ = conn.close().await;
            for partition in 0..PARTITIONS {
                let Ok(last) = log.last_seq_of(partition).await else {
                    return false;
                };
                let committed = applied
                    .iter()
                    .find(|(p, _)| *p as u32 == partition)
                    .map_or(0, |(_, seq)| *seq as u64);
                if last.is_some_and(|last| committed < last) {
                    return false;
                }
            }
            true
        })
}

/// Waits until the trackers applied the whole log, every notification is delivered and the
/// count stayed put for 15 s (a loaded machine pauses longer than a few seconds).
fn settle(url: &str, nats: &str, stream: &str, within: Duration) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + within;
    let mut last = (usize::MAX, Instant::now());
    loop {
        let rows = outbox(url);
        let delivered = rows.iter().all(|(_, _, state)| state == "delivered");
        if rows.len() != last.0 {
            last = (rows.len(), Instant::now());
        }
        if !rows.is_empty()
            && delivered
            && last.1.elapsed() >= Duration::from_secs(15)
            && log_applied(url, nats, stream)
        {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not settle: {} rows, states {:?}",
            rows.len(),
            rows.iter().map(|r| r.2.as_str()).collect::<BTreeSet<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn stop(instance: Instance) -> String {
    sigterm(&instance.child);
    let mut child = instance.child;
    let status = child.wait().unwrap();
    let log = instance.log.join().unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    log
}

#[test]
fn three_instances_on_one_feed_with_a_kill_notify_exactly_what_one_does() {
    let Some(truth_db) = FreshPg::create() else {
        return;
    };
    let Some(cluster_db) = FreshPg::create() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(nats) = nats_server(&runtime) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.nmea");
    run_ok(
        lookout()
            .args(["simulate", "--vessels", &VESSELS.to_string()])
            .args(["--hours", "3", "--seed", "11", "--out"])
            .arg(&feed),
    );

    // Ground truth: one instance, never interrupted, its own database and stream.
    let truth_dir = dir.path().join("truth");
    std::fs::create_dir_all(&truth_dir).unwrap();
    write_config(&truth_dir, &feed, &truth_db.url, &nats.url(), "TRUTH");
    let truth = start(&truth_dir.join("lookout.toml"));
    let expected = settle(
        &truth_db.url,
        &nats.url(),
        "TRUTH",
        Duration::from_secs(180),
    );
    stop(truth);
    let expected_keys: BTreeSet<&str> = expected.iter().map(|r| r.0.as_str()).collect();
    assert!(
        expected.iter().any(|r| r.0.starts_with("gaps:")),
        "the recording produces gap notifications: {expected_keys:?}"
    );

    // Three instances on the same recording; the first is killed once it tracks partitions.
    let cluster_dir = dir.path().join("cluster");
    std::fs::create_dir_all(&cluster_dir).unwrap();
    write_config(&cluster_dir, &feed, &cluster_db.url, &nats.url(), "CLUSTER");
    let config = cluster_dir.join("lookout.toml");
    let mut instances: Vec<Instance> = (0..3).map(|_| start(&config)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned(&instances.iter().collect::<Vec<_>>()) < PARTITIONS {
        assert!(Instant::now() < deadline, "the partitions were not claimed");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut victim = instances.remove(0);
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let killed_at = Instant::now();
    let survivors: Vec<&Instance> = instances.iter().collect();
    while owned(&survivors) < PARTITIONS {
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "the killed instance's partitions were not taken over"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let failover = killed_at.elapsed();
    let (status, body) = get(&survivors[0].ops, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"partitions\":\"ok\""), "{body}");

    let got = settle(
        &cluster_db.url,
        &nats.url(),
        "CLUSTER",
        Duration::from_secs(180),
    );
    let got_keys: BTreeSet<&str> = got.iter().map(|r| r.0.as_str()).collect();
    let lost: Vec<&&str> = expected_keys.difference(&got_keys).collect();
    let spurious: Vec<&&str> = got_keys.difference(&expected_keys).collect();
    assert!(lost.is_empty(), "lost notifications: {lost:?}");
    assert!(spurious.is_empty(), "spurious notifications: {spurious:?}");
    let ids: BTreeSet<&str> = got.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "one id per notification");
    eprintln!(
        "cluster: {} notifications as the truth, failover after the kill {failover:?}",
        got.len()
    );
    for instance in instances {
        stop(instance);
    }
    drop(nats);
}

/// `lookout.toml` of one cluster instance reading a `tcp_server` feed (times from the data), with
/// one circle area "alpha" and a rule on it.
fn write_live_config(dir: &Path, store_url: &str, nats_url: &str, stream: &str, feed: &str) {
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "{store_url}"

[http]
listen = "127.0.0.1:0"

[cluster]
nats_url = "{nats_url}"
stream = "{stream}"
subject_prefix = "{prefix}"
partitions = 4
lease = "3s"

[[sources]]
kind = "tcp_server"
name = "feed"
listen = "{feed}"
clock = "data"

[[areas]]
kind = "circle"
id = "alpha"
name = "Alpha"
lat = -36.0
lon = 175.0
radius_nm = 10
"#,
            prefix = stream.to_lowercase(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.toml"),
        format!(
            r#"[[organisations]]
id = "acme"

[[users]]
id = "ops"
org = "acme"
email = "ops@example.com"
timezone = "UTC"
channels = [{{ kind = "maildir", path = "{maildir}" }}]
"#,
            maildir = dir.join("maildir").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        r#"[[rules]]
id = "alpha-entries"
owner = "ops"
vessels = "any"
areas = ["alpha"]
events = ["entered"]
"#,
    )
    .unwrap();
}

/// Two agreeing reports of `mmsi` at (`lat`, `lon`), stamped `t` and `t + 10 s`.
fn fixes(mmsi: u32, lat: f64, lon: f64, t: i64) -> String {
    let mut text = String::new();
    for (i, at) in [t, t + 10].into_iter().enumerate() {
        let report = ais::PositionReport::class_a(ais::Mmsi(mmsi), lat + i as f64 * 0.000_1, lon);
        let mut tag = ais::encode::TagBlockOptions::new();
        tag.unix_time = Some(at);
        let options = ais::encode::EncodeOptions::default().tag_block(tag);
        for line in ais::encode::encode(&ais::Message::Position(report), &options).unwrap() {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// Waits for `done`; on a timeout, stops `instance` and fails with its log.
fn wait_for(
    instance: &mut Option<Instance>,
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            let metrics = instance
                .as_ref()
                .map(|i| get(&i.ops, "/metrics").1)
                .unwrap_or_default();
            let metrics: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    !l.starts_with('#')
                        && (l.contains("tracker") || l.contains("obslog") || l.contains("events"))
                })
                .collect();
            let log = instance.take().map(stop).unwrap_or_default();
            panic!(
                "timed out waiting for {what}; metrics:\n{}\nthe instance's log:\n{log}",
                metrics.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issues 10 and 12: in a cluster, an area and a rule added to the store while running are
/// tracked without a restart, from the `Reconfigure` record the ingest leader publishes into
/// every partition, and a replay of the whole log from scratch switches at that same record:
/// a vessel that was inside the new area before the change does not "enter" it on the replay
/// (as it would if the replay ran under the newest areas from the start), and the replay gives
/// exactly the notifications of the live run.
#[test]
fn a_cluster_takes_an_area_added_while_running_at_a_recorded_position_of_the_log() {
    let Some(db) = FreshPg::create() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(nats) = nats_server(&runtime) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    write_live_config(dir.path(), &db.url, &nats.url(), "LIVEAREAS", &feed);
    let config = dir.path().join("lookout.toml");
    let mut instance = Some(start(&config));
    let ops = instance.as_ref().map(|i| i.ops.clone()).unwrap_or_default();
    wait_for(
        &mut instance,
        "the partitions",
        Duration::from_secs(30),
        || metric_at(&ops, "lookout_partitions_owned") == 4,
    );
    wait_for(
        &mut instance,
        "the first configuration",
        Duration::from_secs(30),
        || metric_at(&ops, "lookout_tracker_specs_published_total") >= 1,
    );
    // One connection for the whole feed: the order of reports is the order sent.
    let stream = std::cell::RefCell::new(std::net::TcpStream::connect(&feed).unwrap());
    let send = |text: &str| {
        use std::io::Write;
        stream.borrow_mut().write_all(text.as_bytes()).unwrap();
    };
    let t0 = 1_765_000_000;
    let keys = || -> BTreeSet<String> { outbox(&db.url).into_iter().map(|r| r.0).collect() };

    // Vessel 1 enters alpha (a rule from the files), then sits where "beta" will be.
    send(&fixes(512_900_101, -36.0, 175.0, t0));
    // Ten hours later (30 knots), where "beta" will be.
    send(&fixes(512_900_101, -41.0, 174.8, t0 + 36_000));
    wait_for(
        &mut instance,
        "alpha's entry",
        Duration::from_secs(30),
        || keys().iter().any(|k| k.starts_with("alpha-entries:")),
    );

    // While running: area beta and a rule on it, through the store.
    runtime.block_on(async {
        let store = lookout_store::Store::connect(&db.url).await.unwrap();
        let audit = lookout_store::model::Audit::new("test", "test", "test");
        store
            .put_area(
                &lookout_store::model::Area {
                    id: "beta".into(),
                    org_id: "acme".into(),
                    name: "Beta".into(),
                    definition: serde_json::json!({ "kind": "circle", "lat": -41.0, "lon": 174.8, "radius_nm": 10 }),
                },
                &audit,
            )
            .await
            .unwrap();
        store
            .put_rule(
                &lookout_store::model::Rule {
                    id: "beta-entries".into(),
                    org_id: "acme".into(),
                    owner: "ops".into(),
                    enabled: true,
                    definition: serde_json::json!({ "owner": "ops", "vessels": "any", "areas": ["beta"], "events": ["entered"] }),
                },
                &audit,
            )
            .await
            .unwrap();
        store.close().await;
    });
    wait_for(
        &mut instance,
        "the new configuration in the log",
        Duration::from_secs(30),
        || metric_at(&ops, "lookout_tracker_specs_published_total") >= 2,
    );
    // Vessel 2 enters beta after the change: tracked without a restart.
    send(&fixes(512_900_102, -41.0, 174.8, t0 + 40_000));
    wait_for(
        &mut instance,
        "beta's entry",
        Duration::from_secs(30),
        || {
            keys()
                .iter()
                .any(|k| k.starts_with("beta-entries:maildir:512900102:"))
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let live = keys();
    assert!(
        !live
            .iter()
            .any(|k| k.starts_with("beta-entries:maildir:512900101:")),
        "vessel 1 reported inside beta only before beta existed: {live:?}"
    );
    if let Some(instance) = instance.take() {
        stop(instance);
    }

    // Replay the whole log from scratch: no checkpoint, no outbox, every partition at seq 0.
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for sql in [
            "DELETE FROM partition_checkpoints",
            "DELETE FROM partition_tracker_specs",
            "DELETE FROM outbox",
            "DELETE FROM events",
            "UPDATE partitions SET last_applied_seq = 0",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        let _ = conn.close().await;
    });
    let mut replay = Some(start(&config));
    wait_for(&mut replay, "the replay", Duration::from_secs(60), || {
        keys().len() >= live.len()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        keys(),
        live,
        "the replay switches at the same record as the live run"
    );
    if let Some(replay) = replay.take() {
        stop(replay);
    }
    drop(nats);
}
