//! Delivery and ingest throughput, measured against a baseline in the same run.
//!
//! `cargo bench -p lookout-store --bench delivery` (release). For SQLite (temp file) and
//! PostgreSQL (`LOOKOUT_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, a
//! fresh database; skipped when unreachable):
//!
//! 1. ingest: `Store::commit` of `LOOKOUT_BENCH_N` (50,000) notifications, 5,000 per call;
//! 2. delivery: the Lookout dispatcher (defaults) POSTs every one through the real webhook
//!    channel (`lookout-notify`'s `HttpChannel`: HMAC, keep-alive) to a loopback HTTP receiver;
//! 3. baseline: the same rows reset to `pending` and delivered by a plain claim loop (8 claimers
//!    × batch 50, `FOR UPDATE SKIP LOCKED` on PostgreSQL; no leases, no retries, no fencing),
//!    same channel, same receiver.
//!
//!    On PostgreSQL also apalis 1.0 + apalis-postgres, tuned as in issue 9 (2 workers × 64 in
//!    flight, fetches of 1,000): the same work per job (one signed POST through the same channel
//!    to the same receiver), its jobs enqueued with its own bulk push (timed apart).
//!
//! 4. latency: 2,000 notifications/s for 2 s to a healthy endpoint, committed 20 every 10 ms,
//!    p50/p99 from commit to receipt; then the same with a second endpoint that never answers
//!    and has 1,000 notifications queued ahead.
//!
//! Prints deliveries/s of both and the ratio. Timing lives here, never in tests.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lookout_core::{
    ChannelKind, Deliver, Delivery, DigestBatch, Event, EventKind, NewNotification, Notification,
    SendError,
};
use lookout_notify::channels::{HttpChannel, HttpSettings, Trust};
use lookout_store::{Dispatcher, DispatcherConfig, Store};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Arrival time of each notification id (latency phase).
type Arrivals = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// A receiver that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hangs", listener.local_addr().unwrap());
    drop(sentinel::spawn("bench-black-hole", async move {
        loop {
            let (mut socket, _) = listener.accept().await?;
            drop(sentinel::spawn("bench-black-hole-connection", async move {
                let mut sink = vec![0u8; 4096];
                while socket.read(&mut sink).await? > 0 {}
                Ok::<(), std::io::Error>(())
            }));
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    }));
    url
}

/// A keep-alive HTTP/1.1 receiver that answers 200 to every POST and counts them.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let (url, count, _) = receiver_with_arrivals().await;
    (url, count)
}

/// [`receiver`], also recording when each notification id arrived.
async fn receiver_with_arrivals() -> (String, Arc<AtomicUsize>, Arrivals) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    drop(sentinel::spawn("bench-receiver", async move {
        loop {
            let (socket, _) = listener.accept().await?;
            let counter = Arc::clone(&counter);
            let seen = Arc::clone(&seen);
            drop(sentinel::spawn("bench-connection", async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                let mut line = String::new();
                loop {
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await? == 0 {
                            return Ok::<(), std::io::Error>(());
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
                    read.read_exact(&mut body).await?;
                    counter.fetch_add(1, Ordering::Relaxed);
                    let text = String::from_utf8_lossy(&body);
                    if let Some(rest) = text.strip_prefix("{\"id\":\"")
                        && let Some((id, _)) = rest.split_once('"')
                        && let Ok(mut seen) = seen.lock()
                    {
                        seen.insert(id.to_owned(), Instant::now());
                    }
                    write
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await?;
                }
            }));
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    }));
    (url, count, arrivals)
}

/// The real webhook channel.
struct Webhook {
    http: HttpChannel,
}

impl Deliver for Webhook {
    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        let body = format!("{{\"id\":\"{}\",\"mmsi\":{}}}", n.id, n.new.event.mmsi);
        self.http
            .send_webhook(
                &n.new.destination,
                Some(b"secret"),
                &n.id,
                body,
                Trust::Operator,
            )
            .await
    }

    async fn deliver_digest(&self, _: &DigestBatch) -> Result<(), SendError> {
        Ok(())
    }
}

