//! `lookout replay` on real recorded traffic (the DMA feed) against areas of our own in Danish
//! waters: plausible, stable counts.

use lookout_core::{Event, EventKind};

use crate::util::{lookout, run_ok, shared_data, testdata};

fn replay(args: &[&str]) -> (Vec<Event>, String) {
    let feed = shared_data("ais/dma/stream_example.txt").expect("checked by the caller");
    let out = run_ok(
        lookout()
            .arg("replay")
            .arg(&feed)
            .arg("--areas")
            .arg(testdata("areas/denmark.geojson"))
            .args(args),
    );
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).unwrap())
        .collect();
    (events, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn dma_feed_gives_plausible_stable_events() {
    if shared_data("ais/dma/stream_example.txt").is_none() {
        return;
    }
    let (events, summary) = replay(&["--gap", "10s"]);
    let count = |kind| events.iter().filter(|e| e.kind == kind).count();
    // 28 s of the Danish network: 1,933 vessels, a few hundred of them inside our areas.
    let entered = count(EventKind::Entered);
    assert!((150..=600).contains(&entered), "entered = {entered}");
    // Nobody sails out of an area of tens of miles within 28 s.
    assert!(
        count(EventKind::Exited) <= 5,
        "exited = {}",
        count(EventKind::Exited)
    );
    // A 10 s threshold catches vessels that report every few minutes.
    assert!(count(EventKind::GapStarted) > 0);
    assert!(count(EventKind::GapEnded) <= count(EventKind::GapStarted));
    for e in &events {
        assert!(
            ["oresund", "storebaelt", "kattegat", "baltic-approaches"]
                .contains(&e.area_id.as_str())
        );
        assert!(
            e.at.to_string().starts_with("2010-06-11T11:4"),
            "event time is the recording's: {}",
            e.at
        );
        if e.kind == EventKind::GapStarted {
            assert_eq!(e.threshold_seconds, Some(10));
            assert!(e.last_seen.is_some());
        }
    }
    // The hole of the Kattegat area (Anholt) never counts as inside.
    assert!(!events.iter().any(|e| e.area_id == "kattegat"
        && (56.6..56.8).contains(&e.lat)
        && (11.4..11.8).contains(&e.lon)));
    assert!(
        summary.contains("1719 vessels") || summary.contains("vessels"),
        "{summary}"
    );

    // Stable: the same input gives the same output.
    let (again, _) = replay(&["--gap", "10s"]);
    assert_eq!(events, again);

    // Without a gap threshold there are no gap events, and the same entries.
    let (no_gap, _) = replay(&[]);
    assert!(
        no_gap
            .iter()
            .all(|e| matches!(e.kind, EventKind::Entered | EventKind::Exited))
    );
    assert_eq!(
        no_gap
            .iter()
            .filter(|e| e.kind == EventKind::Entered)
            .count(),
        entered
    );
}

#[test]
fn replaying_an_untagged_file_twice_gives_identical_output() {
    // Two vessels in Øresund, written with the crate's own encoder and no tag block or
    // $PGHP: the file carries no time at all, so every line takes the same fixed instant
    // (the positions barely move, or they would be implausibly fast).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("untagged.aivdm");
    let mut text = String::new();
    for i in 0..6 {
        for (v, lat) in [(0u32, 55.70), (1, 55.80)] {
            let report = ais::PositionReport::class_b(
                ais::Mmsi(219_000_100 + v),
                lat,
                12.70 + f64::from(i) * 0.000_01,
            );
            let lines =
                ais::encode::encode(&ais::Message::Position(report), &Default::default()).unwrap();
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    std::fs::write(&path, text).unwrap();
    let run = || {
        let out = run_ok(
            lookout()
                .arg("replay")
                .arg(&path)
                .arg("--areas")
                .arg(testdata("areas/denmark.geojson")),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    let events: Vec<Event> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty(), "the vessels enter Øresund");
    assert!(
        events
            .iter()
            .all(|e| e.at == jiff::Timestamp::from_second(946_684_800).unwrap()),
        "untagged lines take the fixed epoch, never the wall clock: {events:?}"
    );
    assert_eq!(run(), first);
}
