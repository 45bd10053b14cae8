//! The time model with the default configuration: watermark and skew, lateness, resume,
//! gaps of vessels sending only static data, dwell per rule with gaps while pending,
//! plausibility of first fixes, bounded state, and the order of events at one instant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{Event, EventKind, Observation};
use lookout_track::areas::AreaIndex;
use lookout_track::tracker::{Tracker, TrackerConfig, TrackerInput, is_meta_key};

use crate::{brief, index, named, policy, pos, square_area, t};

use EventKind::{Entered, Exited, GapEnded, GapStarted};

const V: u32 = 512_000_001;
const W: u32 = 512_000_002;

fn e(kind: EventKind, area: &str, at: i64) -> (EventKind, String, i64) {
    (kind, area.to_owned(), at)
}

fn bay() -> Arc<AreaIndex> {
    index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)])
}

fn tracker_with(
    areas: &Arc<AreaIndex>,
    gaps: &[u64],
    change: impl FnOnce(&mut TrackerConfig),
) -> Tracker {
    let mut config = TrackerConfig {
        default_policy: policy(0, gaps),
        ..TrackerConfig::default()
    };
    change(&mut config);
    Tracker::new(Arc::clone(areas), config).unwrap()
}

fn run(tracker: &mut Tracker, inputs: &[Observation]) -> Vec<Event> {
    inputs.iter().flat_map(|o| tracker.observe(o)).collect()
}

/// Two vessels reporting every minute inside the bay from `from` to `to` seconds.
fn steady(from: i64, to: i64) -> Vec<Observation> {
    let mut out = Vec::new();
    for at in (from..to).step_by(60) {
        let dx = (at - from) as f64 * 0.000_01;
        out.push(pos(V, at, 0.5, 0.5 + dx));
        out.push(pos(W, at + 1, 0.4, 0.4 + dx));
    }
    out
}

#[test]
fn a_sentence_stamped_2100_changes_no_event_and_no_clock() {
    let areas = bay();
    let track = steady(0, 3600);
    let mut clean = tracker_with(&areas, &[600], |_| {});
    let expected = run(&mut clean, &track);
    for at in [0usize, 1, 40, 100] {
        let mut poisoned = track.clone();
        let mut bad = pos(W, 0, 0.45, 0.45);
        bad.at = jiff::Timestamp::from_second(4_102_444_800).unwrap(); // 2100-01-01
        poisoned.insert(at, bad);
        let mut tracker = tracker_with(&areas, &[600], |_| {});
        let events = run(&mut tracker, &poisoned);
        assert_eq!(events, expected, "poisoned line at {at}");
        assert_eq!(tracker.stats().clock_skew, 1);
        assert!(tracker.clock().unwrap() < t(3700));
        // Nothing fires on the poisoned clock later either.
        assert!(tracker.advance(t(3600 + 500)).is_empty());
    }
}

#[test]
fn a_late_report_ends_the_gap_no_earlier_than_its_start() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[600], |_| {});
    let mut events = run(
        &mut tracker,
        &[pos(V, 0, 0.5, 0.5), pos(V, 10, 0.5, 0.5001)],
    );
    // Another vessel moves the watermark past the deadline (610) plus the lateness (30 s).
    events.extend(run(
        &mut tracker,
        &[pos(W, 600, 0.4, 0.4), pos(W, 660, 0.4, 0.4001)],
    ));
    // V's report stamped 500 s (before the deadline) arrives only now.
    events.extend(tracker.observe(&pos(V, 500, 0.5, 0.5002)));
    assert_eq!(
        brief(&events),
        vec![
            e(Entered, "bay", 10),
            e(GapStarted, "bay", 610), // fired once W's report moved the clock past 640
            e(Entered, "bay", 660),
            e(GapEnded, "bay", 610),
        ]
    );
    let ended = events.iter().find(|e| e.kind == GapEnded).unwrap();
    assert_eq!(ended.gap_seconds, Some(600), "never below the threshold");
    assert_eq!(ended.last_seen, Some(t(10)));
}

#[test]
fn a_gap_fires_only_after_the_allowed_lateness_with_the_deadline_as_its_time() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[600], |_| {});
    run(
        &mut tracker,
        &[pos(V, 0, 0.5, 0.5), pos(V, 10, 0.5, 0.5001)],
    );
    assert!(tracker.advance(t(10 + 600 + 29)).is_empty());
    let events = tracker.advance(t(10 + 600 + 30));
    assert_eq!(brief(&events), vec![e(GapStarted, "bay", 610)]);
}

