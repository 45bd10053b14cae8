//! One test per hole of issue 9 that lives in the store: each failed before its fix.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{ChannelKind, Delivery};
use lookout_store::{
    Cadence, DigestSchedule, Dispatcher, DispatcherConfig, JobKind, State, Store, StoreOptions,
};
use tokio_util::sync::CancellationToken;

use crate::conformance;
use crate::support::{Action, Recorder, TestDb, notification, realtime, secs, t0};

conformance!(
    weekly_digest_items_outlive_the_ttl,
    undecodable_rows_are_dead_lettered_and_the_rest_delivered,
    writers_queue_instead_of_failing_busy,
    renewal_is_by_token,
    sweep_never_expires_a_live_lease,
    shutdown_releases_unstarted_claims_behind_a_hung_channel,
    lapsed_lease_under_two_live_dispatchers_is_sent_once,
    racing_instances_create_a_new_digest_once,
    db_clock_is_used_for_leases,
);

fn config(owner: &str) -> DispatcherConfig {
    let mut config = DispatcherConfig::default().with_owner(owner);
    config.poll_interval = Duration::from_millis(50);
    config
}

async fn run_until<F, Fut>(dispatchers: Vec<Dispatcher<Recorder>>, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let cancel = CancellationToken::new();
    let runs = futures::future::join_all(dispatchers.into_iter().map(|d| d.run(cancel.clone())));
    let watch = async {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline && !done().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (results, ()) = tokio::join!(runs, watch);
    for r in results {
        r.unwrap();
    }
}

/// Hole 1: a weekly digest's items wait up to a week; the TTL sweep (48 h) must not expire
/// the start of the week before the digest is cut.
async fn weekly_digest_items_outlive_the_ttl(db: Arc<TestDb>) {
    let sched = [DigestSchedule {
        user_id: "wes".into(),
        channel: ChannelKind::Webhook,
        destination: "http://127.0.0.1:9/wes".into(),
        timezone: "UTC".into(),
        at: "08:00".parse().unwrap(),
        cadence: Cadence::Weekly(jiff::civil::Weekday::Monday),
    }];
    // Monday 2025-06-02 08:00 UTC is a send time; items from the Tuesday before onwards.
    let monday: Timestamp = "2025-06-02T08:00:00Z".parse().unwrap();
    for (i, days_before) in [6i64, 4, 1].into_iter().enumerate() {
        db.store
            .commit_at(
                monday - secs(days_before * 86_400),
                &[],
                &[notification(
                    "weekly",
                    "wes",
                    i as u32 + 1,
                    Delivery::Digest,
                )],
                &[],
            )
            .await
            .unwrap();
    }
    let expired = db
        .store
        .expire(monday + secs(60), Duration::from_secs(48 * 3600))
        .await
        .unwrap();
    assert!(expired.is_empty(), "{expired:?}");
    let created = db
        .store
        .schedule_digests(&sched, monday + secs(60))
        .await
        .unwrap();
    assert_eq!(created.created.len(), 1);
    let digests = db.store.list_digests().await.unwrap();
    assert_eq!(digests[0].n_items, 3, "the whole week is in the digest");
}

/// Hole 2: a claimed row that does not decode (a channel this version does not know) is
/// dead-lettered with the reason; the rest of the batch is delivered; a bad digest does not
/// drop the notifications claimed before it.
async fn undecodable_rows_are_dead_lettered_and_the_rest_delivered(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("mixed", 4), &[])
        .await
        .unwrap();
    db.store
        .commit_at(
            t0(),
            &[],
            &[notification("daily", "dora", 9, Delivery::Digest)],
            &[],
        )
        .await
        .unwrap();
    let sched = [DigestSchedule {
        user_id: "dora".into(),
        channel: ChannelKind::Webhook,
        destination: "http://127.0.0.1:9/dora".into(),
        timezone: "UTC".into(),
        at: "08:00".parse().unwrap(),
        cadence: Cadence::Daily,
    }];
    let now = t0() + secs(86_400);
    assert_eq!(
        db.store
            .schedule_digests(&sched, now)
            .await
            .unwrap()
            .created
            .len(),
        1
    );
    let victim = db
        .store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .find(|(n, _)| n.new.event.mmsi == 1 && n.new.rule_id == "mixed")
        .map(|(n, _)| n.id)
        .unwrap();
    db.exec("UPDATE outbox SET channel = 'pigeon' WHERE dedupe_key LIKE 'mixed:webhook:1:%'")
        .await;
    db.exec("UPDATE outbox SET event = '{not json' WHERE delivery = 'digest'")
        .await;
    let rec = Recorder::new();
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let report = d.round(now).await.unwrap();
    assert_eq!(report.n_delivered, 3, "{report:?}");
    assert_eq!(report.n_dead, 2, "{report:?}");
    let status = db.store.status(&victim).await.unwrap().unwrap();
    assert_eq!(status.state, State::Dead);
    let reason = status.last_error.unwrap_or_default();
    assert!(reason.contains("pigeon"), "{reason}");
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(
        counts.get(&State::Dead),
        Some(&2),
        "the bad row and the bad digest's item: {counts:?}"
    );
    assert_eq!(counts.get(&State::Delivered), Some(&3), "{counts:?}");
    let digests = db.store.list_digests().await.unwrap();
    assert_eq!(digests[0].state, State::Dead);
    // Nothing is left leased to cycle until the TTL.
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Leased), None, "{counts:?}");
}

