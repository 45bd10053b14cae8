//! The loop an instance runs over its partitions: claim → restore → consume from `seq + 1` → apply → fenced
//! commit, with leases renewed by a task of their own and a partition dropped the moment its fence fails.
//!
//! The application plugs in through [`Partitioned`]: `restore` a partition's state from its committed checkpoint,
//! `apply` a batch of records in memory, and `commit` the state inside the fenced transaction. The committed state
//! is what the fencing protects: after any crash or handoff, a partition's committed state includes every record
//! up to its `last_applied_seq` exactly once, because the state and the sequence are committed together and a
//! stale owner's commit fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use crate::log::{Entry, LogError, ObservationLog};
use crate::partitions::{Lease, LeaseError, PartitionLeases};

mod status;

pub use status::{RunnerSnapshot, RunnerStatus};

/// What the runner drives per partition.
pub trait Partitioned: Send + Sync + 'static {
    /// The observation payload of the log.
    type Observation: DeserializeOwned + Send + 'static;
    /// The in-memory state of one partition (e.g. its tracker shard).
    type State: Send + 'static;
    /// The application's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Loads the committed state of `partition`, which includes every record up to `last_applied_seq`.
    fn restore(
        &self,
        partition: u32,
        last_applied_seq: u64,
    ) -> impl Future<Output = Result<Self::State, Self::Error>> + Send;

    /// Fetches what `records` need before [`Partitioned::apply`] sees them (e.g. a configuration a record names
    /// by id), so that `apply` stays free of I/O. An error restarts the partition's worker from its checkpoint.
    fn prepare(
        &self,
        partition: u32,
        records: &[Entry<Self::Observation>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (partition, records);
        async { Ok(()) }
    }

    /// Applies records, in order, to the in-memory state (no I/O: the result is committed by `commit`).
    fn apply(&self, partition: u32, state: &mut Self::State, records: &[Entry<Self::Observation>]);

    /// Writes what `apply` produced (events, notifications, checkpoint rows) inside the fenced transaction `tx`;
    /// the runner records the sequence and commits. When the transaction fails the state is discarded and
    /// restored from the database.
    fn commit(
        &self,
        tx: &mut PgConnection,
        partition: u32,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Errors of a partition's worker (logged by the runner, which restarts the worker while the lease is held).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The leases failed.
    #[error("partition {partition}: lease operation failed")]
    Lease {
        /// The partition.
        partition: u32,
        /// The cause.
        #[source]
        source: LeaseError,
    },
    /// The log failed.
    #[error("partition {partition}: log operation failed")]
    Log {
        /// The partition.
        partition: u32,
        /// The cause.
        #[source]
        source: LogError,
    },
    /// The application's `restore` or `commit` failed.
    #[error("partition {partition}: {op} failed")]
    App {
        /// The partition.
        partition: u32,
        /// `restore`, `prepare` or `commit`.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A statement or the application's commit did not finish in time (bounded by the leases'
    /// `statement_timeout`).
    #[error("partition {partition}: {op} timed out after {after:?}")]
    TimedOut {
        /// The partition.
        partition: u32,
        /// What was being done.
        op: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The database failed outside the application's statements.
    #[error("partition {partition}: {op} failed")]
    Database {
        /// The partition.
        partition: u32,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
}

/// How the runner paces itself.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Records per commit at most (default 500).
    pub batch_max: usize,
    /// How long a worker waits for a first record before looking again (default 500 ms).
    pub batch_wait: Duration,
    /// How long a batch lingers for more records after its first (default 20 ms).
    pub batch_linger: Duration,
    /// Bound on waiting for workers to stop on shutdown (default 5 s).
    pub stop_within: Duration,
    /// Where the runner reports partitions owned, lags, handoffs and losses (keep a clone to read it).
    pub status: RunnerStatus,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_max: 500,
            batch_wait: Duration::from_millis(500),
            batch_linger: Duration::from_millis(20),
            stop_within: Duration::from_secs(5),
            status: RunnerStatus::default(),
        }
    }
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerExit {
    /// Asked to stop.
    Stopped,
    /// Its fence failed: the partition belongs to another instance now.
    Fenced,
}

/// A worker task, aborted when dropped (so aborting the runner's task stops its workers too, like a kill).
struct Worker {
    lease: Lease,
    token: sentinel::CancellationToken,
    handle: sentinel::TaskHandle<WorkerExit>,
    status: RunnerStatus,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.token.cancel();
        self.handle.abort();
        self.status.dropped(self.lease.partition);
    }
}

/// Runs the partition loop until `token` is cancelled, then stops the workers and releases every lease (an
/// immediate handoff). Spawn it through `sentinel` (one task per instance); it spawns one `partition-worker` task
/// per owned partition and renews the leases every third of the lease, from its own task, so a busy worker cannot
/// starve the renewal.
///
/// # Cancel safety
///
/// Dropping the future (aborting its task) stops every worker without releasing: the leases then expire, as
/// after a crash.
pub async fn run_partitions<A: Partitioned>(
    leases: PartitionLeases,
    log: ObservationLog,
    app: Arc<A>,
    config: RunnerConfig,
    token: sentinel::CancellationToken,
) -> Result<(), LeaseError> {
    let leases = Arc::new(leases);
    let tick = leases.config().lease / 3;
    let mut workers: HashMap<u32, Worker> = HashMap::new();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            _ = interval.tick() => {}
        }
        // Reap workers that ended: a fenced one gives its partition up; a failed one is restarted below.
        let ended: Vec<u32> = workers
            .iter()
            .filter(|(_, worker)| worker.handle.is_finished())
            .map(|(partition, _)| *partition)
            .collect();
        for partition in ended {
            if let Some(mut worker) = workers.remove(&partition) {
                let lease = worker.lease;
                match (&mut worker.handle).await {
                    Ok(WorkerExit::Fenced) => {
                        config.status.fenced();
                        tracing::info!(target: "lookout_cluster::runner", partition, epoch = lease.epoch,
                            "partition fenced: another instance owns it now");
                    }
                    Ok(WorkerExit::Stopped) => {}
                    // Logged by sentinel with its chain; the lease is still ours until renew says otherwise.
                    Err(_) => {
                        if let Ok(restored) = restart_lease(&leases, lease).await {
                            workers.insert(
                                partition,
                                spawn_worker(&leases, &log, &app, &config, restored),
                            );
                        }
                    }
                }
            }
        }
        let held: Vec<Lease> = workers.values().map(|worker| worker.lease).collect();
        match leases.renew(&held).await {
            Ok(renewal) => {
                for partition in renewal.lost {
                    tracing::warn!(target: "lookout_cluster::runner", partition, "lease lost; dropping the partition");
                    config.status.lost();
                    workers.remove(&partition);
                }
            }
            Err(error) => {
                tracing::warn!(target: "lookout_cluster::runner", error = %sentinel::error_chain(&error),
                    "lease renewal failed; retrying at the next tick");
                continue;
            }
        }
        match leases.claim().await {
            Ok(claim) => {
                config.status.released(claim.released.len());
                for partition in claim.released {
                    workers.remove(&partition);
                }
                for lease in claim.acquired {
                    tracing::info!(target: "lookout_cluster::runner", partition = lease.partition,
                        epoch = lease.epoch, after_seq = lease.last_applied_seq, "partition claimed");
                    config.status.acquired();
                    // An older worker of the same partition (its lease lapsed between renew and claim) goes first.
                    workers.remove(&lease.partition);
                    workers.insert(
                        lease.partition,
                        spawn_worker(&leases, &log, &app, &config, lease),
                    );
                }
            }
            Err(error) => {
                tracing::warn!(target: "lookout_cluster::runner", error = %sentinel::error_chain(&error),
                    "partition claim failed; retrying at the next tick");
            }
        }
    }
    // Graceful: stop the workers (each finishes or abandons its batch), then hand every partition over at once.
    let held: Vec<Lease> = workers.values().map(|worker| worker.lease).collect();
    for worker in workers.values() {
        worker.token.cancel();
    }
    let stopping = futures::future::join_all(workers.values_mut().map(|worker| &mut worker.handle));
    if tokio::time::timeout(config.stop_within, stopping)
        .await
        .is_err()
    {
        tracing::warn!(target: "lookout_cluster::runner", "partition workers did not stop in time; aborting them");
    }
    drop(workers);
    let released = leases.release(&held, true).await?;
    config.status.released(released.len());
    Ok(())
}

