//! Claims, leases and fencing, driven directly through the store API with a simulated clock.

use std::sync::Arc;
use std::time::Duration;

use lookout_store::{JobKind, State};

use crate::conformance;
use crate::support::{TestDb, realtime, secs, t0};

conformance!(
    expired_lease_is_reclaimed_and_old_worker_fenced_out,
    renewal_keeps_the_lease,
    release_gives_work_back
);

const LEASE: Duration = Duration::from_secs(30);

async fn expired_lease_is_reclaimed_and_old_worker_fenced_out(db: Arc<TestDb>) {
    let store = &db.store;
    store
        .commit_at(t0(), &[], &realtime("r1", 3), &[])
        .await
        .unwrap();

    let a = store
        .claim_notifications("worker-a", 10, LEASE, t0())
        .await
        .unwrap();
    assert_eq!(a.notifications.len(), 3);
    assert!(a.notifications.iter().all(|n| n.attempt == 1));
    // While A's lease runs, B gets nothing.
    let b = store
        .claim_notifications("worker-b", 10, LEASE, t0() + secs(10))
        .await
        .unwrap();
    assert!(b.notifications.is_empty());
    let status = store.status(&a.notifications[0].id).await.unwrap().unwrap();
    assert_eq!(status.state, State::Leased);
    assert_eq!(status.lease_owner.as_deref(), Some("worker-a"));

    // A stalls past its lease; B takes the work with a new token.
    let b = store
        .claim_notifications("worker-b", 10, LEASE, t0() + secs(31))
        .await
        .unwrap();
    assert_eq!(b.notifications.len(), 3);
    assert_ne!(a.lease.token, b.lease.token);
    assert!(b.notifications.iter().all(|n| n.attempt == 2));

    // A wakes up: every state change it tries is rejected.
    let id = &a.notifications[0].id;
    let now = t0() + secs(40);
    assert!(
        !store
            .mark_delivered(JobKind::Notification, id, &a.lease.token, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_dead(JobKind::Notification, id, &a.lease.token, "late", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_retry(JobKind::Notification, id, &a.lease.token, now, "late", now)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .renew(
                JobKind::Notification,
                std::slice::from_ref(id),
                &a.lease.token,
                now,
                now
            )
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .status(id)
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("worker-b")
    );

    // B's result stands.
    assert!(
        store
            .mark_delivered(JobKind::Notification, id, &b.lease.token, now)
            .await
            .unwrap()
    );
    assert_eq!(
        store.status(id).await.unwrap().unwrap().state,
        State::Delivered
    );
    // And a final state cannot be changed by anyone any more.
    assert!(
        !store
            .mark_dead(JobKind::Notification, id, &b.lease.token, "again", now)
            .await
            .unwrap()
    );
}

async fn renewal_keeps_the_lease(db: Arc<TestDb>) {
    let store = &db.store;
    store
        .commit_at(t0(), &[], &realtime("r1", 2), &[])
        .await
        .unwrap();
    let a = store
        .claim_notifications("worker-a", 10, LEASE, t0())
        .await
        .unwrap();
    let ids: Vec<String> = a.notifications.iter().map(|n| n.id.clone()).collect();
    let renewed = store
        .renew(
            JobKind::Notification,
            &ids,
            &a.lease.token,
            t0() + secs(50),
            t0() + secs(20),
        )
        .await
        .unwrap();
    assert_eq!(renewed, 2);
    // Past the original lease, but within the renewed one: nothing to claim.
    let b = store
        .claim_notifications("worker-b", 10, LEASE, t0() + secs(40))
        .await
        .unwrap();
    assert!(b.notifications.is_empty());
    let b = store
        .claim_notifications("worker-b", 10, LEASE, t0() + secs(51))
        .await
        .unwrap();
    assert_eq!(b.notifications.len(), 2);
}

async fn release_gives_work_back(db: Arc<TestDb>) {
    let store = &db.store;
    store
        .commit_at(t0(), &[], &realtime("r1", 1), &[])
        .await
        .unwrap();
    let a = store
        .claim_notifications("worker-a", 10, LEASE, t0())
        .await
        .unwrap();
    let id = &a.notifications[0].id;
    assert!(
        store
            .release(JobKind::Notification, id, &a.lease.token, t0())
            .await
            .unwrap()
    );
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!((status.state, status.attempt), (State::Pending, 0));
    let b = store
        .claim_notifications("worker-b", 10, LEASE, t0())
        .await
        .unwrap();
    assert_eq!(b.notifications[0].attempt, 1);
}
