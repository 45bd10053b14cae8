//! The dispatcher end to end on a real database: retries, dead letters, panics, TTL, volume,
//! concurrent dispatchers, graceful stop.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lookout_store::{Dispatcher, DispatcherConfig, State};
use tokio_util::sync::CancellationToken;

use crate::conformance;
use crate::support::{Action, Recorder, TestDb, realtime, secs, t0};

conformance!(
    transient_failures_retry_then_deliver,
    retry_after_is_honoured,
    permanent_failure_is_dead_at_once,
    attempts_exhausted_is_dead,
    panic_dead_letters_only_its_notification,
    ttl_expires_and_counts,
    thousand_notifications_all_delivered,
    concurrent_dispatchers_never_deliver_twice,
    stop_finishes_in_flight_sends,
    long_sends_keep_their_lease,
    new_work_wakes_the_dispatcher,
);

fn config(owner: &str) -> DispatcherConfig {
    let mut config = DispatcherConfig::default().with_owner(owner);
    config.backoff_base = Duration::from_secs(10);
    config.backoff_max = Duration::from_secs(60);
    config.poll_interval = Duration::from_millis(50);
    config.max_attempts = 4;
    config
}

async fn state_of(db: &TestDb, id: &str) -> lookout_store::Status {
    db.store.status(id).await.unwrap().unwrap()
}

async fn transient_failures_retry_then_deliver(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("flaky", 1), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.script(
        "flaky",
        vec![Action::Transient(None), Action::Transient(None)],
    );
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));

    let r = d.round(t0()).await.unwrap();
    assert_eq!((r.n_claimed, r.n_retry), (1, 1));
    let id = db.store.list_notifications().await.unwrap()[0].0.id.clone();
    let st = state_of(&db, &id).await;
    assert_eq!(st.state, State::RetryScheduled);
    assert_eq!(st.last_error.as_deref(), Some("flaky is flaky"));
    // Not due before its retry time. The backoff has full jitter (anywhere in 0..10 s after
    // the attempt), so the due time is read, not guessed: "not due at +1 s" failed about one
    // run in ten.
    let org = db.store.list_notifications().await.unwrap()[0]
        .0
        .new
        .org_id
        .clone();
    let due = db
        .store
        .notification(&org, &id)
        .await
        .unwrap()
        .unwrap()
        .available_at;
    assert!(due >= t0() && due <= t0() + secs(11), "{due}");
    let just_before = due - jiff::SignedDuration::from_millis(1);
    assert_eq!(d.round(just_before).await.unwrap().n_claimed, 0);
    assert_eq!(d.round(t0() + secs(11)).await.unwrap().n_retry, 1);
    // Second backoff: up to 20 s after the second attempt.
    let r = d.round(t0() + secs(40)).await.unwrap();
    assert_eq!(r.n_delivered, 1);
    assert_eq!(*rec.delivered.lock().unwrap(), vec![(id.clone(), 3)]);
    let st = state_of(&db, &id).await;
    assert_eq!(
        (st.state, st.attempt, st.last_error),
        (State::Delivered, 3, None)
    );
    // The delivery history: every attempt, when its outcome was recorded, and why it failed.
    let org = db.store.list_notifications().await.unwrap()[0]
        .0
        .new
        .org_id
        .clone();
    let attempts = db.store.notification_attempts(&org, &id).await.unwrap();
    // `at`: the round's time plus the milliseconds the round took, in whole seconds after t0.
    let seen: Vec<(i64, i64, &str, Option<&str>)> = attempts
        .iter()
        .map(|a| {
            let after = a.at.duration_since(t0()).as_secs();
            (a.attempt, after, a.outcome.as_str(), a.error.as_deref())
        })
        .collect();
    let flaky = Some("flaky is flaky");
    assert_eq!(
        seen,
        [
            (1, 0, "retry_scheduled", flaky),
            (2, 11, "retry_scheduled", flaky),
            (3, 40, "delivered", None),
        ]
    );
    assert!(
        db.store
            .notification_attempts("another-org", &id)
            .await
            .unwrap()
            .is_empty(),
        "another organisation sees no attempt"
    );
}

async fn retry_after_is_honoured(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("limited", 1), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.script(
        "limited",
        vec![Action::Transient(Some(Duration::from_secs(600)))],
    );
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    assert_eq!(d.round(t0()).await.unwrap().n_retry, 1);
    // Backoff alone would allow a retry after 10 s; the server asked for 600.
    assert_eq!(d.round(t0() + secs(300)).await.unwrap().n_claimed, 0);
    assert_eq!(d.round(t0() + secs(601)).await.unwrap().n_delivered, 1);
}

