//! Real data: the Danish Maritime Authority feed (28 s of the national network, 2010) replayed
//! through the `ais` decoder and the tracker against areas of our own in Danish waters.

use std::sync::Arc;

use jiff::Timestamp;
use lookout_core::{EventKind, Observation, Position, Report, TransponderClass};
use lookout_track::areas::{Area, AreaIndex, Polygon};
use lookout_track::tracker::{Tracker, TrackerConfig};

use crate::{rect, shared_data};

fn danish_areas() -> Vec<Area> {
    vec![
        Area::polygons(
            "oresund",
            "Øresund",
            vec![Polygon::new(vec![rect(12.4, 55.3, 12.9, 56.1)])],
        ),
        Area::polygons(
            "storebaelt",
            "Storebælt",
            vec![Polygon::new(vec![rect(10.8, 55.0, 11.3, 55.7)])],
        ),
        Area::polygons(
            "kattegat",
            "Kattegat",
            vec![Polygon::new(vec![rect(10.5, 56.0, 12.5, 57.5)])],
        ),
        Area::circle("cph", "Copenhagen approaches", 55.69, 12.62, 10.0),
        Area::circle("skagen", "Skagen", 57.75, 10.6, 15.0),
    ]
}

/// Decodes the file into observations: positions (types 1/2/3/18/19/27) and type 5 names,
/// timed by the `$PGHP` receiver timestamps.
fn observations(text: &[u8]) -> Vec<Observation> {
    let mut decoder = ais::Decoder::new();
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let Some((meta, Ok(message))) = decoder.decode_line(line) else {
            continue;
        };
        let Some(ms) = meta.tag_time_ms.or(meta.pghp_time_ms) else {
            continue;
        };
        let at = Timestamp::from_millisecond(ms).unwrap();
        let report = match &message {
            ais::Message::Position(p) => Report::Position(Position {
                lat: p.lat,
                lon: p.lon,
                sog: p.speed,
                cog: p.course,
                heading: p.heading,
                class: match p.msg_type {
                    18 | 19 => TransponderClass::B,
                    27 => TransponderClass::LongRange,
                    _ => TransponderClass::A,
                },
            }),
            ais::Message::StaticVoyage(s) => Report::Static(lookout_core::VesselStatic {
                name: Some(s.shipname.as_str().trim().to_owned()).filter(|n| !n.is_empty()),
                ..lookout_core::VesselStatic::default()
            }),
            _ => continue,
        };
        out.push(Observation {
            mmsi: message.mmsi().0,
            at,
            report,
        });
    }
    out
}

#[test]
fn dma_feed_gives_plausible_stable_counts() {
    let Some(path) = shared_data("ais/dma/stream_example.txt") else {
        return;
    };
    let text = std::fs::read(path).unwrap();
    let observations = observations(&text);
    let index = Arc::new(AreaIndex::new(danish_areas()).unwrap());
    let run = || {
        let mut tracker = Tracker::new(Arc::clone(&index), TrackerConfig::default()).unwrap();
        let events: Vec<_> = observations
            .iter()
            .flat_map(|o| tracker.observe(o))
            .collect();
        (events, tracker.stats(), tracker.n_vessels())
    };
    let (events, stats, n_vessels) = run();
    let count = |kind| events.iter().filter(|e| e.kind == kind).count();
    let per_area = |id: &str| {
        events
            .iter()
            .filter(|e| e.area_id == id && e.kind == EventKind::Entered)
            .count()
    };
    println!(
        "{} observations, {n_vessels} vessels, {} events; entered per area: oresund {} storebaelt {} kattegat {} cph {} skagen {}; {stats:?}",
        observations.len(),
        events.len(),
        per_area("oresund"),
        per_area("storebaelt"),
        per_area("kattegat"),
        per_area("cph"),
        per_area("skagen"),
    );
    // Plausible: many vessels, each entering an area at most once in 28 s, few exits.
    assert!(n_vessels > 1000, "{n_vessels}");
    assert!(count(EventKind::Entered) > 50);
    assert!(count(EventKind::Entered) <= n_vessels * 5);
    assert!(count(EventKind::Exited) <= 5);
    assert_eq!(count(EventKind::GapStarted), 0, "no gap policy");
    assert!(per_area("oresund") > 10 && per_area("kattegat") > 10);
    assert!(
        stats.duplicates > 0,
        "several receivers hear the same sentence"
    );
    assert!(stats.stale + stats.unusable_too_fast < stats.accepted / 100);
    // Stable: the same input gives the same events and counters.
    let (again, stats_again, _) = run();
    assert_eq!(again, events);
    assert_eq!(stats_again, stats);
}

/// One position sentence, encoded with the crate's own encoder, stamped 2100-01-01 by a
/// receiver with a broken clock.
fn poisoned_line(mmsi: u32, lat: f64, lon: f64) -> Vec<u8> {
    let report = ais::PositionReport::class_b(ais::Mmsi(mmsi), lat, lon);
    let sentences = ais::encode::encode(
        &ais::Message::Position(report),
        &ais::encode::EncodeOptions::default()
            .tag_block(ais::encode::TagBlockOptions::new().time(4_102_444_800)),
    )
    .unwrap();
    sentences.join("\n").into_bytes()
}

#[test]
fn one_sentence_stamped_2100_in_the_dma_feed_changes_no_event_of_the_others() {
    let Some(path) = shared_data("ais/dma/stream_example.txt") else {
        return;
    };
    let text = std::fs::read(path).unwrap();
    let index = Arc::new(AreaIndex::new(danish_areas()).unwrap());
    let mut config = TrackerConfig::default();
    config.default_policy.gap_thresholds = vec![std::time::Duration::from_secs(10)];
    let run = |obs: &[Observation]| {
        let mut tracker = Tracker::new(Arc::clone(&index), config.clone()).unwrap();
        let events: Vec<_> = obs.iter().flat_map(|o| tracker.observe(o)).collect();
        (events, tracker.stats())
    };
    let clean = observations(&text);
    let (expected, _) = run(&clean);
    assert!(expected.iter().any(|e| e.kind == EventKind::GapStarted));
    // In Øresund, by a vessel that is not in the feed.
    let bad_mmsi = 219_999_999;
    let line = poisoned_line(bad_mmsi, 55.7, 12.7);
    for cut in [0usize, 1, text.len() / 2] {
        // Before a `$PGHP` line, so no sentence loses its receiver timestamp.
        let at = text[cut..]
            .windows(6)
            .position(|w| w == b"\n$PGHP")
            .map_or(text.len(), |i| cut + i + 1);
        let at = if cut == 0 { 0 } else { at };
        let mut poisoned = text[..at].to_vec();
        poisoned.extend_from_slice(&line);
        poisoned.push(b'\n');
        poisoned.extend_from_slice(&text[at..]);
        let obs = observations(&poisoned);
        assert_eq!(obs.len(), clean.len() + 1);
        let (events, stats) = run(&obs);
        assert_eq!(events, expected, "poisoned sentence at byte {at}");
        assert_eq!(stats.clock_skew, 1);
    }
}
