//! The pieces of the chaos run: databases, the webhook receiver, the traffic, the instances and
//! their monitor, and waiting for the outbox to settle.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use lookout_feed::simulate::{self, ServeConfig, SimConfig};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::Args;
use super::report::{Delivery, Row};

/// Creates database `name` on the server of `admin` and returns its URL.
pub(super) async fn create_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .context("cannot connect to the chaos PostgreSQL")?;
    // `name` is one of this module's literals.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot create database {name}"))?;
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// How the receiver answers `/chaos` (`/truth` always succeeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// 204.
    Ok,
    /// 503 at once.
    Fail,
    /// No answer until the period ends, then 503.
    Hang,
}

#[derive(Debug, Default)]
struct Recorded {
    deliveries: Vec<(String, Delivery)>,
}

/// The webhook receiver: records every delivery it answered 2xx, by path.
#[derive(Debug, Clone)]
pub(super) struct Receiver {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    recorded: Arc<Mutex<Recorded>>,
}

impl Receiver {
    /// Binds on loopback and serves until the process ends.
    pub(super) async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the chaos webhook receiver")?;
        let receiver = Receiver {
            addr: listener.local_addr().context("receiver address")?,
            mode: Arc::new(AtomicU8::new(0)),
            recorded: Arc::default(),
        };
        let app = Router::new()
            .route("/{path}", post(receive))
            .with_state(receiver.clone());
        let _server = sentinel::spawn(
            "chaos/receiver",
            sentinel::http::serve(listener, app, sentinel::CancellationToken::new()),
        );
        Ok(receiver)
    }

    /// `http://127.0.0.1:<port>`.
    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches how `/chaos` answers.
    pub(super) fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::Fail,
            2 => Mode::Hang,
            _ => Mode::Ok,
        }
    }

    /// The deliveries to `/<path>` answered 2xx.
    pub(super) fn deliveries(&self, path: &str) -> Vec<Delivery> {
        let recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        recorded
            .deliveries
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

async fn receive(
    State(rx): State<Receiver>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> StatusCode {
    if path == "chaos" {
        match rx.mode() {
            Mode::Ok => {}
            Mode::Fail => return StatusCode::SERVICE_UNAVAILABLE,
            Mode::Hang => {
                while rx.mode() == Mode::Hang {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    }
    let id = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let at_ms = jiff::Timestamp::now().as_millisecond();
    rx.recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .deliveries
        .push((path, Delivery { id, at_ms }));
    StatusCode::NO_CONTENT
}

/// The simulator on a TCP port, started by its first reader.
pub(super) struct Traffic {
    /// Where it listens.
    pub(super) addr: SocketAddr,
    handle: sentinel::TaskHandle<lookout_feed::simulate::SimSummary>,
}

impl Traffic {
    /// `rate` simulated seconds per second (0: as fast as the readers read).
    pub(super) async fn start(
        args: &Args,
        rate: f64,
        token: sentinel::CancellationToken,
    ) -> anyhow::Result<Traffic> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the simulator")?;
        let addr = listener.local_addr().context("simulator address")?;
        let sim = SimConfig {
            vessels: args.vessels,
            hours: args.hours,
            seed: args.seed,
            ..SimConfig::default()
        };
        let serve = ServeConfig {
            rate,
            wait_for_client: true,
            live_start: false,
            max_clients: 16,
            // Waits for its slowest reader (a NATS restart pauses every instance's ingest).
            write_timeout: Duration::from_secs(120),
        };
        let handle = sentinel::spawn("chaos/simulator", async move {
            simulate::serve_tcp(listener, &sim, &serve, token).await
        });
        Ok(Traffic { addr, handle })
    }

    /// Waits until the simulation has been served.
    pub(super) async fn finished(self) {
        match self.handle.await {
            Ok(summary) => tracing::info!("chaos: traffic served: {summary:?}"),
            Err(error) => tracing::error!("chaos: the simulator failed: {error}"),
        }
    }
}

/// What one run's configuration needs.
pub(super) struct Scenario<'a> {
    pub(super) store: &'a str,
    pub(super) nats: &'a str,
    pub(super) stream: &'a str,
    pub(super) partitions: u32,
    pub(super) feed: SocketAddr,
    pub(super) webhook: &'a str,
    pub(super) vessels: usize,
}

/// Writes `lookout.toml`, users, rules and areas into `dir`; returns the main file.
pub(super) fn write_config(dir: &Path, s: &Scenario<'_>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (name, areas) = crate::commands::demo::embedded::AREAS[0];
    let write = |file: &str, text: &str| {
        std::fs::write(dir.join(file), text)
            .with_context(|| format!("cannot write {}", dir.join(file).display()))
    };
    write(name, areas)?;
    write(
        "lookout.toml",
        &format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "{store}"

[http]
listen = "127.0.0.1:0"

[cluster]
nats_url = "{nats}"
stream = "{stream}"
subject_prefix = "{prefix}"
partitions = {partitions}

[[sources]]
kind = "tcp_client"
name = "simulator"
clock = "data"
addr = "{feed}"
dial_timeout = "2s"

[[areas]]
kind = "geojson"
path = "{name}"

[webhooks.chaos]
url = "{webhook}"
secret_env = "LOOKOUT_CHAOS_WEBHOOK_SECRET"

[http_client]
connect_timeout = "2s"
total_timeout = "3s"

[dispatcher]
lease = "10s"
poll_interval = "1s"
max_attempts = 1000
backoff_base = "1s"
backoff_max = "5s"
"#,
            store = s.store,
            nats = s.nats,
            stream = s.stream,
            prefix = s.stream.to_lowercase(),
            partitions = s.partitions,
            feed = s.feed,
            webhook = s.webhook,
        ),
    )?;
    write(
        "users.toml",
        r#"[[organisations]]
id = "chaos"
name = "Chaos"

[[users]]
id = "watch"
org = "chaos"
name = "Watch"
email = "watch@example.com"
timezone = "Pacific/Auckland"
channels = [{ kind = "webhook", endpoint = "chaos" }]
"#,
    )?;
    let mmsi: Vec<String> = (1..=s.vessels.min(999))
        .map(|n| (512_900_000 + n).to_string())
        .collect();
    write(
        "rules.toml",
        &format!(
            r#"[[rules]]
id = "traffic"
owner = "watch"
vessels = "any"
areas = ["hauraki-gulf", "cook-strait"]
events = ["entered", "exited"]

[[rules]]
id = "gaps"
owner = "watch"
mmsi = [{mmsi}]
areas = ["hauraki-gulf", "cook-strait"]
events = ["gap_started", "gap_ended"]
gap_threshold = "30m"
"#,
            mmsi = mmsi.join(", ")
        ),
    )?;
    Ok(dir.join("lookout.toml"))
}

/// The secret every chaos webhook is signed with (the receiver does not check it).
const SECRET: &str = "lookout-chaos-secret";

struct Slot {
    child: tokio::process::Child,
}

/// The running instances, their ops addresses shared with the monitor.
pub(super) struct Fleet {
    config: PathBuf,
    dir: PathBuf,
    slots: Vec<Slot>,
    ops: Arc<Mutex<Vec<Option<String>>>>,
    generation: usize,
}

impl Fleet {
    /// Starts `n` instances of `config`, logs into `dir/inst-<i>.log`.
    pub(super) async fn start(config: &Path, n: usize, dir: &Path) -> anyhow::Result<Fleet> {
        let mut fleet = Fleet {
            config: config.to_path_buf(),
            dir: dir.to_path_buf(),
            slots: Vec::new(),
            ops: Arc::new(Mutex::new(vec![None; n])),
            generation: 0,
        };
        for i in 0..n {
            let (child, ops) = fleet.spawn(i).await?;
            fleet.slots.push(Slot { child });
            fleet.set_ops(i, Some(ops));
        }
        Ok(fleet)
    }

    fn set_ops(&self, i: usize, ops: Option<String>) {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)[i] = ops;
    }

    async fn spawn(&mut self, i: usize) -> anyhow::Result<(tokio::process::Child, String)> {
        self.generation += 1;
        let exe = std::env::current_exe().context("cannot find the lookout binary")?;
        let mut child = tokio::process::Command::new(exe)
            .args(["--log-format", "json", "run", "--config"])
            .arg(&self.config)
            .env("LOOKOUT_LOG", "info")
            // The owner ids start with it: the monitor tells the instances apart.
            .env("HOSTNAME", format!("inst{i}"))
            .env("LOOKOUT_CHAOS_WEBHOOK_SECRET", SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start an instance")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut lines = BufReader::new(stderr).lines();
        let log_path = self.dir.join(format!("inst-{i}.log"));
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .await
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let ops = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .context("an instance did not start within 60 s")?
                .context("cannot read an instance's log")?
                .with_context(|| {
                    format!("an instance exited at start; see {}", log_path.display())
                })?;
            let _ = log.write_all(format!("{line}\n").as_bytes()).await;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(ops) = v["fields"]["ops"].as_str()
            {
                break ops.to_owned();
            }
        };
        let _copy = sentinel::spawn("chaos/instance-log", async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = log.write_all(format!("{line}\n").as_bytes()).await;
            }
            Ok::<(), std::convert::Infallible>(())
        });
        Ok((child, ops))
    }

    /// SIGKILLs instance `i` and starts it again at once.
    pub(super) async fn kill_and_restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.set_ops(i, None);
        let slot = &mut self.slots[i];
        let _ = slot.child.start_kill();
        let _ = slot.child.wait().await;
        tracing::info!("chaos: killed instance {i}");
        let (child, ops) = self.spawn(i).await?;
        self.slots[i] = Slot { child };
        self.set_ops(i, Some(ops));
        Ok(())
    }

    /// Samples the partition leases in `db` every 250 ms: which owner holds each partition
    /// with a live lease (on the database clock). Instances are started with the host name
    /// `inst<i>`, so an owner id tells its slot.
    pub(super) fn monitor(db: &str) -> Monitor {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (url, out) = (db.to_owned(), Arc::clone(&samples));
        let _task = sentinel::spawn("chaos/monitor", async move {
            let mut conn: Option<sqlx::PgConnection> = None;
            loop {
                let leases = read_leases(&url, &mut conn).await;
                out.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((Instant::now(), leases));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            #[allow(unreachable_code)]
            Ok::<(), std::convert::Infallible>(())
        });
        Monitor { samples }
    }

    /// SIGTERM to every instance, then SIGKILL after 20 s.
    pub(super) async fn stop(&mut self) {
        for slot in &self.slots {
            if let Some(pid) = slot.child.id() {
                let _ = tokio::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        for slot in &mut self.slots {
            if tokio::time::timeout(Duration::from_secs(20), slot.child.wait())
                .await
                .is_err()
            {
                let _ = slot.child.start_kill();
                let _ = slot.child.wait().await;
            }
        }
    }
}

/// One sample: when, and the live leases (partition, owner), `None` when the database did not
/// answer (it counts as nothing owned).
type Sample = (Instant, Option<Vec<(i32, String)>>);

/// The live leases, reconnecting when needed (2 s bound).
async fn read_leases(
    url: &str,
    conn: &mut Option<sqlx::PgConnection>,
) -> Option<Vec<(i32, String)>> {
    let read = async {
        if conn.is_none() {
            *conn = Some(sqlx::PgConnection::connect(url).await.ok()?);
        }
        let c = conn.as_mut()?;
        sqlx::query_as::<_, (i32, String)>(
            "SELECT partition, owner FROM partitions \
             WHERE owner IS NOT NULL AND lease_expires_at > now()",
        )
        .fetch_all(c)
        .await
        .ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), read).await {
        Ok(Some(leases)) => Some(leases),
        _ => {
            *conn = None;
            None
        }
    }
}

/// What the monitor saw.
pub(super) struct Monitor {
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Monitor {
    /// For each kill (when, victim's slot): the time from the kill to the first sample in which
    /// every partition the victim held (a live lease of an owner `inst<victim>-…`) is held by
    /// another owner (0 when the victim held none). A later kill delays it only when it hits
    /// the partition's new owner before the takeover, as it would in production.
    pub(super) fn failovers(&self, kills: &[(Instant, usize)]) -> Vec<f64> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        kills
            .iter()
            .map(|(kill, victim)| failover(&samples, *kill, *victim))
            .filter(|s| !s.is_nan())
            .collect()
    }
}

fn failover(samples: &[Sample], kill: Instant, victim: usize) -> f64 {
    let prefix = format!("inst{victim}-");
    let Some(held) = samples
        .iter()
        .rev()
        .filter(|(t, _)| *t <= kill)
        .find_map(|(_, leases)| leases.as_ref())
        .map(|leases| {
            leases
                .iter()
                .filter(|(_, owner)| owner.starts_with(&prefix))
                .cloned()
                .collect::<Vec<_>>()
        })
    else {
        return f64::NAN;
    };
    if held.is_empty() {
        return 0.0;
    }
    for (t, leases) in samples.iter().filter(|(t, _)| *t > kill) {
        let Some(leases) = leases else { continue };
        let taken_over = held.iter().all(|(partition, old)| {
            leases
                .iter()
                .any(|(p, owner)| p == partition && owner != old)
        });
        if taken_over {
            return t.duration_since(kill).as_secs_f64();
        }
    }
    f64::NAN
}

/// Waits until every notification of `store` is delivered and their number stayed put for
/// 5 s; returns them.
/// What a phase's instances consume: their stream, for [`settle`] to check they read it all.
#[derive(Debug, Clone)]
pub(super) struct LogAt<'a> {
    /// The NATS URL.
    pub(super) nats: &'a str,
    /// The stream name (its subject prefix is the lower-cased name, as [`write_config`] writes).
    pub(super) stream: &'a str,
    /// Partitions of the stream.
    pub(super) partitions: u32,
}