#[test]
fn a_restart_after_40_minutes_down_emits_no_gap_for_vessels_reporting_after_resume() {
    let areas = bay();
    let mut first = tracker_with(&areas, &[1800], |_| {});
    let mut events = Vec::new();
    first.apply(&TrackerInput::Resume { at: t(0) }, &mut events);
    for o in steady(0, 600) {
        first.apply(&TrackerInput::Observation(o), &mut events);
    }
    first.apply(
        &TrackerInput::Tick {
            ingest_time: t(600),
        },
        &mut events,
    );
    let rows = first.checkpoint_all();
    assert!(
        rows.iter().any(|r| is_meta_key(r.mmsi)),
        "the clock is checkpointed"
    );
    drop(first);
    // 40 minutes of downtime, then the service starts again.
    let mut second = tracker_with(&areas, &[1800], |_| {});
    second.restore(rows);
    assert_eq!(second.clock(), Some(t(600)));
    let mut after = Vec::new();
    second.apply(&TrackerInput::Resume { at: t(600 + 2400) }, &mut after);
    for at in (3000..3000 + 1700).step_by(100) {
        second.apply(&TrackerInput::Tick { ingest_time: t(at) }, &mut after);
    }
    for o in steady(3000 + 1700, 3000 + 1800) {
        second.apply(&TrackerInput::Observation(o), &mut after);
    }
    assert_eq!(brief(&events).len(), 2, "two entered");
    assert!(after.is_empty(), "no gap after resume: {after:?}");
    // A feed outage longer than the grace resumes the gap clocks as well.
    second.apply(&TrackerInput::FeedDown { at: t(4800) }, &mut after);
    second.apply(
        &TrackerInput::Tick {
            ingest_time: t(9000),
        },
        &mut after,
    );
    second.apply(&TrackerInput::FeedUp { at: t(9000) }, &mut after);
    assert!(after.is_empty(), "{after:?}");
    assert_eq!(second.resumed_at(), Some(t(9000)));
    second.apply(
        &TrackerInput::Tick {
            ingest_time: t(9000 + 1800 + 30),
        },
        &mut after,
    );
    assert_eq!(
        brief(&after),
        vec![e(GapStarted, "bay", 10_800), e(GapStarted, "bay", 10_800)]
    );
}

#[test]
fn a_vessel_sending_only_static_data_inside_gets_a_gap() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[600], |_| {});
    let mut track = vec![pos(V, 0, 0.5, 0.5), pos(V, 10, 0.5, 0.5001)];
    track.extend((1..30).map(|i| named(V, 10 + i * 60, "QUIET")));
    track.push(pos(W, 2000, 0.4, 0.4)); // moves the watermark on
    let events = run(&mut tracker, &track);
    assert_eq!(
        brief(&events),
        vec![e(Entered, "bay", 10), e(GapStarted, "bay", 610)]
    );
    assert_eq!(
        events[1].vessel_name.as_deref(),
        Some("QUIET"),
        "static data still merged"
    );
    let ended = tracker.observe(&pos(V, 2100, 0.5, 0.5002));
    assert_eq!(brief(&ended), vec![e(GapEnded, "bay", 2100)]);
}

#[test]
fn dwell_is_per_rule_and_a_pending_vessel_still_gets_gaps() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[3600], |c| {
        c.max_skew = Duration::from_secs(7200);
        c.area_dwells.insert(
            "bay".into(),
            vec![Duration::ZERO, Duration::from_secs(1800)],
        );
    });
    let mut events = run(
        &mut tracker,
        &[pos(V, 0, 0.5, 0.5), pos(V, 10, 0.5, 0.5001)],
    );
    events.extend(run(&mut tracker, &[pos(V, 1810, 0.5, 0.5002)]));
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.at, e.threshold_seconds))
            .collect::<Vec<_>>(),
        vec![(Entered, t(10), None), (Entered, t(1810), Some(1800))]
    );
    // A vessel pending the 30-minute dwell that goes dark still gets the 1-hour gap.
    let mut tracker = tracker_with(&areas, &[3600], |c| {
        c.default_policy.min_dwell = Duration::from_secs(1800);
    });
    let mut events = run(
        &mut tracker,
        &[pos(V, 0, 0.5, 0.5), pos(V, 10, 0.5, 0.5001)],
    );
    events.extend(tracker.advance(t(10 + 3600 + 30)));
    assert_eq!(brief(&events), vec![e(GapStarted, "bay", 3610)]);
}

