//! The sharded runner: same events as one tracker, checkpoint rows in the same unit as the
//! events that changed them, backpressure, per-shard heartbeats.

use std::time::Duration;

use lookout_core::Observation;
use lookout_track::runner::{ShardConfig, Shards, TrackerOutput, shard_of};
use lookout_track::tracker::TrackerConfig;
use tokio::sync::mpsc;

use crate::{index, policy, pos, secs, square_area, tracker};

fn track() -> Vec<Observation> {
    let mut out = Vec::new();
    for i in 0..40 {
        for v in 0..25u32 {
            let lon = -0.105 + i as f64 * 0.01 + f64::from(v) * 0.001;
            out.push(pos(512_000_000 + v * 7, i * 60, 0.5, lon));
        }
    }
    out
}

#[tokio::test]
async fn shards_emit_what_one_tracker_emits_and_checkpoint_after_events() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 0.2, 1.0)]);
    let mut one = tracker(&areas, policy(0, &[]));
    let mut expected: Vec<_> = track().iter().flat_map(|o| one.observe(o)).collect();

    let config = TrackerConfig {
        default_policy: policy(0, &[]),
        ..TrackerConfig::default()
    };
    let shard_config = ShardConfig {
        shards: 3,
        capacity: 8, // small: the feed must wait for the shards
        tick: Duration::from_millis(20),
        wall_clock: false,
        checkpoint_every: Some(Duration::from_millis(1)),
        ..ShardConfig::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let shards = Shards::start(
        std::sync::Arc::clone(&areas),
        &config,
        &shard_config,
        Vec::new(),
        tx,
    )
    .unwrap();
    assert_eq!(shards.len(), 3);
    let consumer = async {
        let mut events = Vec::new();
        // Every event comes with the row of its vessel, whose state already includes it.
        let mut checkpointed: std::collections::HashMap<u32, jiff::Timestamp> = Default::default();
        while let Some(out) = rx.recv().await {
            let TrackerOutput::Changes(unit) = out else {
                panic!("shards never send barriers")
            };
            for row in &unit.checkpoint {
                if lookout_track::tracker::is_meta_key(row.mmsi) {
                    continue;
                }
                // The row is opaque: read it back as a restart would.
                let mut restored = tracker(&areas, policy(0, &[]));
                restored.restore([row.clone()]);
                checkpointed.insert(row.mmsi, restored.last_seen(row.mmsi).unwrap());
            }
            for e in unit.events {
                let row = unit.checkpoint.iter().find(|r| r.mmsi == e.mmsi);
                assert!(row.is_some(), "event {e:?} came without its vessel's row");
                assert!(checkpointed[&e.mmsi] >= e.at);
                events.push(e);
            }
        }
        (events, checkpointed.len())
    };
    let feeder = async {
        for obs in track() {
            shards.send(obs).await.unwrap();
        }
        assert!(
            sentinel::health().loop_health("tracker/0").is_some()
                && sentinel::health().loop_health("tracker/2").is_some(),
            "each shard beats its own heartbeat"
        );
        shards.finish().await.unwrap()
    };
    let ((mut events, n_checkpointed), stats) = tokio::join!(consumer, feeder);
    assert_eq!(stats.len(), 3);
    assert_eq!(stats.iter().map(|s| s.accepted).sum::<u64>(), 1000);
    assert_eq!(n_checkpointed, 25, "every vessel checkpointed");
    let key = |e: &lookout_core::Event| (e.mmsi, e.at, e.kind);
    events.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(events.len(), 50);
    assert_eq!(events, expected);
}

#[test]
fn vessels_spread_over_shards() {
    let mut counts = [0usize; 4];
    for mmsi in 219_000_000..219_004_000 {
        counts[shard_of(mmsi, 4)] += 1;
    }
    assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
}

/// Runs `inputs` through a fresh generation of 3 shards restored from `rows`, stops it, and
/// returns its events with the rows it left (applied over `rows`, as the recorder commits
/// them). Once `finish` returned, every shard has dropped its output sender: the channel
/// ends after what they emitted, so nothing of this generation can arrive later.
async fn generation(
    areas: &std::sync::Arc<lookout_track::areas::AreaIndex>,
    rows: std::collections::BTreeMap<u32, String>,
    inputs: &[Observation],
) -> (
    Vec<lookout_core::Event>,
    std::collections::BTreeMap<u32, String>,
) {
    let config = TrackerConfig {
        default_policy: policy(0, &[600]),
        ..TrackerConfig::default()
    };
    let shard_config = ShardConfig {
        shards: 3,
        capacity: 8,
        tick: Duration::from_millis(20),
        wall_clock: false,
        checkpoint_every: Some(Duration::from_millis(1)),
        ..ShardConfig::default()
    };
    let restore = rows
        .iter()
        .map(|(mmsi, data)| lookout_core::VesselCheckpoint {
            mmsi: *mmsi,
            data: data.clone(),
        })
        .collect();
    let (tx, mut rx) = mpsc::channel(1024);
    let shards = Shards::start(
        std::sync::Arc::clone(areas),
        &config,
        &shard_config,
        restore,
        tx,
    )
    .unwrap();
    let consumer = async {
        let mut rows = rows;
        let mut events = Vec::new();
        while let Some(out) = rx.recv().await {
            let TrackerOutput::Changes(unit) = out else {
                panic!("shards never send barriers")
            };
            events.extend(unit.events);
            for row in unit.checkpoint {
                if row.data.is_empty() {
                    rows.remove(&row.mmsi);
                } else {
                    rows.insert(row.mmsi, row.data);
                }
            }
        }
        (events, rows)
    };
    let feeder = async {
        for obs in inputs {
            shards.send(obs.clone()).await.unwrap();
        }
        shards.finish().await.unwrap();
    };
    let (out, ()) = tokio::join!(consumer, feeder);
    out
}

/// Issue 8 case 2: a tracker stage restart never runs two generations at once. The old
/// generation is stopped and everything it emitted is taken before the new one restores from
/// it; the new one then gives exactly the events an uninterrupted run gives after the cut (no
/// second `entered`/`exited`, none missed), wherever the cut is.
#[tokio::test]
async fn a_restarted_generation_goes_on_from_everything_the_stopped_one_emitted() {
    let areas = index(vec![square_area("bay", 0.0, 0.0, 0.2, 1.0)]);
    let mut input = track();
    // Vessel 3 goes silent inside for a while: a gap timer crosses some cuts.
    input.retain(|o| !(o.mmsi == 512_000_021 && (12 * 60..25 * 60).contains(&secs(o.at))));
    let key = |e: &lookout_core::Event| (e.mmsi, e.at, e.kind, e.area_id.clone());
    let (mut straight, _) = generation(&areas, Default::default(), &input).await;
    straight.sort_by_key(key);
    assert!(
        straight
            .iter()
            .any(|e| e.kind == lookout_core::EventKind::GapStarted)
    );
    for cut in [1, 137, 500, 811, input.len() - 1] {
        let (mut events, rows) = generation(&areas, Default::default(), &input[..cut]).await;
        let (after, _) = generation(&areas, rows, &input[cut..]).await;
        events.extend(after);
        events.sort_by_key(key);
        assert_eq!(events, straight, "cut at {cut}");
    }
}
