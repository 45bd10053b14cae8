//! Areas and policies changed while running ([`Tracker::reconfigure`], the model edited through
//! the API): vessels and the clock are kept; a vessel inside an added area enters it at its
//! next report without re-entering the areas it was already in; a removed area emits nothing
//! more (no `exited`); a gap threshold added to an area applies to its members at once.

use std::sync::Arc;

use lookout_core::EventKind::{Entered, Exited, GapStarted};
use lookout_track::areas::AreaIndex;
use lookout_track::tracker::{AreaPolicy, Reconfigure, TrackerInput};

use crate::{brief, index, policy, pos, scenario_config, square_area, t, tracker};

/// A vessel (a base station's MMSI would not be tracked).
const V: u32 = 512_000_001;

fn switch(areas: &Arc<AreaIndex>, default: AreaPolicy) -> TrackerInput {
    TrackerInput::Reconfigure(Reconfigure(Arc::new((
        Arc::clone(areas),
        scenario_config(default),
    ))))
}

#[test]
fn added_areas_enter_removed_areas_fall_silent_and_new_gaps_apply() {
    let a = square_area("a", 0.0, 0.0, 0.1, 0.1);
    let b = square_area("b", 0.04, 0.04, 0.2, 0.2);
    let mut tr = tracker(&index(vec![a.clone()]), policy(0, &[]));
    let mut ev = Vec::new();
    tr.apply(&TrackerInput::Observation(pos(V, 10, 0.05, 0.05)), &mut ev);
    assert_eq!(brief(&ev), [(Entered, "a".to_owned(), 10)]);
    let _ = tr.take_dirty();

    // b is added around the vessel: it enters b at its next report, not a again.
    ev.clear();
    tr.apply(&switch(&index(vec![a, b.clone()]), policy(0, &[])), &mut ev);
    assert!(ev.is_empty(), "switching emits nothing: {ev:?}");
    assert_eq!(tr.clock(), Some(t(10)), "the clock is kept");
    assert!(
        tr.take_dirty().iter().any(|row| row.mmsi == V),
        "the vessel's row is rewritten under the new areas"
    );
    tr.apply(
        &TrackerInput::Observation(pos(V, 20, 0.051, 0.051)),
        &mut ev,
    );
    assert_eq!(brief(&ev), [(Entered, "b".to_owned(), 20)]);
    assert_eq!(tr.inside(V), ["a", "b"]);

    // a is removed and b gets a 60 s gap threshold: a falls silent, b's gap fires.
    ev.clear();
    tr.apply(&switch(&index(vec![b]), policy(0, &[60])), &mut ev);
    assert_eq!(tr.inside(V), ["b"]);
    ev.extend(tr.advance(t(100)));
    assert_eq!(brief(&ev), [(GapStarted, "b".to_owned(), 80)]);

    // Leaving b (and where a was): one `exited`, for b.
    ev.clear();
    tr.apply(
        &TrackerInput::Observation(pos(V, 30_000, 0.5, 0.5)),
        &mut ev,
    );
    let kinds: Vec<_> = brief(&ev)
        .into_iter()
        .filter(|(k, _, _)| *k == Exited || *k == Entered)
        .collect();
    assert_eq!(kinds, [(Exited, "b".to_owned(), 30_000)]);
}

#[test]
fn a_policy_that_does_not_fit_keeps_the_old_configuration() {
    let a = square_area("a", 0.0, 0.0, 0.1, 0.1);
    let mut tr = tracker(&index(vec![a.clone()]), policy(0, &[]));
    let mut bad = scenario_config(policy(0, &[]));
    bad.policies.insert("nowhere".into(), policy(0, &[]));
    let err = tr.reconfigure(index(vec![a]), bad);
    assert!(err.is_err());
    let mut ev = Vec::new();
    tr.apply(&TrackerInput::Observation(pos(V, 10, 0.05, 0.05)), &mut ev);
    assert_eq!(brief(&ev), [(Entered, "a".to_owned(), 10)]);
}

/// A cluster partition's first record is the tracking configuration: a fresh tracker (no
/// clock yet, first fixes to confirm) switched before any report tracks exactly as one that
/// was never switched.
#[test]
fn a_fresh_tracker_switched_before_its_first_report_tracks_as_usual() {
    let a = square_area("a", 0.0, 0.0, 0.1, 0.1);
    let config = || lookout_track::tracker::TrackerConfig {
        default_policy: policy(0, &[]),
        ..lookout_track::tracker::TrackerConfig::default()
    };
    let reports = [pos(V, 10, 0.05, 0.05), pos(V, 20, 0.0501, 0.05)];
    let run = |switch_first: bool| {
        let mut tr =
            lookout_track::tracker::Tracker::new(index(vec![a.clone()]), config()).unwrap();
        let mut ev = Vec::new();
        if switch_first {
            tr.apply(
                &TrackerInput::Reconfigure(Reconfigure(Arc::new((
                    index(vec![a.clone()]),
                    config(),
                )))),
                &mut ev,
            );
        }
        for r in &reports {
            tr.apply(&TrackerInput::Observation(r.clone()), &mut ev);
        }
        brief(&ev)
    };
    let plain = run(false);
    assert_eq!(plain, [(Entered, "a".to_owned(), 20)]);
    assert_eq!(run(true), plain);
}