/// Waits until `log` stopped growing and the trackers committed the last record of every
/// partition, then until
/// every notification is delivered and the outbox stayed put for 5 s (or `within` passed:
/// reported as is). Without the first condition a phase could be cut short while its trackers
/// were still behind on the log, and the events they had yet to commit would count as missing.
pub(super) async fn settle(
    store: &str,
    log: &LogAt<'_>,
    receiver: &Receiver,
    path: &str,
    within: Duration,
) -> anyhow::Result<Vec<Row>> {
    let deadline = Instant::now() + within;
    let observation_log = open_log(log).await?;
    // The log must also have stopped growing (ingest may still hold what the feed sent).
    let mut grew = (u64::MAX, Instant::now());
    loop {
        let last_seq = observation_log.last_seq().await.unwrap_or(u64::MAX);
        if last_seq != grew.0 {
            grew = (last_seq, Instant::now());
        }
        if grew.1.elapsed() >= Duration::from_secs(3)
            && log_applied(store, &observation_log, log.partitions).await
        {
            break;
        }
        if Instant::now() > deadline {
            tracing::info!(
                "chaos: {path}: the trackers did not catch up with the log within {within:?}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut last = (usize::MAX, Instant::now());
    loop {
        let rows = outbox(store).await;
        if let Ok((rows, undelivered)) = rows {
            if rows.len() != last.0 {
                last = (rows.len(), Instant::now());
            }
            if !rows.is_empty() && undelivered == 0 && last.1.elapsed() >= Duration::from_secs(5) {
                return Ok(rows);
            }
            if Instant::now() > deadline {
                tracing::info!(
                    "chaos: {path}: {} notifications, {undelivered} not delivered after {within:?}; reporting as is \
                     ({} deliveries received)",
                    rows.len(),
                    receiver.deliveries(path).len()
                );
                return Ok(rows);
            }
        } else if Instant::now() > deadline {
            anyhow::bail!("cannot read the {path} outbox");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn open_log(log: &LogAt<'_>) -> anyhow::Result<lookout_cluster::log::ObservationLog> {
    let client = lookout_cluster::log::connect(log.nats, "lookout-chaos", Duration::from_secs(5))
        .await
        .context("cannot connect to the chaos nats-server")?;
    let config = lookout_cluster::log::LogConfig {
        stream: log.stream.to_owned(),
        subject_prefix: log.stream.to_lowercase(),
        partitions: log.partitions,
        ..lookout_cluster::log::LogConfig::default()
    };
    lookout_cluster::log::ObservationLog::open(client, config)
        .await
        .context("cannot open the chaos stream")
}

/// Whether every partition's committed `last_applied_seq` reached the partition's newest record.
async fn log_applied(
    store: &str,
    log: &lookout_cluster::log::ObservationLog,
    partitions: u32,
) -> bool {
    let Ok(mut conn) = sqlx::PgConnection::connect(store).await else {
        return false;
    };
    let applied: Result<Vec<(i32, i64)>, _> =
        sqlx::query_as("SELECT partition, last_applied_seq FROM partitions")
            .fetch_all(&mut conn)
            .await;
    let _ = conn.close().await;
    let Ok(applied) = applied else {
        return false;
    };
    for partition in 0..partitions {
        let Ok(last) = log.last_seq_of(partition).await else {
            return false;
        };
        let Some(last) = last else { continue };
        let committed = applied
            .iter()
            .find(|(p, _)| u32::try_from(*p).ok() == Some(partition))
            .map_or(0, |(_, seq)| u64::try_from(*seq).unwrap_or(0));
        if committed < last {
            return false;
        }
    }
    true
}

async fn outbox(url: &str) -> anyhow::Result<(Vec<Row>, usize)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let rows: Vec<(String, String, i64, String)> =
        sqlx::query_as("SELECT dedupe_key, id, created_at, state FROM outbox")
            .fetch_all(&mut conn)
            .await?;
    let _ = conn.close().await;
    let undelivered = rows.iter().filter(|r| r.3 != "delivered").count();
    Ok((
        rows.into_iter()
            .map(|(key, id, created_ms, _)| Row {
                key,
                id,
                created_ms,
            })
            .collect(),
        undelivered,
    ))
}
