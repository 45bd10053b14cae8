//! Restart from a checkpoint in the middle of a track: no second `entered`, no missed
//! `exited`, gap timers resumed from `last_seen`.

use lookout_core::{EventKind, Observation, VesselCheckpoint};
use lookout_track::tracker::Tracker;

use crate::{brief, index, named, policy, pos, square_area, t, tracker};

use EventKind::{Entered, Exited, GapEnded, GapStarted};

const V: u32 = 512_000_001;
const W: u32 = 512_000_002;

fn e(kind: EventKind, area: &str, at: i64) -> (EventKind, String, i64) {
    (kind, area.to_owned(), at)
}

fn run(tracker: &mut Tracker, observations: &[Observation]) -> Vec<lookout_core::Event> {
    observations
        .iter()
        .flat_map(|o| tracker.observe(o))
        .collect()
}

/// Two vessels sailing east through two areas, one going silent for a while.
fn track() -> Vec<Observation> {
    let mut out = vec![named(V, 0, "ALPHA"), named(W, 0, "BRAVO")];
    for i in 0..90 {
        let at = i * 60;
        out.push(pos(V, at, 0.5, -0.205 + i as f64 * 0.02)); // crosses bay (0..1) then sound (1..2)
        if !(20..45).contains(&i) {
            out.push(pos(W, at + 5, 0.6, 0.3 + i as f64 * 0.001)); // stays in bay, silent 20..45
        }
    }
    out
}

#[test]
fn restarting_mid_track_gives_the_same_events_as_running_through() {
    let areas = index(vec![
        square_area("bay", 0.0, 0.0, 1.0, 1.0),
        square_area("sound", 1.0, 0.0, 2.0, 1.0),
    ]);
    let track = track();
    let mut straight = tracker(&areas, policy(120, &[600]));
    let all = run(&mut straight, &track);
    assert_eq!(
        brief(&all),
        vec![
            e(Entered, "bay", 125),
            e(Entered, "bay", 780),
            e(GapStarted, "bay", 1745),
            e(GapEnded, "bay", 2705),
            e(Exited, "bay", 3780),
            e(Entered, "sound", 3780),
        ]
    );

    for cut in [5, 30, 61, 70, 95, 130, 150] {
        let mut first = tracker(&areas, policy(120, &[600]));
        let mut events = run(&mut first, &track[..cut]);
        let rows = first.take_dirty();
        drop(first);

        let mut second = tracker(&areas, policy(120, &[600]));
        let report = second.restore(rows);
        assert_eq!(report.restored, 2);
        events.extend(run(&mut second, &track[cut..]));
        assert_eq!(brief(&events), brief(&all), "cut at {cut}");
        assert_eq!(events, all, "cut at {cut}");
    }
}

#[test]
fn no_second_entered_and_no_missed_exited_across_a_restart() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut before = tracker(&areas, policy(0, &[]));
    let events = run(&mut before, &[pos(V, 0, 0.5, 0.5), pos(W, 0, 0.4, 0.4)]);
    assert_eq!(events.len(), 2);
    let rows = before.checkpoint_all();

    let mut after = tracker(&areas, policy(0, &[]));
    after.restore(rows);
    assert_eq!(after.inside(V), ["bay"]);
    // V is still inside: nothing. W left while we were down: exited at its first report.
    let events = run(
        &mut after,
        &[pos(V, 7200, 0.5, 0.6), pos(W, 7200, 0.4, 1.5)],
    );
    assert_eq!(brief(&events), vec![e(Exited, "bay", 7200)]);
    assert_eq!(events[0].mmsi, W);
}

