//! Two partition runners on one stream and one database with a counter "tracker": every record is applied exactly
//! once in the committed state, even when one runner is killed mid-way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_cluster::log::{Entry, LogRecord, PublisherConfig, partition_of};
use lookout_cluster::partitions::{self, LeaseConfig, PartitionLeases};
use lookout_cluster::runner::{Partitioned, RunnerConfig, RunnerStatus, run_partitions};
use sqlx::{PgConnection, PgPool};

use crate::log::{Obs, obs, open};
use crate::support;

const P: u32 = 8;
const N: u64 = 2000;

/// Counts the observations of a partition and records each applied (sequence, value) row.
struct Counter {
    pool: PgPool,
}

struct CounterState {
    n: i64,
    pending: Vec<(i64, i64)>,
}

impl Partitioned for Counter {
    type Observation = Obs;
    type State = CounterState;
    type Error = sqlx::Error;

    async fn restore(
        &self,
        partition: u32,
        _last_applied_seq: u64,
    ) -> Result<CounterState, sqlx::Error> {
        let n: Option<i64> = sqlx::query_scalar("SELECT n FROM counts WHERE partition = $1")
            .bind(partition as i32)
            .fetch_optional(&self.pool)
            .await?;
        Ok(CounterState {
            n: n.unwrap_or(0),
            pending: Vec::new(),
        })
    }

    fn apply(&self, _partition: u32, state: &mut CounterState, records: &[Entry<Obs>]) {
        for entry in records {
            if let Ok(LogRecord::Observation { observation }) = &entry.record {
                state.n += 1;
                state
                    .pending
                    .push((entry.seq as i64, observation.value as i64));
            }
        }
    }

    async fn commit(
        &self,
        tx: &mut PgConnection,
        partition: u32,
        state: &mut CounterState,
    ) -> Result<(), sqlx::Error> {
        let (seqs, values): (Vec<i64>, Vec<i64>) = state.pending.drain(..).unzip();
        sqlx::query("INSERT INTO applied (partition, seq, value) SELECT $1, * FROM unnest($2::bigint[], $3::bigint[])")
            .bind(partition as i32)
            .bind(&seqs)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO counts (partition, n) VALUES ($1, $2) ON CONFLICT (partition) DO UPDATE SET n = EXCLUDED.n")
            .bind(partition as i32)
            .bind(state.n)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn wait_for(pool: &PgPool, sql: &'static str, want: i64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = scalar(pool, sql).await;
        if got >= want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{sql}: {got} < {want} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_record_is_applied_once_when_a_runner_is_killed() {
    let Some(db) = support::pg().await else {
        return;
    };
    let Some(rig) = support::nats().await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(90), async {
        let pool = db.pool.clone();
        sqlx::raw_sql(
            "CREATE TABLE applied (partition INTEGER NOT NULL, seq BIGINT NOT NULL, value BIGINT NOT NULL);
             CREATE TABLE counts (partition INTEGER PRIMARY KEY, n BIGINT NOT NULL);",
        )
        .execute(&pool)
        .await
        .unwrap();
        partitions::migrate(&pool, Duration::from_secs(5)).await.unwrap();
        let log = open(&rig, P).await;
        let mut publisher = log.publisher::<Obs>(PublisherConfig::default());
        let publish = async |publisher: &mut lookout_cluster::log::Publisher<Obs>, range: std::ops::Range<u64>| {
            for i in range {
                let mmsi = 219_000_000 + (i % 300) as u32;
                publisher.publish(partition_of(mmsi, P), &format!("m-{i}"), &obs(mmsi, i)).await.unwrap();
            }
            publisher.flush().await.unwrap();
        };
        let app = Arc::new(Counter { pool: pool.clone() });
        let lease = Duration::from_millis(1500);
        let start = |owner: &str| {
            let mut config = LeaseConfig::new(owner, P);
            config.lease = lease;
            let (pool, log, app) = (pool.clone(), log.clone(), Arc::clone(&app));
            let token = sentinel::CancellationToken::new();
            let runner_token = token.clone();
            let status = RunnerStatus::default();
            let runner_config = RunnerConfig {
                status: status.clone(),
                ..RunnerConfig::default()
            };
            let handle = sentinel::spawn("partition-runner", async move {
                let leases = PartitionLeases::open(pool, config).await?;
                run_partitions(leases, log, app, runner_config, runner_token).await
            });
            (handle, token, status)
        };
        let (runner_a, _token_a, _status_a) = start("a");
        let (runner_b, token_b, status_b) = start("b");
        // Both own half of the partitions before any record is published.
        wait_for(&pool, "SELECT count(*) FROM partitions WHERE owner = 'a'", i64::from(P / 2), Duration::from_secs(20)).await;
        wait_for(&pool, "SELECT count(*) FROM partitions WHERE owner = 'b'", i64::from(P / 2), Duration::from_secs(20)).await;
        publish(&mut publisher, 0..N / 2).await;
        wait_for(&pool, "SELECT count(*) FROM applied", (N / 4) as i64, Duration::from_secs(30)).await;
        let a_committed = scalar(&pool, "SELECT count(*) FROM partitions WHERE owner = 'a' AND last_applied_seq > 0").await;
        assert!(a_committed > 0, "a committed before it is killed");

        // Kill A while the second half is being published: its task and workers stop without releasing, in the
        // middle of whatever batch they hold; B takes over after the lease expires.
        let killed = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            runner_a.abort();
            let killed = Instant::now();
            let _ = runner_a.await;
            killed
        };
        let ((), killed) = tokio::join!(publish(&mut publisher, N / 2..N), killed);
        wait_for(&pool, "SELECT count(*) FROM partitions WHERE owner = 'b'", i64::from(P), Duration::from_secs(20)).await;
        println!("measured: all {P} partitions re-owned {:?} after a kill ({lease:?} lease)", killed.elapsed());
        wait_for(&pool, "SELECT count(*) FROM applied", N as i64, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(500)).await; // anything applied twice would show up now

        assert_eq!(scalar(&pool, "SELECT count(*) FROM applied").await, N as i64);
        assert_eq!(scalar(&pool, "SELECT count(DISTINCT seq) FROM applied").await, N as i64, "a record applied twice");
        assert_eq!(scalar(&pool, "SELECT count(DISTINCT value) FROM applied").await, N as i64);
        assert_eq!(scalar(&pool, "SELECT sum(n)::bigint FROM counts").await, N as i64);
        let max_seq = scalar(&pool, "SELECT max(seq) FROM applied").await;
        let max_applied = scalar(&pool, "SELECT max(last_applied_seq) FROM partitions").await;
        assert_eq!(max_seq, max_applied);

        let snapshot = status_b.snapshot();
        assert_eq!(snapshot.partitions.len(), P as usize, "{snapshot:?}");
        assert!(snapshot.acquired >= u64::from(P), "its half, then a's half: {snapshot:?}");
        assert_eq!(snapshot.max_lag(), 0, "caught up: {snapshot:?}");

        // Graceful stop of B releases every partition at once.
        token_b.cancel();
        runner_b.await.unwrap();
        assert_eq!(scalar(&pool, "SELECT count(*) FROM partitions WHERE owner IS NOT NULL").await, 0);
        let snapshot = status_b.snapshot();
        assert!(snapshot.partitions.is_empty() && snapshot.released == u64::from(P), "{snapshot:?}");
    })
    .await
    .expect("the runner test finishes within 90 s");
    db.teardown().await;
}
