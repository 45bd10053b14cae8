//! Restore is exact under the service's defaults: a tracker restored from the rows
//! `take_dirty` handed out (as a partition's new owner restores them) continues with the same
//! events as one that never stopped, whatever its clock was holding at the cut — reports held
//! for being far ahead, observations held before the first watermark, a feed that is down, the
//! per-minute first-sighting count.
//!
//! Unlike `props.rs` (hand-written scenarios' relaxed configuration and one full checkpoint),
//! this uses `TrackerConfig::default()` (skew, lateness, first-fix confirmation on), every kind
//! of `TrackerInput`, and restores several times from the incremental rows only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{Event, Mmsi, VesselCheckpoint};
use lookout_track::areas::{Area, AreaIndex};
use lookout_track::tracker::{Tracker, TrackerConfig, TrackerInput};
use proptest::prelude::*;

use crate::{index, named, policy, pos, square_area, t};

#[derive(Debug, Clone)]
enum Op {
    /// A position of vessel `v`, `dt` seconds after the previous time, in cell (x, y).
    Report(u32, i64, u8, u8),
    /// Static data of vessel `v`, `dt` seconds later.
    Static(u32, i64),
    /// A report far ahead of the clock (beyond the skew): held until another agrees.
    Ahead(u32, i64, u8, u8),
    /// A live tick `dt` seconds later.
    Tick(i64),
    /// The feed went down / came back `dt` seconds later; the service (re)started.
    FeedDown(i64),
    FeedUp(i64),
    Resume(i64),
    /// The first sightings limit's minute: a burst of new vessels.
    Newcomers(u8),
    /// The tracker stops here and a new one restores from the rows handed out so far.
    Cut,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u32..4, -20i64..200, 0u8..6, 0u8..6).prop_map(|(v, dt, x, y)| Op::Report(v, dt, x, y)),
        2 => (0u32..4, 0i64..60).prop_map(|(v, dt)| Op::Static(v, dt)),
        2 => (0u32..4, 310i64..3000, 0u8..6, 0u8..6).prop_map(|(v, dt, x, y)| Op::Ahead(v, dt, x, y)),
        2 => (0i64..600).prop_map(Op::Tick),
        1 => (0i64..60).prop_map(Op::FeedDown),
        1 => (0i64..400).prop_map(Op::FeedUp),
        1 => (0i64..60).prop_map(Op::Resume),
        1 => (1u8..6).prop_map(Op::Newcomers),
        3 => Just(Op::Cut),
    ]
}

fn areas() -> Arc<AreaIndex> {
    index(vec![
        square_area("a", 0.0, 0.0, 0.025, 0.025),
        square_area("b", 0.015, 0.015, 0.05, 0.05),
        Area::circle("c", "c", 0.03, 0.0, 1.0),
    ])
}

fn config() -> TrackerConfig {
    let mut config = TrackerConfig {
        default_policy: policy(0, &[300, 900]),
        max_first_sightings_per_minute: 6,
        // Forgetting silent vessels happens at inputs the clock decides, restored or not.
        forget_after: Some(Duration::from_secs(1200)),
        ..TrackerConfig::default()
    };
    config
        .area_dwells
        .insert("b".into(), vec![Duration::ZERO, Duration::from_secs(120)]);
    config
}

fn new_tracker(areas: &Arc<AreaIndex>) -> Tracker {
    Tracker::new(Arc::clone(areas), config()).unwrap()
}

/// Runs `ops`; with `cuts`, a `Cut` replaces the tracker by one restored from the rows.
fn run(ops: &[Op], cuts: bool) -> Vec<Event> {
    let areas = areas();
    let mut tracker = new_tracker(&areas);
    let mut rows: BTreeMap<Mmsi, String> = BTreeMap::new();
    let mut events = Vec::new();
    let mut now = 0i64;
    let mut newcomer = 0u32;
    for op in ops {
        let mut inputs = Vec::new();
        match op {
            Op::Report(v, dt, x, y) | Op::Ahead(v, dt, x, y) => {
                let at = now + dt;
                if matches!(op, Op::Report(..)) {
                    now = at.max(now);
                }
                inputs.push(TrackerInput::Observation(pos(
                    512_000_000 + v,
                    at,
                    f64::from(*y) * 0.01,
                    f64::from(*x) * 0.01,
                )));
            }
            Op::Static(v, dt) => {
                now += dt;
                inputs.push(TrackerInput::Observation(named(
                    512_000_000 + v,
                    now,
                    &format!("V{v}"),
                )));
            }
            Op::Tick(dt) => {
                now += dt;
                inputs.push(TrackerInput::Tick {
                    ingest_time: t(now),
                });
            }
            Op::FeedDown(dt) => {
                now += dt;
                inputs.push(TrackerInput::FeedDown { at: t(now) });
            }
            Op::FeedUp(dt) => {
                now += dt;
                inputs.push(TrackerInput::FeedUp { at: t(now) });
            }
            Op::Resume(dt) => {
                now += dt;
                inputs.push(TrackerInput::Resume { at: t(now) });
            }
            Op::Newcomers(n) => {
                for _ in 0..*n {
                    newcomer += 1;
                    inputs.push(TrackerInput::Observation(pos(
                        513_000_000 + newcomer,
                        now,
                        0.01,
                        0.01,
                    )));
                }
            }
            Op::Cut => {
                if cuts {
                    tracker = new_tracker(&areas);
                    tracker.restore(rows.iter().map(|(mmsi, data)| VesselCheckpoint {
                        mmsi: *mmsi,
                        data: data.clone(),
                    }));
                }
            }
        }
        for input in &inputs {
            tracker.apply(input, &mut events);
        }
        for row in tracker.take_dirty() {
            if row.data.is_empty() {
                rows.remove(&row.mmsi);
            } else {
                rows.insert(row.mmsi, row.data);
            }
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn restoring_from_the_rows_handed_out_changes_no_event(
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let straight = run(&ops, false);
        let restarted = run(&ops, true);
        prop_assert_eq!(straight, restarted);
    }
}

#[test]
fn silent_vessels_in_no_area_are_forgotten_by_the_clock_and_their_rows_deleted() {
    let areas = areas();
    let mut tracker = new_tracker(&areas);
    let mut events = Vec::new();
    // Two agreeing reports outside every area, then only another vessel reports.
    for at in [0, 10] {
        tracker.apply(
            &TrackerInput::Observation(pos(512_000_001, at, 0.5, 0.5)),
            &mut events,
        );
    }
    assert_eq!(tracker.n_vessels(), 1);
    tracker.take_dirty();
    // 1,200 s of forget_after: still kept at 1,190 s (10 s heard + 1,200 s not yet passed).
    tracker.apply(
        &TrackerInput::Tick {
            ingest_time: t(1_190),
        },
        &mut events,
    );
    assert_eq!(tracker.n_vessels(), 1, "not silent long enough");
    // The next 10-minute boundary after 1,210 s forgets it, and its row is deleted.
    tracker.apply(
        &TrackerInput::Tick {
            ingest_time: t(1_800),
        },
        &mut events,
    );
    assert_eq!(tracker.n_vessels(), 0, "forgotten at the boundary");
    let rows = tracker.take_dirty();
    assert!(
        rows.iter()
            .any(|r| r.mmsi == 512_000_001 && r.data.is_empty()),
        "{rows:?}"
    );
    assert!(events.is_empty(), "forgetting emits nothing: {events:?}");
}