#[test]
fn gap_timers_resume_from_last_seen() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut before = tracker(&areas, policy(0, &[600, 3600]));
    run(&mut before, &[pos(V, 0, 0.5, 0.5)]);
    let fired = before.advance(t(1000));
    assert_eq!(brief(&fired), vec![e(GapStarted, "bay", 600)]);
    let rows = before.checkpoint_all();

    let mut after = tracker(&areas, policy(0, &[600, 3600]));
    after.restore(rows);
    // The first tick after the restart: the 1 h gap is due (from last_seen), the 10 min one
    // already started before the checkpoint and does not fire again.
    let fired = after.advance(t(5000));
    assert_eq!(brief(&fired), vec![e(GapStarted, "bay", 3600)]);
    let events = run(&mut after, &[pos(V, 6000, 0.5, 0.55)]);
    assert_eq!(
        brief(&events),
        vec![e(GapEnded, "bay", 6000), e(GapEnded, "bay", 6000)]
    );
    assert!(
        events
            .iter()
            .all(|e| e.gap_seconds == Some(6000) && e.last_seen == Some(t(0)))
    );
}

#[test]
fn unreadable_rows_and_removed_areas_are_reported_not_fatal() {
    let areas = index(vec![
        square_area("bay", 0.0, 0.0, 1.0, 1.0),
        square_area("gone", 5.0, 5.0, 6.0, 6.0),
    ]);
    let mut before = tracker(&areas, policy(0, &[]));
    run(&mut before, &[pos(V, 0, 0.5, 0.5), pos(W, 0, 5.5, 5.5)]);
    let mut rows = before.checkpoint_all();
    rows.push(VesselCheckpoint {
        mmsi: 512_000_003,
        data: "{".into(),
    });

    let fewer = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut after = tracker(&fewer, policy(0, &[]));
    let report = after.restore(rows);
    assert_eq!(report.restored, 2);
    assert_eq!(report.dropped_areas, 1);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].mmsi, 512_000_003);
    assert_eq!(after.inside(V), ["bay"]);
    assert!(after.inside(W).is_empty());
}

/// A row as versions before 3 stored it (JSON, version 2, as `serde_json` wrote it): after an
/// upgrade it restores, and the tracker goes on as one restored from its own (version 3) rows.
const V2_ROW: &str = r#"{"v":2,"last_seen":"2026-01-01T00:10:00Z","position":{"lat":0.5,"lon":0.5,"at":"2026-01-01T00:10:00Z"},"areas":[{"id":"bay","inside":true,"raw":true,"pending_since":"2026-01-01T00:00:00Z"}],"fp":0,"recent":[[1234567890123,1767226200000]]}"#;

#[test]
fn a_version_2_row_stored_before_the_upgrade_restores_and_goes_on_alike() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut old = tracker(&areas, policy(0, &[600]));
    let report = old.restore([VesselCheckpoint {
        mmsi: V,
        data: V2_ROW.into(),
    }]);
    assert_eq!(report.restored, 1);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(old.inside(V), ["bay"]);
    assert_eq!(old.last_seen(V), Some(t(600)));

    // The same state through this version's rows.
    let mut new = tracker(&areas, policy(0, &[600]));
    new.restore(old.checkpoint_all());
    assert!(
        new.checkpoint_all()
            .iter()
            .all(|r| r.data.starts_with("3|") || r.data.starts_with('{')),
        "vessel rows are written as version 3"
    );
    let rest = [
        pos(V, 590, 0.5, 0.6), // stale: older than the saved last_seen
        pos(V, 660, 0.5, 0.51),
        pos(V, 3000, 0.5, 1.05),
    ];
    let from_v2 = run(&mut old, &rest);
    assert_eq!(
        brief(&from_v2),
        vec![
            e(GapStarted, "bay", 1260),
            e(GapEnded, "bay", 3000),
            e(Exited, "bay", 3000)
        ],
        "no second entered, the gap timer and the exit carried over"
    );
    assert_eq!(run(&mut new, &rest), from_v2);
    assert_eq!(old.stats().stale, 1);
}

#[test]
fn a_row_of_an_unknown_version_is_skipped_and_named() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 1.0, 1.0)]);
    let mut after = tracker(&areas, policy(0, &[]));
    let report = after.restore([VesselCheckpoint {
        mmsi: V,
        data: "9|19b76dc2ea0||||||".into(),
    }]);
    assert_eq!(report.restored, 0);
    assert_eq!(report.skipped.len(), 1);
    assert!(
        matches!(
            report.skipped[0].source,
            lookout_track::tracker::RowError::UnknownVersion { version: 9 }
        ),
        "{:?}",
        report.skipped[0]
    );
}
