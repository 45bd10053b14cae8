//! Building blocks for running Lookout on several machines with no single point of failure (issue 10).
//!
//! - [`partitions`]: fenced partition leases in PostgreSQL. Which instance tracks which partition of the
//!   observation log, balanced over the live instances, and the fence (`begin_fenced`) that makes a stale owner's
//!   commit fail instead of writing.
//! - [`leader`]: one leader at a time for a named role (the ingest instance that publishes), by a lease in
//!   PostgreSQL on the database clock, self-fenced by the leader's own clock.
//! - [`log`]: the observation log on NATS JetStream: one subject per partition, `partition_of(mmsi, P)` (a hash
//!   that never changes), a publisher with `Nats-Msg-Id` de-duplication and bounded outstanding acks, and a
//!   per-partition ordered consumer reading from a sequence with its lag.
//! - [`rig`]: test rig for the chaos suite and the tests: an own PostgreSQL cluster and an own `nats-server -js`
//!   on free ports in temporary directories, restartable, stopped on drop.
//! - [`runner`]: the loop one instance runs per owned partition: claim → restore → consume from `seq + 1` →
//!   fenced commit → renew, dropping a partition the moment its fence fails.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use lookout_cluster::log::{self, LogConfig, LogRecord, ObservationLog, PublisherConfig, partition_of};
//! use lookout_cluster::partitions::{self, LeaseConfig, PartitionLeases};
//!
//! // Ingest: publish an observation into its vessel's partition, de-duplicated by its id.
//! let client = log::connect("nats://127.0.0.1:4222", "ingest-1", Duration::from_secs(5)).await?;
//! let obs_log = ObservationLog::open(client, LogConfig::default()).await?; // P = 64, checked against the stream
//! let mut publisher = obs_log.publisher::<String>(PublisherConfig::default());
//! let mmsi = 219_000_000;
//! let record = LogRecord::Observation { observation: "…".to_owned() };
//! publisher.publish(partition_of(mmsi, 64), "src-a:1700000000:3f2a", &record).await?;
//! publisher.flush().await?;
//!
//! // Track: claim partitions, read each from its committed sequence, commit fenced by the epoch.
//! partitions::migrate(&pool, Duration::from_secs(5)).await?;
//! let leases = PartitionLeases::open(pool.clone(), LeaseConfig::new("track-1-9c1d", 64)).await?;
//! for lease in leases.claim().await?.acquired {
//!     let mut consumer = obs_log.consumer::<String>(lease.partition, lease.last_applied_seq)?;
//!     let batch = consumer.next_batch(100, Duration::from_millis(500), Duration::from_millis(20)).await?;
//!     let Some(last) = batch.last() else { continue };
//!     let mut tx = pool.begin().await?;
//!     let fence = leases.begin_fenced(&mut tx, lease.partition, lease.epoch).await?; // first statement
//!     // ... write the state derived from `batch` ...
//!     leases.set_applied_seq(&mut tx, &fence, last.seq).await?;
//!     tx.commit().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Nothing here knows the tracker's types: the log's observation payload is a type parameter and the runner
//! applies records through a caller's closure. See the crate README for what the service must wire.

pub mod leader;
pub mod log;
pub mod partitions;
pub mod rig;
pub mod runner;
