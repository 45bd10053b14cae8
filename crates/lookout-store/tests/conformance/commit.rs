//! `Store::commit`: one transaction, dedupe on replay, checkpoint round trip.

use std::sync::Arc;

use lookout_core::{Delivery, VesselCheckpoint};
use lookout_store::State;

use crate::conformance;
use crate::support::{TestDb, event, notification, realtime, t0};

conformance!(
    empty_checkpoint_data_deletes_the_row,
    large_commit_is_one_transaction,
    replay_creates_no_second_notification,
    failed_commit_writes_nothing,
    checkpoint_round_trips
);

async fn replay_creates_no_second_notification(db: Arc<TestDb>) {
    let store = &db.store;
    let events = vec![event(1, t0()), event(2, t0())];
    let mut notes = realtime("r1", 2);
    notes.push(notification("r2", "bob", 1, Delivery::Digest));
    let checkpoint = vec![VesselCheckpoint {
        mmsi: 1,
        data: "{\"v\":1}".into(),
    }];
    assert_eq!(store.commit(&events, &notes, &checkpoint).await.unwrap(), 3);
    // Replay of the same input: nothing new.
    assert_eq!(store.commit(&events, &notes, &checkpoint).await.unwrap(), 0);
    // A partly new batch: only the new one counts.
    notes.push(notification("r1", "alice", 3, Delivery::Realtime));
    assert_eq!(store.commit(&events, &notes, &checkpoint).await.unwrap(), 1);
    let counts = store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Pending), Some(&4));
    let listed = store.list_notifications().await.unwrap();
    assert_eq!(listed.len(), 4);
    let first = &listed
        .iter()
        .find(|(n, _)| n.new.dedupe_key == notes[0].dedupe_key)
        .unwrap()
        .0;
    assert_eq!(
        first.new, notes[0],
        "the stored notification reads back as queued"
    );
    assert_eq!(first.attempt, 0);
}

async fn failed_commit_writes_nothing(db: Arc<TestDb>) {
    // Break the last step of the transaction: the events and notifications before it must
    // not be written either.
    db.exec("DROP TABLE vessel_checkpoints").await;
    let checkpoint = vec![VesselCheckpoint {
        mmsi: 1,
        data: "{}".into(),
    }];
    let err = db
        .store
        .commit(&[event(1, t0())], &realtime("r1", 5), &checkpoint)
        .await
        .unwrap_err();
    assert!(err.is_database(), "{err}");
    assert!(err.to_string().contains("committing"), "{err}");
    assert!(db.store.count_by_state().await.unwrap().is_empty());
    // Without checkpoint rows the same commit goes through.
    assert_eq!(
        db.store
            .commit(&[event(1, t0())], &realtime("r1", 5), &[])
            .await
            .unwrap(),
        5
    );
}

async fn checkpoint_round_trips(db: Arc<TestDb>) {
    let store = &db.store;
    assert!(store.load_checkpoint().await.unwrap().is_empty());
    let v1 = vec![
        VesselCheckpoint {
            mmsi: 512_000_002,
            data: "b".into(),
        },
        VesselCheckpoint {
            mmsi: 512_000_001,
            data: "a".into(),
        },
    ];
    store.commit(&[], &[], &v1).await.unwrap();
    store
        .commit(
            &[],
            &[],
            &[VesselCheckpoint {
                mmsi: 512_000_002,
                data: "b2".into(),
            }],
        )
        .await
        .unwrap();
    let loaded = db.reopen().await.load_checkpoint().await.unwrap();
    assert_eq!(
        loaded,
        vec![
            VesselCheckpoint {
                mmsi: 512_000_001,
                data: "a".into()
            },
            VesselCheckpoint {
                mmsi: 512_000_002,
                data: "b2".into()
            },
        ]
    );
}

/// The tracker's evicted vessels: a checkpoint row with empty `data` deletes that vessel's row
/// in the same transaction; the last entry for an MMSI wins.
async fn empty_checkpoint_data_deletes_the_row(db: Arc<TestDb>) {
    let store = &db.store;
    let cp = |mmsi: u32, data: &str| VesselCheckpoint {
        mmsi,
        data: data.into(),
    };
    store
        .commit(&[], &[], &[cp(1, "a"), cp(2, "b"), cp(3, "c")])
        .await
        .unwrap();
    store
        .commit(
            &[],
            &[],
            &[cp(2, ""), cp(3, ""), cp(3, "c2"), cp(4, "d"), cp(4, "")],
        )
        .await
        .unwrap();
    let loaded = db.reopen().await.load_checkpoint().await.unwrap();
    assert_eq!(loaded, vec![cp(1, "a"), cp(3, "c2")]);
}

/// Thousands of rows per call (several SQLite chunks), duplicates inside the call included:
/// all in, once.
async fn large_commit_is_one_transaction(db: Arc<TestDb>) {
    let mut notes = crate::support::realtime("bulk", 5000);
    notes.extend(crate::support::realtime("bulk", 10));
    let n_new = db.store.commit(&[], &notes, &[]).await.unwrap();
    assert_eq!(n_new, 5000);
    assert_eq!(db.store.commit(&[], &notes, &[]).await.unwrap(), 0);
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&lookout_store::State::Pending), Some(&5000));
}