/// Hole 5: on SQLite, the recorder's large commits and the dispatcher's outcome flushes share
/// one writer queue: even with a 1 ms busy timeout no write fails and no lease is lost.
async fn writers_queue_instead_of_failing_busy(db: Arc<TestDb>) {
    let mut options = StoreOptions::default();
    options.busy_timeout = Duration::from_millis(1);
    let store = Store::connect_with(&db.url, &options).await.unwrap();
    let rec = Recorder::new();
    let d = Dispatcher::new(store.clone(), rec.clone(), config("w"));
    let cancel = CancellationToken::new();
    let writer = store.clone();
    let feed = async {
        for round in 0..10u32 {
            let notes: Vec<_> = realtime("busy", 500 * (round + 1))
                .into_iter()
                .skip(500 * round as usize)
                .collect();
            writer.commit(&[], &notes, &[]).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while rec.delivered_ids().len() < 5000 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(d.run(cancel.clone()), feed);
    result.unwrap();
    let counts = store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&5000), "{counts:?}");
    assert_eq!(rec.delivered_ids().len(), 5000, "each sent once");
}

/// Hole 6: renewal addresses a lease by its token: rows re-claimed under a new token are
/// renewed under that one only, and the old token renews nothing.
async fn renewal_is_by_token(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("r", 3), &[])
        .await
        .unwrap();
    let lease = Duration::from_secs(30);
    let a = db
        .store
        .claim_notifications("a", 10, lease, t0())
        .await
        .unwrap();
    assert_eq!(a.notifications.len(), 3);
    // a's lease lapses; a itself claims again (a new token).
    let a2 = db
        .store
        .claim_notifications("a", 10, lease, t0() + secs(31))
        .await
        .unwrap();
    assert_eq!(a2.notifications.len(), 3);
    let now = t0() + secs(40);
    let until = now + secs(30);
    let old = db
        .store
        .renew_tokens(
            JobKind::Notification,
            std::slice::from_ref(&a.lease.token),
            until,
            now,
        )
        .await
        .unwrap();
    assert_eq!(old, 0, "the lapsed token renews nothing");
    let new = db
        .store
        .renew_tokens(
            JobKind::Notification,
            &[a2.lease.token.clone(), a.lease.token],
            until,
            now,
        )
        .await
        .unwrap();
    assert_eq!(new, 3);
    // Renewed: nobody can claim them before `until`.
    let b = db
        .store
        .claim_notifications("b", 10, lease, now + secs(25))
        .await
        .unwrap();
    assert!(b.notifications.is_empty());
}

/// Hole 7 (sweep): a row past its TTL whose holder is mid-send, renewing, is not expired; its
/// outcome is recorded as delivered.
async fn sweep_never_expires_a_live_lease(db: Arc<TestDb>) {
    let now = db.store.db_now().await.unwrap();
    db.store
        .commit_at(now - secs(1), &[], &realtime("ttl", 2), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("ttl", Action::Sleep(Duration::from_millis(2500)));
    let mut config = config("w");
    config.ttl = Duration::from_secs(2);
    config.lease = Duration::from_millis(900);
    config.poll_interval = Duration::from_millis(100);
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    run_until(vec![d], Duration::from_secs(20), || {
        let rec = rec.clone();
        async move { rec.delivered_ids().len() >= 2 }
    })
    .await;
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&2), "{counts:?}");
}

/// Hole 7 (shutdown): claims waiting behind a hung channel are released as soon as shutdown
/// begins, not after the hung send's timeout. Ordering: they are `pending` again while the hung
/// send is still running.
async fn shutdown_releases_unstarted_claims_behind_a_hung_channel(db: Arc<TestDb>) {
    db.store
        .commit(&[], &realtime("hung", 4), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("hung", Action::Sleep(Duration::from_secs(4)));
    let mut config = config("w");
    config.channel_concurrency.insert(ChannelKind::Webhook, 1);
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    let cancel = CancellationToken::new();
    let store = db.store.clone();
    let watch = async {
        while *rec.calls.lock().unwrap() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.cancel();
        loop {
            let counts = store.count_by_state().await.unwrap();
            if counts.get(&State::Pending) == Some(&3) {
                return rec.delivered_ids().len();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (result, n_done_when_released) = tokio::join!(d.run(cancel.clone()), watch);
    result.unwrap();
    assert_eq!(
        n_done_when_released, 0,
        "released before the hung send finished"
    );
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&State::Pending), Some(&3), "{counts:?}");
    let attempts: Vec<u32> = db
        .store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, s)| s.state == State::Pending)
        .map(|(_, s)| s.attempt)
        .collect();
    assert_eq!(attempts, [0, 0, 0], "a release does not count an attempt");
}