async fn permanent_failure_is_dead_at_once(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("bounce", 1), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("bounce", Action::Permanent("550 no such user"));
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let r = d.round(t0()).await.unwrap();
    assert_eq!((r.n_claimed, r.n_dead, r.n_retry), (1, 1, 0));
    let (n, st) = db.store.list_notifications().await.unwrap().remove(0);
    assert_eq!((st.state, st.attempt), (State::Dead, 1));
    assert_eq!(
        st.last_error.as_deref(),
        Some("550 no such user"),
        "{}",
        n.id
    );
    assert_eq!(d.round(t0() + secs(3600)).await.unwrap().n_claimed, 0);
    assert_eq!(*rec.calls.lock().unwrap(), 1);
}

async fn attempts_exhausted_is_dead(db: Arc<TestDb>) {
    db.store
        .commit_at(t0(), &[], &realtime("down", 1), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("down", Action::Transient(None));
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let mut now = t0();
    for _ in 0..3 {
        assert_eq!(d.round(now).await.unwrap().n_retry, 1);
        now += secs(3600);
    }
    assert_eq!(d.round(now).await.unwrap().n_dead, 1);
    let st = db.store.list_notifications().await.unwrap().remove(0).1;
    assert_eq!((st.state, st.attempt), (State::Dead, 4));
    assert_eq!(
        st.last_error.as_deref(),
        Some("gave up after 4 attempts: down is flaky")
    );
}

async fn panic_dead_letters_only_its_notification(db: Arc<TestDb>) {
    let mut notes = realtime("fine", 9);
    notes.extend(realtime("poison", 1));
    db.store.commit_at(t0(), &[], &notes, &[]).await.unwrap();
    let rec = Recorder::new();
    rec.always("poison", Action::Panic("template exploded for rule poison"));
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let r = d.round(t0()).await.unwrap();
    assert_eq!((r.n_claimed, r.n_delivered, r.n_dead), (10, 9, 1));
    for (n, st) in db.store.list_notifications().await.unwrap() {
        if n.new.rule_id == "poison" {
            assert_eq!(st.state, State::Dead);
            assert_eq!(
                st.last_error.as_deref(),
                Some("panicked: template exploded for rule poison")
            );
        } else {
            assert_eq!(st.state, State::Delivered, "{}", n.id);
        }
    }
}

async fn ttl_expires_and_counts(db: Arc<TestDb>) {
    let now = t0();
    db.store
        .commit_at(now - secs(49 * 3600), &[], &realtime("old", 3), &[])
        .await
        .unwrap();
    db.store
        .commit_at(now - secs(47 * 3600), &[], &realtime("recent", 1), &[])
        .await
        .unwrap();
    let stats = db.store.outbox_stats().await.unwrap();
    assert_eq!(stats.n_pending, 4);
    assert_eq!(stats.oldest_created_at, Some(now - secs(49 * 3600)));
    let rec = Recorder::new();
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let r = d.round(now).await.unwrap();
    assert_eq!((r.n_expired, r.n_delivered), (3, 1));
    assert_eq!(db.store.outbox_stats().await.unwrap(), Default::default());
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Expired), Some(&3));
    assert_eq!(counts.get(&State::Delivered), Some(&1));
    // Expired rows are kept, never deleted, and never sent.
    assert_eq!(db.store.list_notifications().await.unwrap().len(), 4);
    assert_eq!(rec.delivered_ids().len(), 1);
    assert_eq!(d.round(now + secs(3600)).await.unwrap().n_expired, 0);
}

/// Runs `dispatchers` until `done` says so (checked every 20 ms, at most `limit`), then stops them.
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

async fn thousand_notifications_all_delivered(db: Arc<TestDb>) {
    let notes = realtime("bulk", 1000);
    for chunk in notes.chunks(250) {
        db.store.commit(&[], chunk, &[]).await.unwrap();
    }
    let rec = Recorder::new();
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let store = db.store.clone();
    let started = std::time::Instant::now();
    run_until(vec![d], Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.count_by_state().await.unwrap().get(&State::Delivered) == Some(&1000) }
    })
    .await;
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&1000), "{counts:?}");
    let ids = rec.delivered_ids();
    assert_eq!(ids.len(), 1000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1000);
    println!(
        "{:?}: 1000 notifications delivered in {:?}",
        db.kind,
        started.elapsed()
    );
}