/// The lease as the database has it now, for a worker restarted after an error (its sequence moved on).
async fn restart_lease(leases: &PartitionLeases, lease: Lease) -> Result<Lease, LeaseError> {
    let held = leases.held().await?;
    held.into_iter()
        .find(|now| now.partition == lease.partition && now.epoch == lease.epoch)
        .ok_or(LeaseError::Fenced {
            partition: lease.partition,
            epoch: lease.epoch,
        })
}

fn spawn_worker<A: Partitioned>(
    leases: &Arc<PartitionLeases>,
    log: &ObservationLog,
    app: &Arc<A>,
    config: &RunnerConfig,
    lease: Lease,
) -> Worker {
    let token = sentinel::CancellationToken::new();
    let handle = sentinel::spawn(
        "partition-worker",
        work(
            Arc::clone(leases),
            log.clone(),
            Arc::clone(app),
            config.clone(),
            lease,
            token.clone(),
        ),
    );
    config.status.track(lease.partition);
    Worker {
        lease,
        token,
        handle,
        status: config.status.clone(),
    }
}

async fn work<A: Partitioned>(
    leases: Arc<PartitionLeases>,
    log: ObservationLog,
    app: Arc<A>,
    config: RunnerConfig,
    lease: Lease,
    token: sentinel::CancellationToken,
) -> Result<WorkerExit, RunnerError> {
    let partition = lease.partition;
    let mut state = app
        .restore(partition, lease.last_applied_seq)
        .await
        .map_err(|e| app_error(partition, "restore", e))?;
    let mut consumer = log
        .consumer::<A::Observation>(partition, lease.last_applied_seq)
        .map_err(|source| RunnerError::Log { partition, source })?;
    loop {
        let batch = tokio::select! {
            () = token.cancelled() => return Ok(WorkerExit::Stopped),
            batch = consumer.next_batch(config.batch_max, config.batch_wait, config.batch_linger) => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                // NATS restarting or unreachable: the consumer recreates itself from the next sequence.
                tracing::debug!(target: "lookout_cluster::runner", partition, error = %sentinel::error_chain(&error),
                    "consume failed; retrying");
                tokio::select! {
                    () = token.cancelled() => return Ok(WorkerExit::Stopped),
                    () = tokio::time::sleep(config.batch_wait) => continue,
                }
            }
        };
        config.status.lag(partition, consumer.lag());
        let Some(last_seq) = batch.last().map(|entry| entry.seq) else {
            continue;
        };
        let limit = leases.config().statement_timeout;
        match tokio::time::timeout(limit, app.prepare(partition, &batch)).await {
            Ok(prepared) => prepared.map_err(|e| app_error(partition, "prepare", e))?,
            Err(_) => {
                return Err(RunnerError::TimedOut {
                    partition,
                    op: "prepare",
                    after: limit,
                });
            }
        }
        app.apply(partition, &mut state, &batch);
        let mut tx = bounded(partition, "begin", limit, leases.pool().begin()).await?;
        match leases.begin_fenced(&mut tx, partition, lease.epoch).await {
            Ok(fence) => {
                match tokio::time::timeout(limit, app.commit(&mut tx, partition, &mut state)).await
                {
                    Ok(committed) => committed.map_err(|e| app_error(partition, "commit", e))?,
                    Err(_) => {
                        return Err(RunnerError::TimedOut {
                            partition,
                            op: "commit",
                            after: limit,
                        });
                    }
                }
                leases
                    .set_applied_seq(&mut tx, &fence, last_seq)
                    .await
                    .map_err(|source| RunnerError::Lease { partition, source })?;
                bounded(partition, "commit", limit, tx.commit()).await?;
            }
            Err(error) if error.is_fenced() => return Ok(WorkerExit::Fenced),
            Err(source) => return Err(RunnerError::Lease { partition, source }),
        }
    }
}

async fn bounded<T>(
    partition: u32,
    op: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, RunnerError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(RunnerError::Database {
            partition,
            op,
            source,
        }),
        Err(_) => Err(RunnerError::TimedOut {
            partition,
            op,
            after: limit,
        }),
    }
}

fn app_error(
    partition: u32,
    op: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> RunnerError {
    RunnerError::App {
        partition,
        op,
        source: Box::new(error),
    }
}