/// Hole 12: a lease lapses (its worker died) while two live dispatchers run: the work is taken
/// over and every notification is delivered exactly once (counted as a multiset).
async fn lapsed_lease_under_two_live_dispatchers_is_sent_once(db: Arc<TestDb>) {
    db.store
        .commit(&[], &realtime("lapse", 200), &[])
        .await
        .unwrap();
    // A worker that claims 50 and dies without a word.
    let now = db.store.db_now().await.unwrap();
    let ghost = db
        .store
        .claim_notifications("ghost", 50, Duration::from_millis(700), now)
        .await
        .unwrap();
    assert_eq!(ghost.notifications.len(), 50);
    let mut recorders = Vec::new();
    let mut dispatchers = Vec::new();
    for owner in ["a", "b"] {
        let rec = Recorder::new();
        rec.always("lapse", Action::Sleep(Duration::from_millis(3)));
        let mut config = config(owner);
        config.batch_size = 16;
        config.max_in_flight = 16;
        dispatchers.push(Dispatcher::new(db.reopen().await, rec.clone(), config));
        recorders.push(rec);
    }
    let store = db.store.clone();
    run_until(dispatchers, Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.count_by_state().await.unwrap().get(&State::Delivered) == Some(&200) }
    })
    .await;
    let mut times: HashMap<String, usize> = HashMap::new();
    for rec in &recorders {
        for id in rec.delivered_ids() {
            *times.entry(id).or_default() += 1;
        }
    }
    assert_eq!(times.len(), 200);
    let dups: Vec<_> = times.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "sent more than once: {dups:?}");
    let ghost_ids: Vec<&str> = ghost.notifications.iter().map(|n| n.id.as_str()).collect();
    let retaken: Vec<u32> = recorders
        .iter()
        .flat_map(|r| r.delivered.lock().unwrap().clone())
        .filter(|(id, _)| ghost_ids.contains(&id.as_str()))
        .map(|(_, attempt)| attempt)
        .collect();
    assert_eq!(retaken.len(), 50);
    assert!(retaken.iter().all(|a| *a == 2), "{retaken:?}");
}

/// Hole 12: instances racing to cut a digest that does not exist yet create it once.
async fn racing_instances_create_a_new_digest_once(db: Arc<TestDb>) {
    let sched = [DigestSchedule {
        user_id: "rae".into(),
        channel: ChannelKind::Webhook,
        destination: "http://127.0.0.1:9/rae".into(),
        timezone: "UTC".into(),
        at: "08:00".parse().unwrap(),
        cadence: Cadence::Daily,
    }];
    db.store
        .commit_at(
            t0(),
            &[],
            &[notification("daily", "rae", 1, Delivery::Digest)],
            &[],
        )
        .await
        .unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.reopen().await);
    }
    let now = t0() + secs(86_400);
    let results =
        futures::future::join_all(stores.iter().map(|s| s.schedule_digests(&sched, now))).await;
    let n: usize = results.into_iter().map(|r| r.unwrap().created.len()).sum();
    assert_eq!(n, 1);
    assert_eq!(db.store.list_digests().await.unwrap().len(), 1);
}

/// Hole 4: the dispatcher stamps leases with the database clock.
async fn db_clock_is_used_for_leases(db: Arc<TestDb>) {
    let before = db.store.db_now().await.unwrap();
    // Queued "in the future" by a process whose clock runs 40 s ahead: not claimable yet on the
    // database clock.
    db.store
        .commit_at(before + secs(40), &[], &realtime("ahead", 1), &[])
        .await
        .unwrap();
    db.store
        .commit(&[], &realtime("now", 1), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    run_until(vec![d], Duration::from_secs(10), || {
        let rec = rec.clone();
        async move { !rec.delivered_ids().is_empty() }
    })
    .await;
    let after = db.store.db_now().await.unwrap();
    assert!(before <= after && after.duration_since(before) < jiff::SignedDuration::from_secs(30));
    let notes = db.store.list_notifications().await.unwrap();
    let states: HashMap<&str, State> = notes
        .iter()
        .map(|(n, s)| (n.new.rule_id.as_str(), s.state))
        .collect();
    assert_eq!(states["now"], State::Delivered);
    assert_eq!(
        states["ahead"],
        State::Pending,
        "not claimable before its time on the database clock"
    );
}
