//! Building blocks for running Lookout on several machines with no single point of failure (issue 10).
//!
//! - [`partitions`]: fenced partition leases in PostgreSQL. Which instance tracks which partition of the
//!   observation log, balanced over the live instances, and the fence (`begin_fenced`) that makes a stale owner's
//!   commit fail instead of writing.
//! - [`log`]: the observation log on NATS JetStream: one subject per partition, `partition_of(mmsi, P)` (a hash
//!   that never changes), a publisher with `Nats-Msg-Id` de-duplication and bounded outstanding acks, and a
//!   per-partition ordered consumer reading from a sequence with its lag.
//! - [`rig`]: test rig for the chaos suite and the tests: an own PostgreSQL cluster and an own `nats-server -js`
//!   on free ports in temporary directories, restartable, stopped on drop.
//! - [`runner`]: the loop one instance runs per owned partition: claim → restore → consume from `seq + 1` →
//!   fenced commit → renew, dropping a partition the moment its fence fails.
//!
//! Nothing here knows the tracker's types: the log's observation payload is a type parameter and the runner
//! applies records through a caller's closure. See the crate README for what the service must wire.

pub mod log;
pub mod partitions;
pub mod rig;
pub mod runner;