async fn concurrent_dispatchers_never_deliver_twice(db: Arc<TestDb>) {
    db.store
        .commit(&[], &realtime("shared", 300), &[])
        .await
        .unwrap();
    let mut recorders = Vec::new();
    let mut dispatchers = Vec::new();
    for owner in ["a", "b"] {
        let rec = Recorder::new();
        // Slow sends so both dispatchers are busy at once.
        rec.always("shared", Action::Sleep(Duration::from_millis(2)));
        let mut config = config(owner);
        config.batch_size = 16;
        // Each dispatcher gets its own store handle (own pool), like two instances.
        dispatchers.push(Dispatcher::new(db.reopen().await, rec.clone(), config));
        recorders.push(rec);
    }
    let store = db.store.clone();
    run_until(dispatchers, Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.count_by_state().await.unwrap().get(&State::Delivered) == Some(&300) }
    })
    .await;
    // A multiset: a duplicate inside one dispatcher counts as much as one across both.
    let mut times: std::collections::HashMap<String, usize> = Default::default();
    for rec in &recorders {
        for id in rec.delivered_ids() {
            *times.entry(id).or_default() += 1;
        }
    }
    assert_eq!(times.len(), 300);
    assert!(
        times.values().all(|n| *n == 1),
        "no notification delivered twice"
    );
    let a = recorders[0].delivered_ids();
    let b = recorders[1].delivered_ids();
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both dispatchers took work: a={} b={}",
        a.len(),
        b.len()
    );
    println!(
        "dispatcher a delivered {}, b delivered {}",
        a.len(),
        b.len()
    );
    for rec in &recorders {
        assert!(
            rec.delivered
                .lock()
                .unwrap()
                .iter()
                .all(|(_, attempt)| *attempt == 1)
        );
    }
}

async fn stop_finishes_in_flight_sends(db: Arc<TestDb>) {
    db.store
        .commit(&[], &realtime("slow", 3), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("slow", Action::Sleep(Duration::from_millis(300)));
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config("w"));
    let cancel = CancellationToken::new();
    let stop = async {
        // Cancel while the three sends are in flight.
        while *rec.calls.lock().unwrap() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(d.run(cancel.clone()), stop);
    result.unwrap();
    assert_eq!(rec.delivered_ids().len(), 3);
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&3), "{counts:?}");
}

async fn long_sends_keep_their_lease(db: Arc<TestDb>) {
    // Sends take longer than the lease; renewal (every third of it) keeps them owned, so a
    // second worker polling meanwhile claims nothing and nothing is sent twice.
    db.store
        .commit(&[], &realtime("long", 4), &[])
        .await
        .unwrap();
    let rec = Recorder::new();
    rec.always("long", Action::Sleep(Duration::from_millis(2000)));
    let mut config = config("a");
    config.lease = Duration::from_millis(1200);
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    let cancel = CancellationToken::new();
    let other = db.reopen().await;
    let watch = async {
        while *rec.calls.lock().unwrap() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut n_stolen = 0;
        while rec.delivered_ids().len() < 4 {
            let claimed = other
                .claim_notifications("b", 10, Duration::from_secs(60), jiff::Timestamp::now())
                .await
                .unwrap();
            n_stolen += claimed.notifications.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cancel.cancel();
        n_stolen
    };
    let (result, n_stolen) = tokio::join!(d.run(cancel.clone()), watch);
    result.unwrap();
    assert_eq!(n_stolen, 0, "a renewed lease was claimed by another worker");
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&4), "{counts:?}");
}

async fn new_work_wakes_the_dispatcher(db: Arc<TestDb>) {
    // Polling is 60 s: delivery within the 20 s limit below means the wake-up worked. On
    // PostgreSQL the work is committed through another store (another instance): LISTEN/NOTIFY;
    // on SQLite through the same store: the in-process signal.
    let rec = Recorder::new();
    let mut config = config("w");
    config.poll_interval = Duration::from_secs(60);
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    let writer = match db.kind {
        crate::support::Kind::Postgres => db.reopen().await,
        crate::support::Kind::Sqlite => db.store.clone(),
    };
    let cancel = CancellationToken::new();
    let feed = async {
        for round in 0..3u32 {
            // Let the dispatcher go idle first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let notes: Vec<_> = realtime("wake", 3 * (round + 1))
                .into_iter()
                .skip(3 * round as usize)
                .collect();
            writer.commit(&[], &notes, &[]).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while rec.delivered_ids().len() < 3 * (round as usize + 1)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(d.run(cancel.clone()), feed);
    result.unwrap();
    assert_eq!(
        rec.delivered_ids().len(),
        9,
        "woken for each commit without waiting for the poll"
    );
}
