//! One leader at a time: the lease is taken by one owner, renewed by it, refused to others while it lives, handed
//! over at once on release and after expiry otherwise, with a new epoch on every change of leader.

use std::sync::Arc;
use std::time::Duration;

use lookout_cluster::leader::{self, Leadership};
use lookout_cluster::partitions;

use crate::support;

#[tokio::test]
async fn one_owner_leads_until_it_releases_or_lets_the_lease_lapse() {
    let Some(db) = support::pg().await else {
        return;
    };
    partitions::migrate(&db.pool, Duration::from_secs(5))
        .await
        .unwrap();
    let lease = Duration::from_secs(2);
    let a = Leadership::new(db.pool.clone(), "ingest", "a", lease).unwrap();
    let b = Leadership::new(db.pool.clone(), "ingest", "b", lease).unwrap();
    let other = Leadership::new(db.pool.clone(), "another-role", "b", lease).unwrap();

    assert_eq!(a.acquire_or_renew().await.unwrap(), Some(1));
    assert_eq!(b.acquire_or_renew().await.unwrap(), None, "a leads");
    assert_eq!(a.acquire_or_renew().await.unwrap(), Some(1), "renewed");
    assert_eq!(
        other.acquire_or_renew().await.unwrap(),
        Some(1),
        "names are apart"
    );

    a.release().await.unwrap();
    assert_eq!(
        b.acquire_or_renew().await.unwrap(),
        Some(2),
        "handed over at once"
    );
    assert_eq!(a.acquire_or_renew().await.unwrap(), None);

    // b stops renewing: a takes over once the lease lapsed on the database clock.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    assert_eq!(a.acquire_or_renew().await.unwrap(), Some(3));
    db.teardown().await;
}

#[tokio::test]
async fn the_run_loop_reports_leadership_and_hands_it_over_on_shutdown() {
    let Some(db) = support::pg().await else {
        return;
    };
    partitions::migrate(&db.pool, Duration::from_secs(5))
        .await
        .unwrap();
    let lease = Duration::from_millis(1500);
    let run = |owner: &str| {
        let leadership =
            Arc::new(Leadership::new(db.pool.clone(), "ingest", owner, lease).unwrap());
        let (tx, handle) = leader::leader();
        let token = sentinel::CancellationToken::new();
        let task = sentinel::spawn(
            format!("leader-{owner}"),
            leader::run(leadership, tx, token.clone()),
        );
        (handle, token, task)
    };
    let (mut a, a_stop, a_task) = run("a");
    tokio::time::timeout(Duration::from_secs(5), async {
        while !a.is_leading() {
            a.changed().await;
        }
    })
    .await
    .expect("a leads");
    let (mut b, b_stop, b_task) = run("b");
    tokio::time::sleep(lease).await;
    assert!(!b.is_leading(), "one leader at a time");
    a_stop.cancel();
    a_task.await.unwrap();
    assert!(!a.is_leading(), "a stopped leading");
    tokio::time::timeout(Duration::from_secs(3), async {
        while !b.is_leading() {
            b.changed().await;
        }
    })
    .await
    .expect("b leads within a renewal period of the release");
    assert_eq!(b.state().epoch, Some(2));
    b_stop.cancel();
    b_task.await.unwrap();
    db.teardown().await;
}

#[tokio::test]
async fn a_patient_candidate_takes_over_only_after_the_others_had_their_chance() {
    let Some(db) = support::pg().await else {
        return;
    };
    partitions::migrate(&db.pool, Duration::from_secs(5))
        .await
        .unwrap();
    let lease = Duration::from_secs(1);
    let old = Leadership::new(db.pool.clone(), "ingest", "old", lease).unwrap();
    let fresh = Leadership::new(db.pool.clone(), "ingest", "fresh", lease).unwrap();
    fresh.set_patience(Duration::from_secs(2));
    let mature = Leadership::new(db.pool.clone(), "ingest", "mature", lease).unwrap();
    assert_eq!(old.acquire_or_renew().await.unwrap(), Some(1));

    // The old leader dies: its lease lapses.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    assert_eq!(
        fresh.acquire_or_renew().await.unwrap(),
        None,
        "the patient candidate waits"
    );
    assert_eq!(mature.acquire_or_renew().await.unwrap(), Some(2));
    assert_eq!(
        mature.acquire_or_renew().await.unwrap(),
        Some(2),
        "renewing one's own lease never waits"
    );

    // The mature one dies too: the patient one takes over once its patience is spent.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    assert_eq!(fresh.acquire_or_renew().await.unwrap(), None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fresh.acquire_or_renew().await.unwrap(), Some(3));
    db.teardown().await;
}
