//! Tracker scenarios: enter, exit, gaps, flapping, bad and repeated reports.

use lookout_core::{EventKind, Observation, Position, Report, TransponderClass};
use lookout_track::areas::{Area, Polygon};
use lookout_track::tracker::{MEMBERSHIP_BYTES, Tracker, TrackerConfig, VESSEL_BYTES};

use crate::{brief, index, named, policy, pos, rect, secs, square_area, t, tracker};

use EventKind::{Entered, Exited, GapEnded, GapStarted};

const V: u32 = 512_000_001;

fn e(kind: EventKind, area: &str, at: i64) -> (EventKind, String, i64) {
    (kind, area.to_owned(), at)
}

fn run(tracker: &mut Tracker, observations: &[Observation]) -> Vec<lookout_core::Event> {
    observations
        .iter()
        .flat_map(|o| tracker.observe(o))
        .collect()
}

#[test]
fn enter_exit_gap_and_resume() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[3600]));
    let mut events = run(
        &mut tracker,
        &[
            named(V, 0, "ENDEAVOUR"),
            pos(V, 10, 0.5, -0.01),
            pos(V, 70, 0.5, 0.01),  // entered
            pos(V, 130, 0.5, 0.02), // still inside
        ],
    );
    // Silence: the clock moves on by ticks, not reports.
    events.extend(tracker.advance(t(130 + 3599)));
    assert_eq!(brief(&events), vec![e(Entered, "bay", 70)]);
    events.extend(tracker.advance(t(130 + 3600)));
    events.extend(tracker.advance(t(9000)));
    events.extend(tracker.observe(&pos(V, 9000, 0.6, 0.3))); // reappears inside
    events.extend(tracker.observe(&pos(V, 12000, 0.6, 1.01))); // leaves
    assert_eq!(
        brief(&events),
        vec![
            e(Entered, "bay", 70),
            e(GapStarted, "bay", 3730),
            e(GapEnded, "bay", 9000),
            e(Exited, "bay", 12000),
        ]
    );
    let entered = &events[0];
    assert_eq!(entered.vessel_name.as_deref(), Some("ENDEAVOUR"));
    assert_eq!((entered.lat, entered.lon), (0.5, 0.01));
    assert_eq!(entered.area_name, "Area bay");
    let started = &events[1];
    assert_eq!(started.last_seen, Some(t(130)));
    assert_eq!(started.gap_seconds, Some(3600));
    assert_eq!(started.threshold_seconds, Some(3600));
    assert_eq!(
        (started.lat, started.lon),
        (0.5, 0.02),
        "last known position"
    );
    let ended = &events[2];
    assert_eq!(ended.last_seen, Some(t(130)));
    assert_eq!(ended.gap_seconds, Some(9000 - 130));
    assert_eq!((ended.lat, ended.lon), (0.6, 0.3), "where it reappeared");
    assert_eq!(started.episode_start(), ended.episode_start());
    assert_eq!(tracker.stats().entered, 1);
    assert_eq!(tracker.stats().gap_ended, 1);
}

#[test]
fn a_report_after_a_long_silence_fires_the_gap_before_ending_it() {
    // Replays have no ticks: the next observation's time drives the timers.
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[600, 3600]));
    let events = run(&mut tracker, &[pos(V, 0, 0.5, 0.5), pos(V, 5000, 0.5, 0.6)]);
    assert_eq!(
        brief(&events),
        vec![
            e(Entered, "bay", 0),
            e(GapStarted, "bay", 600),
            e(GapStarted, "bay", 3600),
            e(GapEnded, "bay", 5000),
            e(GapEnded, "bay", 5000),
        ]
    );
    let thresholds: Vec<Option<u64>> = events[1..].iter().map(|e| e.threshold_seconds).collect();
    assert_eq!(
        thresholds,
        vec![Some(600), Some(3600), Some(600), Some(3600)]
    );
}

#[test]
fn gaps_fire_only_inside_areas_with_thresholds_and_other_vessels_advance_the_clock() {
    let areas = index(vec![
        square_area("bay", 0.0, 0.0, 1.0, 1.0),
        square_area("far", 5.0, 5.0, 6.0, 6.0),
    ]);
    let mut config = TrackerConfig {
        confirm_first_fix: false,
        allowed_lateness: std::time::Duration::ZERO,
        max_skew: std::time::Duration::from_secs(3600),
        ..TrackerConfig::default()
    };
    config.policies.insert("bay".into(), policy(0, &[600]));
    let mut tracker = Tracker::new(areas, config).unwrap();
    tracker.advance(t(0));
    let other = 512_000_002;
    let events = run(
        &mut tracker,
        &[
            pos(V, 0, 0.5, 0.5),
            pos(other, 0, 5.5, 5.5),
            pos(other + 1, 1000, 3.0, 3.0), // outside everything: only moves the clock
        ],
    );
    assert_eq!(
        brief(&events),
        vec![
            e(Entered, "bay", 0),
            e(Entered, "far", 0),
            e(GapStarted, "bay", 600)
        ]
    );
    assert_eq!(events[2].mmsi, V);
}

