//! Integration tests of lookout-track: one binary, one module per area of behaviour.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod areas;
mod checkpoint;
mod dma;
mod kill;
mod props;
mod reconfigure;
mod restore;
mod runner;
mod scenarios;
mod time;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{
    Event, EventKind, Mmsi, Observation, Position, Report, TransponderClass, VesselStatic,
};
use lookout_track::areas::{Area, AreaIndex, Polygon};
use lookout_track::tracker::{AreaPolicy, Tracker, TrackerConfig};

/// Seconds after 2026-01-01T00:00:00Z.
pub(crate) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + secs).unwrap()
}

pub(crate) fn secs(at: Timestamp) -> i64 {
    at.as_second() - 1_767_225_600
}

pub(crate) fn pos(mmsi: Mmsi, at: i64, lat: f64, lon: f64) -> Observation {
    Observation {
        mmsi,
        at: t(at),
        report: Report::Position(Position {
            lat: Some(lat),
            lon: Some(lon),
            sog: Some(10.0),
            cog: Some(90.0),
            heading: None,
            class: TransponderClass::A,
        }),
    }
}

pub(crate) fn named(mmsi: Mmsi, at: i64, name: &str) -> Observation {
    Observation {
        mmsi,
        at: t(at),
        report: Report::Static(VesselStatic {
            name: Some(name.into()),
            ..VesselStatic::default()
        }),
    }
}

pub(crate) fn rect(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Vec<[f64; 2]> {
    vec![
        [lon0, lat0],
        [lon1, lat0],
        [lon1, lat1],
        [lon0, lat1],
        [lon0, lat0],
    ]
}

pub(crate) fn square_area(id: &str, lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Area {
    Area::polygons(
        id,
        format!("Area {id}"),
        vec![Polygon::new(vec![rect(lon0, lat0, lon1, lat1)])],
    )
}

pub(crate) fn index(areas: Vec<Area>) -> Arc<AreaIndex> {
    Arc::new(AreaIndex::new(areas).unwrap())
}

pub(crate) fn policy(min_dwell_secs: u64, gaps_secs: &[u64]) -> AreaPolicy {
    AreaPolicy {
        min_dwell: Duration::from_secs(min_dwell_secs),
        gap_thresholds: gaps_secs.iter().map(|s| Duration::from_secs(*s)).collect(),
    }
}

/// The hand-written scenarios' configuration, with `default` as every area's policy.
pub(crate) fn scenario_config(default: AreaPolicy) -> TrackerConfig {
    TrackerConfig {
        default_policy: default,
        // These scenarios were written against single first reports; the confirmation
        // of first fixes has its own tests (`time.rs`).
        confirm_first_fix: false,
        allowed_lateness: Duration::ZERO,
        // Sparse hand-written tracks jump hours ahead; the skew rule has its own tests.
        max_skew: Duration::from_secs(400 * 24 * 3600),
        max_silent_inside: Duration::from_secs(400 * 24 * 3600),
        ..TrackerConfig::default()
    }
}

pub(crate) fn tracker(areas: &Arc<AreaIndex>, default: AreaPolicy) -> Tracker {
    let mut tracker = Tracker::new(Arc::clone(areas), scenario_config(default)).unwrap();
    // The scenarios' clock starts at t(0), as a service's does at its start.
    tracker.advance(t(0));
    tracker
}

/// `(kind, area_id, seconds)` of each event: what most scenario assertions compare.
pub(crate) fn brief(events: &[Event]) -> Vec<(EventKind, String, i64)> {
    events
        .iter()
        .map(|e| (e.kind, e.area_id.clone(), secs(e.at)))
        .collect()
}

/// The shared test data directory, or `None` (with a message) when it is absent and not
/// required by `LOOKOUT_REQUIRE_DATA=1`.
pub(crate) fn shared_data(rel: &str) -> Option<PathBuf> {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("LOOKOUT_REQUIRE_DATA").as_deref() != Ok("1"),
        "LOOKOUT_REQUIRE_DATA=1 but {} is missing",
        path.display()
    );
    println!("skipping: shared test data {} is absent", path.display());
    None
}