fn notes(n: usize, url: &str) -> Vec<NewNotification> {
    notes_keyed(n, url, "bench")
}

fn notes_keyed(n: usize, url: &str, key: &str) -> Vec<NewNotification> {
    let at: jiff::Timestamp = "2025-06-01T00:00:00Z".parse().unwrap();
    (0..n)
        .map(|i| {
            let event = Event {
                kind: EventKind::Entered,
                mmsi: 200_000_000 + i as u32,
                vessel_name: Some("BENCH".into()),
                area_id: "nz".into(),
                area_name: "NZ".into(),
                at,
                lat: -41.0,
                lon: 174.0,
                last_seen: None,
                gap_seconds: None,
                threshold_seconds: None,
            };
            NewNotification {
                silence_id: None,
                dedupe_key: format!("{key}:{i}"),
                org_id: "org".into(),
                user_id: "u".into(),
                rule_id: "r".into(),
                channel: ChannelKind::Webhook,
                destination: url.into(),
                delivery: Delivery::Realtime,
                event,
            }
        })
        .collect()
}

async fn wait_count(count: &AtomicUsize, target: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// The baseline: 8 claimers × batch 50, claim, POST the batch concurrently, mark delivered.
async fn baseline(url: &str, postgres: bool, http: Arc<HttpChannel>, n: usize) -> Duration {
    let claim = if postgres {
        "UPDATE outbox SET state = 'leased' WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' \
         ORDER BY available_at LIMIT 50 FOR UPDATE SKIP LOCKED) RETURNING id, destination"
    } else {
        "UPDATE outbox SET state = 'leased' WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' \
         ORDER BY available_at LIMIT 50) RETURNING id, destination"
    };
    let done = Arc::new(AtomicUsize::new(0));
    // One claimer failing (rows left leased) would leave the others waiting forever.
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let mut claimers = Vec::new();
    for _ in 0..8 {
        let (url, http, done) = (url.to_owned(), Arc::clone(&http), Arc::clone(&done));
        let failed = Arc::clone(&failed);
        let stop = Arc::clone(&failed);
        claimers.push(sentinel::spawn("bench-claimer", async move {
            let result = async move {
                macro_rules! claimer {
                ($conn:expr, $c:ident, $ids:ident, $mark:block) => {{
                    let mut $c = $conn;
                    while done.load(Ordering::Relaxed) < n && !stop.load(Ordering::Relaxed) {
                        let rows: Vec<(String, String)> =
                            sqlx::query_as(claim).fetch_all(&mut $c).await?;
                        if rows.is_empty() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        let sends = rows.iter().map(|(id, dest)| {
                            http.send_webhook(dest, Some(b"secret"), id, format!("{{\"id\":\"{id}\"}}"), Trust::Operator)
                        });
                        for r in futures::future::join_all(sends).await {
                            r.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                        }
                        let $ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
                        $mark
                        done.fetch_add($ids.len(), Ordering::Relaxed);
                    }
                }};
            }
                if postgres {
                    claimer!(sqlx::PgConnection::connect(&url).await?, conn, ids, {
                        sqlx::query("UPDATE outbox SET state = 'delivered' WHERE id = ANY($1)")
                            .bind(&ids)
                            .execute(&mut conn)
                            .await?;
                    });
                } else {
                    // A writer waits for the lock instead of failing with SQLITE_BUSY.
                    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
                        .busy_timeout(Duration::from_secs(30));
                    claimer!(sqlx::ConnectOptions::connect(&options).await?, conn, ids, {
                        let marks = vec!["?"; ids.len()].join(",");
                        let sql =
                            format!("UPDATE outbox SET state = 'delivered' WHERE id IN ({marks})");
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for id in &ids {
                            q = q.bind(id.as_str());
                        }
                        q.execute(&mut conn).await?;
                    });
                }
                Ok::<(), sqlx::Error>(())
            }
            .await;
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            result
        }));
    }
    for c in claimers {
        c.await.unwrap();
    }
    started.elapsed()
}

async fn bench(name: &str, url: &str, postgres: bool, n: usize) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let (hook, count) = receiver().await;
    let rows = notes(n, &hook);

    let started = Instant::now();
    for chunk in rows.chunks(5000) {
        store.commit(&[], chunk, &[]).await.unwrap();
    }
    let ingest = started.elapsed();
    println!(
        "{name}: ingest  Store::commit {n} notifications (5,000 per call): {:>8.0}/s ({ingest:.2?})",
        n as f64 / ingest.as_secs_f64()
    );

    let http = HttpSettings::default();
    let channel = Arc::new(Webhook {
        http: HttpChannel::new(http).unwrap(),
    });
    let dispatcher = Dispatcher::new(store.clone(), channel, DispatcherConfig::default());
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let run = dispatcher.run(cancel.clone());
    let watch = async {
        let ok = wait_count(&count, n, Duration::from_secs(600)).await;
        let elapsed = started.elapsed();
        cancel.cancel();
        (ok, elapsed)
    };
    let (result, (ok, lookout)) = tokio::join!(run, watch);
    result.unwrap();
    assert!(
        ok,
        "lookout delivered only {}",
        count.load(Ordering::Relaxed)
    );
    let delivered = store.count_by_state().await.unwrap();
    let lookout_rate = n as f64 / lookout.as_secs_f64();
    println!(
        "{name}: lookout dispatcher (defaults), {n} webhooks: {lookout_rate:>8.0}/s ({lookout:.2?}); states {delivered:?}"
    );

    // Same rows, reset, through the plain claim loop.
    reset(url, postgres).await;
    let before = count.load(Ordering::Relaxed);
    let base = baseline(url, postgres, Arc::new(HttpChannel::new(http).unwrap()), n).await;
    assert!(count.load(Ordering::Relaxed) - before >= n);
    let base_rate = n as f64 / base.as_secs_f64();
    println!(
        "{name}: baseline claim loop (8 x 50{}), {n} webhooks: {base_rate:>8.0}/s ({base:.2?})",
        if postgres { ", SKIP LOCKED" } else { "" }
    );
    println!(
        "{name}: ratio lookout / baseline = {:.2}",
        lookout_rate / base_rate
    );
    if postgres {
        let (enqueue, took) = apalis_baseline(
            url,
            Arc::new(HttpChannel::new(http).unwrap()),
            &hook,
            &count,
            n,
        )
        .await;
        let apalis_rate = n as f64 / took.as_secs_f64();
        println!(
            "{name}: apalis 1.0 (2 workers x 64, batch 1,000), {n} webhooks: {apalis_rate:>8.0}/s ({took:.2?}; enqueue {:.0}/s)",
            n as f64 / enqueue.as_secs_f64()
        );
        println!(
            "{name}: ratio lookout / apalis = {:.2}",
            lookout_rate / apalis_rate
        );
    }
    for hanging in [false, true] {
        latency(name, &store, hanging).await;
    }
    store.close().await;
}

