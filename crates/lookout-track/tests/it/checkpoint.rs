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