#[test]
fn flapping_on_a_boundary_without_and_with_min_dwell() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    // Crossing the east edge (lon 1.0) back and forth every 30 s, for 5 minutes, then staying out.
    let mut track: Vec<Observation> = (0..10)
        .map(|i| pos(V, i * 30, 0.5, if i % 2 == 0 { 0.999 } else { 1.001 }))
        .collect();
    track.push(pos(V, 600, 0.5, 1.002));
    track.push(pos(V, 900, 0.5, 1.003));

    let mut plain = tracker(&areas, policy(0, &[]));
    let events = run(&mut plain, &track);
    assert_eq!(
        events.len(),
        10,
        "every crossing is an event without min_dwell"
    );

    let mut damped = tracker(&areas, policy(120, &[]));
    let events = run(&mut damped, &track);
    // Never inside for 120 s in a row: no entered, so no exited either.
    assert!(events.is_empty(), "{:?}", brief(&events));

    // Inside long enough, then flapping out, then out for good.
    let mut track: Vec<Observation> = (0..6).map(|i| pos(V, i * 30, 0.5, 0.99)).collect();
    track.extend((0..6).map(|i| pos(V, 180 + i * 30, 0.5, if i % 2 == 0 { 1.001 } else { 0.999 })));
    track.push(pos(V, 600, 0.5, 1.01));
    track.push(pos(V, 700, 0.5, 1.02));
    track.push(pos(V, 730, 0.5, 1.03));
    let mut damped = tracker(&areas, policy(120, &[]));
    let events = run(&mut damped, &track);
    assert_eq!(
        brief(&events),
        vec![e(Entered, "bay", 120), e(Exited, "bay", 730)]
    );
    assert_eq!((events[1].lat, events[1].lon), (0.5, 1.03));
}

#[test]
fn holes_multipolygons_and_the_antimeridian_in_a_track() {
    let donut = Area::polygons(
        "donut",
        "donut",
        vec![
            Polygon::new(vec![rect(0.0, 0.0, 10.0, 10.0), rect(4.0, 4.0, 6.0, 6.0)]),
            Polygon::new(vec![rect(20.0, 0.0, 22.0, 2.0)]),
        ],
    );
    let dateline = Area::polygons(
        "dateline",
        "dateline",
        vec![Polygon::new(vec![rect(179.0, -1.0, 181.0, 1.0)])],
    );
    let areas = index(vec![donut, dateline]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let d = 60 * 60 * 24 * 10; // ten days between legs: slow enough to be plausible
    let events = run(
        &mut tracker,
        &[
            pos(V, 0, 2.0, 2.0),      // in the ring
            pos(V, d, 5.0, 5.0),      // into the hole
            pos(V, 2 * d, 1.0, 21.0), // into the other part
            pos(V, 3 * d, 0.0, 179.5),
            pos(V, 3 * d + 3600, 0.0, -179.5), // across 180: still inside, no event
            pos(V, 3 * d + 7200, 0.0, -178.5), // out east
        ],
    );
    assert_eq!(
        brief(&events),
        vec![
            e(Entered, "donut", 0),
            e(Exited, "donut", d),
            e(Entered, "donut", 2 * d),
            e(Exited, "donut", 3 * d),
            e(Entered, "dateline", 3 * d),
            e(Exited, "dateline", 3 * d + 7200),
        ]
    );
}

#[test]
fn out_of_order_and_duplicate_reports_change_nothing() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let events = run(
        &mut tracker,
        &[
            pos(V, 100, 0.5, 1.5),
            pos(V, 100, 0.5, 1.5), // same sentence from another receiver
            pos(V, 101, 0.5, 1.5), // ... with a slightly different receiver clock
            pos(V, 50, 0.5, 0.5),  // older than the last report: would be "entered"
            pos(V, 200, 0.5, 1.49),
        ],
    );
    assert!(events.is_empty(), "{:?}", brief(&events));
    let stats = tracker.stats();
    assert_eq!((stats.duplicates, stats.stale, stats.accepted), (2, 1, 2));
    assert_eq!(
        tracker.last_position(V).map(|(_, lon, at)| (lon, secs(at))),
        Some((1.49, 200))
    );
}

