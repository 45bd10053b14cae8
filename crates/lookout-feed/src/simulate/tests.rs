//! Tests of the simulator: determinism for a seed, the fleet's behaviour in and around areas, and
//! the bytes it writes and serves.

use std::collections::{BTreeMap, BTreeSet};

use ais::{Decoder, Message};

use super::geo::{LatLon, in_ring};
use super::*;

/// The example areas shipped for the scenario: (id, outer ring as [lon, lat]).
fn example_areas() -> Vec<(String, Vec<[f64; 2]>)> {
    let text = include_str!("../../../../examples/areas/nz.geojson");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let id = f["properties"]["id"].as_str().unwrap().to_owned();
            let ring = f["geometry"]["coordinates"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                .collect();
            (id, ring)
        })
        .collect()
}

/// Every position report of a run: mmsi → [(seconds since start, lat, lon)].
type Tracks = BTreeMap<u32, Vec<(f64, f64, f64)>>;

fn decode_all(config: &SimConfig) -> (Tracks, BTreeMap<u8, u64>, u64) {
    let mut decoder = Decoder::new();
    let mut tracks = Tracks::new();
    let mut types = BTreeMap::new();
    let mut errors = 0;
    let start_ms = config.start.as_millisecond();
    for record in Simulation::new(config).unwrap() {
        for line in record.text.split_terminator("\r\n") {
            let Some((meta, result)) = decoder.decode_line(line.as_bytes()) else {
                continue;
            };
            let Ok(message) = result else {
                errors += 1;
                continue;
            };
            *types.entry(message.msg_type()).or_insert(0) += 1;
            let at_ms = meta.tag_time_ms.expect("every sentence has a c: time");
            assert_eq!(at_ms, record.at.as_second() * 1000);
            if let Message::Position(p) = message {
                let secs = (at_ms - start_ms) as f64 / 1000.0;
                tracks
                    .entry(p.mmsi.0)
                    .or_default()
                    .push((secs, p.lat.unwrap(), p.lon.unwrap()));
            }
        }
    }
    (tracks, types, errors)
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let config = SimConfig {
        vessels: 30,
        hours: 0.5,
        ..SimConfig::default()
    };
    let bytes = |c: &SimConfig| -> Vec<u8> {
        let mut out = Vec::new();
        generate(c, |r| {
            out.extend_from_slice(r.text.as_bytes());
            Ok(())
        })
        .unwrap();
        out
    };
    let a = bytes(&config);
    assert!(a.len() > 10_000);
    assert_eq!(a, bytes(&config));
    assert_ne!(a, bytes(&SimConfig { seed: 2, ..config }));
}

#[test]
fn output_decodes_cleanly_with_every_message_kind() {
    let config = SimConfig {
        vessels: 60,
        hours: 1.0,
        ..SimConfig::default()
    };
    let (tracks, types, errors) = decode_all(&config);
    assert_eq!(errors, 0);
    assert_eq!(
        tracks.len(),
        60,
        "every vessel reports a position within the hour"
    );
    for ty in [1, 5, 18, 24] {
        assert!(
            types.get(&ty).copied().unwrap_or(0) > 0,
            "no type {ty} in {types:?}"
        );
    }
    // Static data every 6 minutes: about 10 per vessel in an hour.
    let statics = types[&5] + types[&24] / 2;
    assert!((400..=800).contains(&statics), "{statics} static reports");
}

#[test]
fn report_intervals_follow_class_and_state() {
    let config = SimConfig {
        vessels: 80,
        hours: 1.0,
        ..SimConfig::default()
    };
    let (tracks, _, _) = decode_all(&config);
    let mut seen = BTreeSet::new();
    for points in tracks.values() {
        for w in points.windows(2) {
            let dt = (w[1].0 - w[0].0).round() as i64;
            seen.insert(dt);
        }
    }
    // Class A under way 10 s or 6 s (tag times are whole seconds: ±1), Class B 30 s, stationary 180 s.
    for expected in [10, 30, 180] {
        assert!(
            (expected - 1..=expected + 1).any(|d| seen.contains(&d)),
            "no {expected} s interval in {seen:?}"
        );
    }
    assert!(
        seen.iter().all(|&d| d <= 181 || d > 3000),
        "unexpected intervals {seen:?}"
    );
}