/// One apalis job: a notification to POST.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ApalisJob {
    id: String,
    url: String,
}

/// The apalis handler: the same signed POST as the other contenders.
async fn apalis_deliver(
    job: ApalisJob,
    http: apalis::prelude::Data<Arc<HttpChannel>>,
) -> Result<(), apalis::prelude::BoxDynError> {
    let body = format!("{{\"id\":\"{}\",\"mmsi\":1}}", job.id);
    http.send_webhook(&job.url, Some(b"secret"), &job.id, body, Trust::Operator)
        .await
        .map_err(|e| e.to_string().into())
}

/// apalis 1.0 on the same database, tuned as in issue 9: `(enqueue time, delivery time)`, the
/// delivery timed from the workers' start until the receiver counted `n` more POSTs.
async fn apalis_baseline(
    url: &str,
    http: Arc<HttpChannel>,
    hook: &str,
    count: &AtomicUsize,
    n: usize,
) -> (Duration, Duration) {
    use apalis::prelude::*;
    use apalis_postgres::{Config, PostgresStorage};
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    PostgresStorage::setup(&pool).await.unwrap();
    let config = Config::default().queue("bench").batch_size(1000);
    let mut storage = PostgresStorage::new(&pool).with_config(config);
    let jobs: Vec<ApalisJob> = (0..n)
        .map(|i| ApalisJob {
            id: format!("apalis-{i}"),
            url: hook.to_owned(),
        })
        .collect();
    let started = Instant::now();
    for chunk in jobs.chunks(5000) {
        storage.push_bulk(chunk.to_vec()).await.unwrap();
    }
    let enqueue = started.elapsed();
    let before = count.load(Ordering::Relaxed);
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let worker = WorkerBuilder::new(format!("bench-{w}"))
                .backend(storage.clone())
                .data(Arc::clone(&http))
                .concurrency(64)
                .build(apalis_deliver);
            sentinel::spawn("bench-apalis-worker", async move {
                worker
                    .run()
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
        })
        .collect();
    let ok = wait_count(count, before + n, Duration::from_secs(600)).await;
    let took = started.elapsed();
    for worker in workers {
        worker.abort();
    }
    assert!(
        ok,
        "apalis delivered only {}",
        count.load(Ordering::Relaxed) - before
    );
    pool.close().await;
    (enqueue, took)
}

