//! Lookout's network edge and traffic simulator: AIS feed connections that turn NMEA lines into
//! [`lookout_core::Observation`]s, and the `nz` traffic simulator behind `lookout simulate`.
//!
//! ```no_run
//! use lookout_feed::{ConnectionRegistry, source::{SourceConfig, SourceKind, TcpClientConfig, run_source}};
//! # async fn demo() -> Result<(), lookout_feed::FeedError> {
//! let registry = ConnectionRegistry::new();
//! let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
//! let token = sentinel::CancellationToken::new();
//! let config = SourceConfig::new("ais-hub", SourceKind::TcpClient(TcpClientConfig {
//!     addr: "127.0.0.1:4001".into(),
//!     ..TcpClientConfig::default()
//! }));
//! let feed = sentinel::spawn("feed-ais-hub", run_source(config, registry.clone(), tx, token.clone()));
//! while let Some(observation) = rx.recv().await {
//!     // hand it to the tracker
//! #   let _ = observation;
//! }
//! # drop(feed); Ok(()) }
//! ```
//!
//! # Overview
//! - [`source`]: TCP client (dial timeout, reconnect with backoff and jitter, stall detection),
//!   TCP server (connection, per-peer, line-length and idle limits), UDP listener, file replay
//!   (as fast as possible or at a speed factor). Every source writes into a bounded
//!   `tokio::sync::mpsc::Sender<Observation>` and waits when it is full.
//! - [`ConnectionRegistry`]: every live connection with its counters, serialisable for
//!   `/connections`.
//! - [`adapter`]: `ais::Message` + sentence metadata → `Observation` (event time from the tag
//!   block or `$PGHP`, base stations and aids to navigation dropped, static data from 5/24/19).
//! - [`simulate`]: deterministic NZ traffic through the `ais` encoder, to a file or served over
//!   TCP in accelerated time.
//!
//! # Metrics
//! `lookout_ais_sentences_total{source,result}` (result: `ok`, `partial`, `ignored`,
//! `too_long` or the decode error kind), `lookout_ais_messages_total{type}`,
//! `lookout_feed_reconnects_total{source}`, `lookout_feed_bytes_total{source}`,
//! `lookout_feed_rejected_total{source,reason}`.
//!
//! # Invariants
//! - One `ais::Decoder` per connection (per UDP sender): multipart reassembly never mixes streams.
//! - Nothing here buffers without a bound: lines are capped, channels are bounded, UDP senders
//!   and TCP connections are capped.
//! - Every task is spawned through `sentinel::spawn`; every network wait has a timeout or a
//!   cancellation token.

pub mod adapter;
mod decode;
mod error;
mod ingest;
mod lines;
mod registry;
mod rng;
pub mod simulate;
pub mod source;

pub use error::FeedError;
pub use ingest::FeedStats;
pub use registry::{
    ConnectionHandle, ConnectionRegistry, ConnectionSnapshot, Direction, RegistrySnapshot,
    SourceSnapshot, SourceState,
};