/// Times (s) at which `track` changes membership of `ring`: (time, now_inside).
fn crossings(track: &[(f64, f64, f64)], ring: &[[f64; 2]]) -> Vec<(f64, bool)> {
    let mut out = Vec::new();
    let mut inside = None;
    for &(t, lat, lon) in track {
        let now = in_ring(LatLon::new(lat, lon), ring);
        if inside != Some(now) {
            out.push((t, now));
        }
        inside = Some(now);
    }
    out
}

#[test]
fn demo_guarantee_enter_exit_and_gap_within_minutes() {
    // The scripted vessels behave the same whatever the seed and the rest of the fleet.
    for (seed, vessels) in [(1, 40), (7, 3), (42, 3)] {
        let config = SimConfig {
            seed,
            vessels,
            hours: 2.5,
            ..SimConfig::demo()
        };
        let (tracks, _, _) = decode_all(&config);
        let areas: BTreeMap<String, Vec<[f64; 2]>> = example_areas().into_iter().collect();
        let (gulf, strait) = (&areas["hauraki-gulf"], &areas["cook-strait"]);

        // WAIHEKE FLYER: first seen outside the gulf, inside within 5 minutes.
        let c = crossings(&tracks[&512_900_001], gulf);
        assert!(!c[0].1, "starts outside: {c:?}");
        assert!(c[1].1 && c[1].0 < 180.0, "enters within 3 min: {c:?}");
        assert!(c.len() >= 4, "crosses the gulf edge repeatedly: {c:?}");

        // STRAIT RUNNER: first seen inside Cook Strait, outside within 5 minutes.
        let c = crossings(&tracks[&512_900_002], strait);
        assert!(c[0].1, "starts inside: {c:?}");
        assert!(!c[1].1 && c[1].0 < 300.0, "exits within 5 min: {c:?}");
        assert!(c.len() >= 3, "comes back into the strait: {c:?}");

        // MOANA ROA: inside the gulf, silent for 2 h from about 5 min in, then back inside.
        let track = &tracks[&512_900_003];
        let gap = track
            .windows(2)
            .find(|w| w[1].0 - w[0].0 > 3600.0)
            .expect("a gap");
        assert!(gap[0].0 < 300.0, "goes dark within 5 min: {gap:?}");
        assert!(
            (gap[1].0 - gap[0].0 - 7200.0).abs() < 20.0,
            "dark for 2 h: {gap:?}"
        );
        assert!(in_ring(LatLon::new(gap[0].1, gap[0].2), gulf));
        assert!(in_ring(LatLon::new(gap[1].1, gap[1].2), gulf));
    }
}

#[test]
fn random_fishers_go_dark_inside_areas_and_reappear() {
    let config = SimConfig {
        vessels: 30,
        hours: 12.0,
        seed: 3,
        ..SimConfig::default()
    };
    let (tracks, _, _) = decode_all(&config);
    let areas = example_areas();
    let dark_inside = tracks
        .iter()
        .filter(|(mmsi, _)| **mmsi < 512_900_000)
        .filter(|(_, track)| {
            track.windows(2).any(|w| {
                let here = LatLon::new(w[0].1, w[0].2);
                w[1].0 - w[0].0 > 3600.0 && areas.iter().any(|(_, ring)| in_ring(here, ring))
            })
        })
        .count();
    assert!(
        dark_inside >= 1,
        "{dark_inside} vessels went dark inside an area"
    );
}

#[test]
fn bad_configs_are_rejected_with_the_value() {
    let err = Simulation::new(&SimConfig {
        vessels: 0,
        ..SimConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("got 0"), "{err}");
    let err = Simulation::new(&SimConfig {
        hours: f64::NAN,
        ..SimConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn run_to_file_writes_what_generate_yields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.nmea");
    let config = SimConfig {
        vessels: 10,
        hours: 0.2,
        ..SimConfig::default()
    };
    let summary = run_to_file(&config, &path).unwrap();
    let written = std::fs::read(&path).unwrap();
    assert_eq!(summary.bytes, written.len() as u64);
    assert_eq!(
        summary.sentences,
        written.iter().filter(|&&b| b == b'\n').count() as u64
    );
    assert_eq!(summary.vessels, 10);
}
