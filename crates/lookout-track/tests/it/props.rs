//! Property tests: per (vessel, area) `entered` and `exited` alternate (starting with
//! `entered`), gaps start and end in pairs and only while inside, and a checkpoint/restore at
//! any point changes nothing.

use std::collections::HashMap;

use lookout_core::{Event, EventKind, Observation};
use lookout_track::areas::Area;
use proptest::prelude::*;

use crate::{index, policy, pos, square_area, t, tracker};

#[derive(Debug, Clone)]
enum Op {
    /// A position: vessel, seconds after the previous op (may be negative), cell.
    Report(u32, i64, u8, u8),
    /// A clock tick this many seconds after the latest time.
    Tick(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..3, -30i64..400, 0u8..6, 0u8..6).prop_map(|(v, dt, x, y)| Op::Report(v, dt, x, y)),
        1 => (0i64..2000).prop_map(Op::Tick),
    ]
}

fn areas() -> Vec<Area> {
    vec![
        square_area("a", 0.0, 0.0, 0.025, 0.025),
        square_area("b", 0.015, 0.015, 0.05, 0.05),
        Area::circle("c", "c", 0.03, 0.0, 1.0),
    ]
}

/// Runs `ops`, optionally checkpointing and restoring into a fresh tracker before op `cut`.
fn run(ops: &[Op], dwell: u64, cut: Option<usize>) -> Vec<Event> {
    let areas = index(areas());
    let mut tracker = tracker(&areas, policy(dwell, &[300, 900]));
    let mut events = Vec::new();
    let mut now = 0i64;
    for (idx, op) in ops.iter().enumerate() {
        if Some(idx) == cut {
            let rows = tracker.checkpoint_all();
            tracker = crate::tracker(&areas, policy(dwell, &[300, 900]));
            tracker.restore(rows);
        }
        match op {
            Op::Report(v, dt, x, y) => {
                now += dt;
                let obs: Observation = pos(
                    512_000_000 + v,
                    now,
                    f64::from(*y) * 0.01,
                    f64::from(*x) * 0.01,
                );
                events.extend(tracker.observe(&obs));
            }
            Op::Tick(dt) => {
                now += dt;
                events.extend(tracker.advance(t(now)));
            }
        }
    }
    events
}

fn check_alternation(events: &[Event]) -> Result<(), TestCaseError> {
    let mut inside: HashMap<(u32, String), bool> = HashMap::new();
    let mut gaps: HashMap<(u32, String, u64), bool> = HashMap::new();
    for e in events {
        let key = (e.mmsi, e.area_id.clone());
        let is_in = inside.get(&key).copied().unwrap_or(false);
        match e.kind {
            EventKind::Entered => {
                prop_assert!(!is_in, "entered twice: {e:?}");
                inside.insert(key, true);
            }
            EventKind::Exited => {
                prop_assert!(is_in, "exited while outside: {e:?}");
                inside.insert(key, false);
            }
            EventKind::GapStarted | EventKind::GapEnded => {
                let th = e.threshold_seconds.unwrap_or(0);
                let gap_key = (e.mmsi, e.area_id.clone(), th);
                let open = gaps.get(&gap_key).copied().unwrap_or(false);
                if e.kind == EventKind::GapStarted {
                    // Gap timers also run for a vessel pending entry (not yet `entered`).
                    prop_assert!(!open, "gap started twice: {e:?}");
                    gaps.insert(gap_key, true);
                } else {
                    prop_assert!(open, "gap ended without start: {e:?}");
                    gaps.insert(gap_key, false);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn entered_and_exited_alternate_per_vessel_and_area(
        ops in prop::collection::vec(op(), 1..120),
        dwell in prop::sample::select(vec![0u64, 60, 300]),
    ) {
        check_alternation(&run(&ops, dwell, None))?;
    }

    #[test]
    fn a_restart_anywhere_changes_nothing(
        ops in prop::collection::vec(op(), 1..80),
        dwell in prop::sample::select(vec![0u64, 60, 300]),
        cut in 0usize..80,
    ) {
        let straight = run(&ops, dwell, None);
        let restarted = run(&ops, dwell, Some(cut));
        prop_assert_eq!(straight, restarted);
    }
}