#[test]
fn unusable_positions_never_change_membership_and_are_counted_by_reason() {
    let areas = index(vec![
        square_area("bay", 0.0, 0.0, 1.0, 1.0),
        square_area("null", -1.0, -1.0, 1.0, 1.0),
    ]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let missing = Observation {
        mmsi: V,
        at: t(10),
        report: Report::Position(Position {
            lat: None,
            lon: None,
            sog: None,
            cog: None,
            heading: None,
            class: TransponderClass::B,
        }),
    };
    let events = run(
        &mut tracker,
        &[
            pos(V, 0, 0.5, 1.5),
            missing,
            pos(V, 20, 0.0, 0.0),   // (0, 0): "not available" in disguise
            pos(V, 30, 0.5, 0.5),   // 60 nm in 30 s
            pos(V, 40, 91.0, 0.5),  // out of range
            pos(V, 3600, 0.5, 0.5), // an hour later: plausible
        ],
    );
    assert_eq!(
        brief(&events),
        vec![e(Entered, "bay", 3600), e(Entered, "null", 3600)]
    );
    let stats = tracker.stats();
    assert_eq!(stats.unusable_missing, 1);
    assert_eq!(stats.unusable_null_island, 1);
    assert_eq!(stats.unusable_too_fast, 1);
    assert_eq!(stats.unusable_out_of_range, 1);
}

#[test]
fn a_bad_first_fix_does_not_freeze_a_vessel() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let mut track = vec![pos(V, 0, 40.0, 40.0)]; // a wrong fix far away
    track.extend((1..=4).map(|i| pos(V, i * 10, 0.5, 0.5 + i as f64 * 0.001)));
    let events = run(&mut tracker, &track);
    // The fix at 10 s is too fast from the bad one and becomes a candidate; the report at
    // 20 s agrees with it, so the vessel is back on track after one report (was three jumps).
    assert_eq!(brief(&events), vec![e(Entered, "bay", 20)]);
    assert_eq!(tracker.stats().unusable_too_fast, 1);
    assert_eq!(tracker.stats().jump_resets, 1);
}

#[test]
fn base_stations_and_aids_to_navigation_never_become_vessels() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let events = run(
        &mut tracker,
        &[pos(2_190_001, 0, 0.5, 0.5), pos(992_191_234, 0, 0.5, 0.5)],
    );
    assert!(events.is_empty());
    assert_eq!(tracker.n_vessels(), 0);
    assert_eq!(tracker.stats().not_a_vessel, 2);
}

#[test]
fn static_data_from_several_reports_is_merged() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let mut b = named(V, 0, "KIWI");
    if let Report::Static(s) = &mut b.report {
        s.name = None;
        s.callsign = Some("ZM1234".into());
    }
    run(&mut tracker, &[named(V, 0, "KIWI"), b]);
    let s = tracker.static_data(V).unwrap();
    assert_eq!(
        (s.name.as_deref(), s.callsign.as_deref()),
        (Some("KIWI"), Some("ZM1234"))
    );
}

// The memory budget: at most 256 bytes per vessel plus 16 per area it is in.
const _: () = assert!(VESSEL_BYTES <= 256);
const _: () = assert!(MEMBERSHIP_BYTES <= 16);

#[test]
fn vessel_state_size_is_reported() {
    println!("bytes per vessel: {VESSEL_BYTES} + {MEMBERSHIP_BYTES} per area membership");
}

#[test]
fn silent_vessels_outside_every_area_are_forgotten_and_start_afresh() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut tracker = tracker(&areas, policy(0, &[]));
    let other = 512_000_002;
    run(
        &mut tracker,
        &[
            pos(V, 0, 0.5, 1.5),
            pos(other, 0, 0.5, 0.5),
            named(V, 10, "OLD"),
        ],
    );
    assert_eq!(
        tracker.evict_silent(t(100)),
        1,
        "only the vessel outside every area"
    );
    assert_eq!(tracker.n_vessels(), 1);
    assert!(tracker.static_data(V).is_none());
    assert_eq!(tracker.inside(other), ["bay"], "a vessel inside is kept");
    let events = run(&mut tracker, &[pos(V, 200_000, 0.5, 0.5)]);
    assert_eq!(brief(&events), vec![e(Entered, "bay", 200_000)]);
    assert!(
        tracker
            .take_dirty()
            .iter()
            .all(|r| r.mmsi == V || r.mmsi == other || lookout_track::tracker::is_meta_key(r.mmsi))
    );
}
