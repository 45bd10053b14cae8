//! Areas, vessel tracking and event detection for Lookout: a live AIS stream of
//! [`Observation`](lookout_core::Observation)s in, [`Event`](lookout_core::Event)s out —
//! `entered`, `exited`, `gap_started`, `gap_ended` — once each, across duplicates,
//! out-of-order reports, the antimeridian and restarts.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use lookout_core::{EventKind, Observation, Position, Report, TransponderClass};
//! use lookout_track::areas::{Area, AreaIndex, Polygon, parse_geojson};
//! use lookout_track::tracker::{AreaPolicy, Tracker, TrackerConfig};
//!
//! // Areas: GeoJSON features, circles, and "within N nautical miles of" polygons.
//! let gulf = parse_geojson(
//!     "gulf.geojson",
//!     "gulf",
//!     r#"{"type":"Feature","properties":{"name":"Hauraki Gulf"},"geometry":{"type":"Polygon",
//!         "coordinates":[[[174.7,-37.0],[175.6,-37.0],[175.6,-36.2],[174.7,-36.2],[174.7,-37.0]]]}}"#,
//! )?;
//! let mut areas = gulf;
//! areas.push(Area::circle("akl", "Auckland approaches", -36.84, 174.77, 5.0));
//! let index = Arc::new(AreaIndex::new(areas)?);
//!
//! // A tracker with a one-hour AIS gap alert everywhere.
//! let config = TrackerConfig {
//!     default_policy: AreaPolicy { gap_thresholds: vec![Duration::from_secs(3600)], ..AreaPolicy::default() },
//!     ..TrackerConfig::default()
//! };
//! let mut tracker = Tracker::new(Arc::clone(&index), config)?;
//!
//! let report = |secs: i64, lat: f64, lon: f64| Observation {
//!     mmsi: 512_000_001,
//!     at: jiff::Timestamp::from_second(1_767_225_600 + secs).unwrap(),
//!     report: Report::Position(Position {
//!         lat: Some(lat), lon: Some(lon), sog: Some(12.0), cog: None, heading: None,
//!         class: TransponderClass::A,
//!     }),
//! };
//! // A first fix is used once a second report agrees with it.
//! assert!(tracker.observe(&report(0, -36.5, 175.0)).is_empty());
//! let events = tracker.observe(&report(60, -36.5, 175.01));
//! assert_eq!(events.len(), 1);
//! assert_eq!((events[0].kind, events[0].area_name.as_str()), (EventKind::Entered, "Hauraki Gulf"));
//!
//! // Silence is detected by timers: advance the clock (a tick in a live service); a gap
//! // fires once the clock passed its deadline plus the allowed lateness (30 s).
//! let events = tracker.advance(jiff::Timestamp::from_second(1_767_225_600 + 60 + 3600 + 30)?);
//! assert_eq!(events[0].kind, EventKind::GapStarted);
//! assert_eq!(events[0].threshold_seconds, Some(3600));
//! assert_eq!(events[0].at, jiff::Timestamp::from_second(1_767_225_600 + 60 + 3600)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//! - [`areas`]: [`Area`](areas::Area)s from GeoJSON ([`load_geojson_file`](areas::load_geojson_file)),
//!   config ([`AreaSpec`](areas::AreaSpec)), circles and buffers; validation reporting every
//!   problem ([`AreaErrors`](areas::AreaErrors)); the [`AreaIndex`](areas::AreaIndex).
//! - [`tracker`]: the synchronous, deterministic [`Tracker`](tracker::Tracker) (one shard):
//!   per-vessel state, membership with `min_dwell`, timer-driven gaps, counters.
//! - [`checkpoint`]: the exact restart semantics of the checkpoint rows (the store saves them).
//! - [`runner`]: [`Shards`](runner::Shards), N trackers on `sentinel` tasks behind bounded channels.
//! - [`sphere`]: great-circle distances.

pub mod areas;
pub mod checkpoint;
pub mod config;
pub mod runner;
pub mod sphere;
pub mod tracker;