/// 2,000/s for 2 s to a healthy endpoint (and, if `hanging`, 1,000 queued first for one that
/// never answers): p50/p99 from commit to receipt.
async fn latency(name: &str, store: &Store, hanging: bool) {
    let (hook, _, arrivals) = receiver_with_arrivals().await;
    let tag = if hanging { "lat-hang" } else { "lat" };
    if hanging {
        let hole = black_hole().await;
        store
            .commit(&[], &notes_keyed(1000, &hole, "hole"), &[])
            .await
            .unwrap();
    }
    let http = HttpSettings {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
    };
    let channel = Arc::new(Webhook {
        http: HttpChannel::new(http).unwrap(),
    });
    let dispatcher = Dispatcher::new(store.clone(), channel, DispatcherConfig::default());
    let cancel = CancellationToken::new();
    let all = notes_keyed(4000, &hook, tag);
    let committed: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let feed = async {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for chunk in all.chunks(20) {
            tick.tick().await;
            store.commit(&[], chunk, &[]).await.unwrap();
            let at = Instant::now();
            committed
                .lock()
                .unwrap()
                .extend(std::iter::repeat_n(at, chunk.len()));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while arrivals.lock().unwrap().len() < all.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(dispatcher.run(cancel.clone()), feed);
    result.unwrap();
    // Ids are per-store UUIDs: map each committed notification to its id through the store.
    let stored = store.list_notifications().await.unwrap();
    let committed = committed.lock().unwrap().clone();
    let arrivals = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = stored
        .iter()
        .filter(|(n, _)| n.new.dedupe_key.starts_with(&format!("{tag}:")))
        .filter_map(|(n, _)| {
            let i: usize = n.new.dedupe_key.rsplit(':').next()?.parse().ok()?;
            let at = arrivals.get(&n.id)?;
            Some(at.saturating_duration_since(*committed.get(i)?))
        })
        .collect();
    latencies.sort();
    if latencies.is_empty() {
        println!("{name}: latency: nothing arrived");
        return;
    }
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{name}: healthy endpoint at 2,000/s{}: {} received, p50 {:.1?}, p99 {:.1?}",
        if hanging {
            ", beside one that never answers (1,000 queued)"
        } else {
            ""
        },
        latencies.len(),
        pct(50),
        pct(99)
    );
}

async fn reset(url: &str, postgres: bool) {
    let sql = "UPDATE outbox SET state = 'pending', attempt = 0, lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL";
    if postgres {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
        sqlx::query("VACUUM ANALYZE outbox")
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

fn main() {
    let n: usize = std::env::var("LOOKOUT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        bench("sqlite", &sqlite, false, n).await;

        let admin = std::env::var("LOOKOUT_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let Ok(Ok(mut conn)) =
            tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await
        else {
            println!("postgres: SKIPPED (unreachable at {admin})");
            return;
        };
        let name = format!("lookout_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let options = sqlx::postgres::PgConnectOptions::from_str(&admin).unwrap();
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            options.get_username(),
            options.get_host(),
            options.get_port()
        );
        bench("postgres", &url, true, n).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    });
}
