//! Claims are fair across organisations (issue 9, isolation): one organisation's backlog does
//! not starve another's. Ordering assertions, not timing ones: with 5,000 due rows of org A
//! queued first and 10 of org B after them, the first claim batch holds all of B's rows.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{Delivery, NewNotification};
use lookout_store::{Dispatcher, DispatcherConfig};

use crate::conformance;
use crate::support::{Recorder, TestDb, notification, secs, t0};

conformance!(
    first_claim_holds_the_small_orgs_rows,
    dispatcher_delivers_the_small_org_in_its_first_round,
    one_org_claims_oldest_first_in_full_batches,
);

const LEASE: Duration = Duration::from_secs(30);

/// `n` realtime notifications of organisation `org` (vessels 1..=n, distinct dedupe keys).
fn of_org(org: &str, n: u32) -> Vec<NewNotification> {
    (1..=n)
        .map(|mmsi| {
            let mut note = notification("fair", org, mmsi, Delivery::Realtime);
            note.org_id = org.into();
            note.dedupe_key = format!("{org}-{mmsi}");
            note
        })
        .collect()
}

/// 5,000 of org A at t0, then 10 of org B a second later; returns B's ids.
async fn queue_a_then_b(db: &TestDb) -> HashSet<String> {
    for chunk in of_org("org-a", 5000).chunks(1000) {
        db.store.commit_at(t0(), &[], chunk, &[]).await.unwrap();
    }
    db.store
        .commit_at(t0() + secs(1), &[], &of_org("org-b", 10), &[])
        .await
        .unwrap();
    let b: HashSet<String> = db
        .store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n.new.org_id == "org-b")
        .map(|(n, _)| n.id)
        .collect();
    assert_eq!(b.len(), 10);
    b
}

async fn first_claim_holds_the_small_orgs_rows(db: Arc<TestDb>) {
    let b = queue_a_then_b(&db).await;
    let first = db
        .store
        .claim_notifications("w", 256, LEASE, t0() + secs(2))
        .await
        .unwrap();
    let claimed: HashSet<String> = first.notifications.iter().map(|n| n.id.clone()).collect();
    assert!(
        b.is_subset(&claimed),
        "org B's rows are not all in the first batch"
    );
    // Each organisation gets half the batch; B fills only 10 of its 128.
    let n_a = first
        .notifications
        .iter()
        .filter(|n| n.new.org_id == "org-a")
        .count();
    assert_eq!(n_a, 128);
    // The batch is in round-robin order: B's rows are among its first 20.
    let first_b = first
        .notifications
        .iter()
        .take(20)
        .filter(|n| n.new.org_id == "org-b")
        .count();
    assert_eq!(first_b, 10);
    // With B done, A gets whole batches again, oldest first.
    let second = db
        .store
        .claim_notifications("w", 256, LEASE, t0() + secs(2))
        .await
        .unwrap();
    assert_eq!(second.notifications.len(), 256);
    assert!(second.notifications.iter().all(|n| n.new.org_id == "org-a"));
}

async fn dispatcher_delivers_the_small_org_in_its_first_round(db: Arc<TestDb>) {
    let b = queue_a_then_b(&db).await;
    let rec = Recorder::new();
    let config = DispatcherConfig::default().with_owner("fair");
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    let report = d.round(t0() + secs(2)).await.unwrap();
    let delivered: HashSet<String> = rec.delivered_ids().into_iter().collect();
    assert!(
        b.is_subset(&delivered),
        "org B waited behind org A's backlog: {} of 10 delivered in the first round of {}",
        b.intersection(&delivered).count(),
        report.n_delivered
    );
    assert!(report.n_delivered < 5010);
}

async fn one_org_claims_oldest_first_in_full_batches(db: Arc<TestDb>) {
    for (i, chunk) in of_org("solo", 600).chunks(200).enumerate() {
        let at = t0() + secs(i64::try_from(i).unwrap());
        db.store.commit_at(at, &[], chunk, &[]).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let c = db
            .store
            .claim_notifications("w", 256, LEASE, t0() + secs(5))
            .await
            .unwrap();
        seen.extend(c.notifications.into_iter().map(|n| n.created_at));
    }
    assert_eq!(seen.len(), 600);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
}