#[test]
fn a_first_fix_needs_a_second_report_to_agree() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[], |_| {});
    // A corrupted first fix 300 nm away inside the bay, then genuine fixes outside.
    let mut track = vec![pos(V, 0, 0.5, 0.5)];
    track.extend((1..5).map(|i| pos(V, i * 10, 5.5, 5.5 + i as f64 * 0.0001)));
    let events = run(&mut tracker, &track);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(tracker.stats().unconfirmed, 2);
    assert!(
        tracker
            .last_position(V)
            .is_some_and(|(lat, _, _)| lat == 5.5)
    );
}

#[test]
fn state_is_bounded_and_evicted_rows_are_deleted() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[], |c| {
        c.max_vessels = 32;
        c.max_silent_inside = Duration::from_secs(3600);
    });
    let mut events = Vec::new();
    for i in 0..64u32 {
        let at = i64::from(i);
        events.extend(run(
            &mut tracker,
            &[pos(V + i, at, 0.5, 0.5), pos(V + i, at + 1, 0.5, 0.5001)],
        ));
    }
    assert!(tracker.n_vessels() <= 32);
    let rows = tracker.take_dirty();
    let deleted: Vec<_> = rows.iter().filter(|r| r.data.is_empty()).collect();
    assert!(!deleted.is_empty());
    assert!(deleted.iter().all(|r| tracker.inside(r.mmsi).is_empty()));
    let counts = events.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e.kind).or_insert(0) += 1;
        m
    });
    assert_eq!(
        counts[&Exited],
        deleted.len(),
        "an evicted vessel inside leaves with exited"
    );
    // Silent inside for longer than the maximum: exited at that instant, evicted.
    let events = tracker.advance(t(100 + 3600));
    assert!(events.iter().all(|e| e.kind == Exited));
    assert_eq!(tracker.n_vessels(), 0);
    let mut limited = tracker_with(&areas, &[], |c| c.max_first_sightings_per_minute = 3);
    run(
        &mut limited,
        &(0..10u32)
            .map(|i| pos(V + i, 0, 0.5, 0.5))
            .collect::<Vec<_>>(),
    );
    assert_eq!(limited.stats().rate_limited, 7);
}

#[test]
fn exits_come_before_entries_at_one_instant() {
    let areas = index(vec![
        square_area("b", 1.0, 0.0, 2.0, 1.0),
        square_area("a", 0.0, 0.0, 1.0, 1.0),
    ]);
    let mut tracker = tracker_with(&areas, &[], |_| {});
    let events = run(
        &mut tracker,
        &[
            pos(V, 0, 0.5, 0.9995),
            pos(V, 10, 0.5, 0.9998),
            pos(V, 20, 0.5, 1.0001),
        ],
    );
    assert_eq!(
        brief(&events),
        vec![e(Entered, "a", 10), e(Exited, "a", 20), e(Entered, "b", 20)]
    );
}

#[test]
fn duplicates_are_recognised_against_a_short_history() {
    let areas = bay();
    let mut tracker = tracker_with(&areas, &[], |_| {});
    let a = pos(V, 0, 0.5, 0.5);
    let b = pos(V, 2, 0.5, 0.50001);
    let mut a_again = a.clone();
    a_again.at = t(3); // the first sentence, heard late through a second receiver
    run(&mut tracker, &[a, b, a_again]);
    assert_eq!(tracker.stats().duplicates, 1);
    assert_eq!(tracker.stats().stale, 0);
}

#[test]
fn a_sub_second_threshold_keeps_its_fired_bit_across_a_restart() {
    let areas = bay();
    let config = |c: &mut TrackerConfig| {
        c.default_policy.gap_thresholds = vec![Duration::from_millis(1500)];
        c.allowed_lateness = Duration::ZERO;
    };
    let mut first = tracker_with(&areas, &[], config);
    run(&mut first, &[pos(V, 0, 0.5, 0.5), pos(V, 1, 0.5, 0.50001)]);
    let fired = first.advance(t(3));
    assert_eq!(brief(&fired), vec![e(GapStarted, "bay", 2)]);
    let mut second = tracker_with(&areas, &[], config);
    second.restore(first.checkpoint_all());
    assert!(second.advance(t(10)).is_empty(), "no second gap_started");
    let ended = second.observe(&pos(V, 11, 0.5, 0.50002));
    assert_eq!(brief(&ended), vec![e(GapEnded, "bay", 11)]);
}
