//! Digests: periods in the user's time zone across DST, never empty, exactly once per period
//! even across restarts, delivered through the dispatcher's lease/retry machinery.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use lookout_core::{ChannelKind, Delivery, NewNotification};
use lookout_store::{Cadence, DigestSchedule, Dispatcher, DispatcherConfig, State};

use crate::conformance;
use crate::support::{Action, Recorder, TestDb, notification, secs};

conformance!(
    auckland_april_2025_repeated_hour_sends_once,
    auckland_september_2025_missing_time_sends_once,
    never_an_empty_digest,
    exactly_once_across_restart_and_instances,
    digest_retries_then_delivers_and_dead_takes_items,
    invalid_schedule_does_not_block_others,
);

fn schedule(user: &str, tz: &str, at: &str) -> DigestSchedule {
    DigestSchedule {
        user_id: user.into(),
        channel: ChannelKind::Webhook,
        destination: format!("http://127.0.0.1:9/{user}"),
        timezone: tz.into(),
        at: at.parse().unwrap(),
        cadence: Cadence::Daily,
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn digest_note(user: &str, n: u32) -> NewNotification {
    notification("daily", user, n, Delivery::Digest)
}

/// Simulates `from..to` in 30-minute steps: one digest notification per hour, a scheduling
/// pass every step. Then delivers everything and checks each local day got exactly one
/// digest, at the expected local send times, with every item in exactly one digest.
async fn simulate(db: &TestDb, from: &str, to: &str, expected_local_ends: &[&str]) {
    let sched = [schedule("kiri", "Pacific/Auckland", "02:30")];
    let rec = Recorder::new();
    let d = Dispatcher::new(db.store.clone(), rec.clone(), DispatcherConfig::default());
    let mut n_delivered = 0;
    let mut now = ts(from);
    let mut n = 0;
    while now < ts(to) {
        if now.as_second() % 3600 == 0 {
            n += 1;
            db.store
                .commit_at(now, &[], &[digest_note("kiri", n)], &[])
                .await
                .unwrap();
        }
        db.store.schedule_digests(&sched, now).await.unwrap();
        n_delivered += d.round(now).await.unwrap().n_delivered;
        now += secs(1800);
    }
    let tz = TimeZone::get("Pacific/Auckland").unwrap();
    let digests = db.store.list_digests().await.unwrap();
    let local_ends: Vec<String> = digests
        .iter()
        .map(|d| {
            d.period_end
                .to_zoned(tz.clone())
                .strftime("%F %H:%M %Z")
                .to_string()
        })
        .collect();
    assert_eq!(local_ends, expected_local_ends);
    assert!(digests.iter().all(|d| d.n_items > 0));

    // Each was delivered as it fell due; each notification is in exactly one digest.
    assert_eq!(n_delivered, digests.len());
    assert!(digests.iter().all(|d| d.state == State::Delivered));
    let sent = rec.digests.lock().unwrap().clone();
    let mut items = HashSet::new();
    for digest in &sent {
        assert!(!digest.items.is_empty());
        for item in &digest.items {
            assert!(item.created_at < digest.period_end);
            assert!(items.insert(item.id.clone()), "{} in two digests", item.id);
        }
    }
    // Items created after the last send time wait for the next one.
    let waiting = db
        .store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, st)| st.state == State::Pending)
        .count();
    assert_eq!(items.len() + waiting, n as usize);
    let counts = db.store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Delivered), Some(&(items.len() as u64)));
}

async fn auckland_april_2025_repeated_hour_sends_once(db: Arc<TestDb>) {
    // DST ends 2025-04-06 03:00 NZDT -> 02:00 NZST: 02:30 happens twice.
    simulate(
        &db,
        "2025-04-03T12:00Z", // Apr 4 01:00 NZDT
        "2025-04-07T12:00Z", // Apr 8 00:00 NZST
        &[
            "2025-04-04 02:30 NZDT",
            "2025-04-05 02:30 NZDT",
            "2025-04-06 02:30 NZDT",
            "2025-04-07 02:30 NZST",
        ],
    )
    .await;
}

async fn auckland_september_2025_missing_time_sends_once(db: Arc<TestDb>) {
    // DST starts 2025-09-28 02:00 NZST -> 03:00 NZDT: 02:30 does not exist that day.
    simulate(
        &db,
        "2025-09-25T13:00Z", // Sep 26 01:00 NZST
        "2025-09-29T11:00Z", // Sep 30 00:00 NZDT
        &[
            "2025-09-26 02:30 NZST",
            "2025-09-27 02:30 NZST",
            "2025-09-28 03:30 NZDT",
            "2025-09-29 02:30 NZDT",
        ],
    )
    .await;
}

async fn never_an_empty_digest(db: Arc<TestDb>) {
    let sched = [schedule("ana", "Europe/London", "08:00")];
    let day1 = ts("2025-03-10T09:00Z");
    // Nothing queued: no digest, on any day.
    for day in 0..3 {
        let report = db
            .store
            .schedule_digests(&sched, day1 + secs(day * 86_400))
            .await
            .unwrap();
        assert!(report.created.is_empty());
    }
    // Another user's digest items and ana's realtime ones do not make ana a digest.
    db.store
        .commit_at(
            day1,
            &[],
            &[
                digest_note("bob", 1),
                notification("rt", "ana", 2, Delivery::Realtime),
            ],
            &[],
        )
        .await
        .unwrap();
    let next = day1 + secs(3 * 86_400);
    assert!(
        db.store
            .schedule_digests(&sched, next)
            .await
            .unwrap()
            .created
            .is_empty()
    );
    assert!(db.store.list_digests().await.unwrap().is_empty());
    // One item of hers: one digest with one item.
    db.store
        .commit_at(next, &[], &[digest_note("ana", 3)], &[])
        .await
        .unwrap();
    let report = db
        .store
        .schedule_digests(&sched, next + secs(86_400))
        .await
        .unwrap();
    assert_eq!(report.created.len(), 1);
    let digests = db.store.list_digests().await.unwrap();
    assert_eq!((digests.len(), digests[0].n_items), (1, 1));
}

async fn exactly_once_across_restart_and_instances(db: Arc<TestDb>) {
    let sched = [schedule("sam", "America/New_York", "07:00")];
    let created = ts("2025-11-01T20:00Z");
    db.store
        .commit_at(
            created,
            &[],
            &[digest_note("sam", 1), digest_note("sam", 2)],
            &[],
        )
        .await
        .unwrap();
    let send_time = ts("2025-11-02T12:00Z"); // 07:00 EST, the day DST ends
    let first = db
        .store
        .schedule_digests(&sched, send_time + secs(60))
        .await
        .unwrap();
    assert_eq!(first.created.len(), 1);

    // "Restart": a new process (new pool) checks again in the same period.
    let restarted = db.reopen().await;
    assert!(
        restarted
            .schedule_digests(&sched, send_time + secs(120))
            .await
            .unwrap()
            .created
            .is_empty()
    );

    // A late item dated inside the period: the period's digest exists, so it waits for the next.
    restarted
        .commit_at(send_time - secs(60), &[], &[digest_note("sam", 3)], &[])
        .await
        .unwrap();
    // Two instances racing on the same period: still one digest.
    let other = db.reopen().await;
    let (a, b) = tokio::join!(
        restarted.schedule_digests(&sched, send_time + secs(180)),
        other.schedule_digests(&sched, send_time + secs(180)),
    );
    assert_eq!(a.unwrap().created.len() + b.unwrap().created.len(), 0);
    let digests = db.store.list_digests().await.unwrap();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].n_items, 2);
    // Next day: the late item goes out, once.
    let next_day = send_time + secs(86_400 + 60);
    let (a, b) = tokio::join!(
        restarted.schedule_digests(&sched, next_day),
        other.schedule_digests(&sched, next_day),
    );
    assert_eq!(a.unwrap().created.len() + b.unwrap().created.len(), 1);
    assert_eq!(db.store.list_digests().await.unwrap().len(), 2);
}

async fn digest_retries_then_delivers_and_dead_takes_items(db: Arc<TestDb>) {
    let sched = [
        schedule("flaky", "UTC", "08:00"),
        schedule("gone", "UTC", "08:00"),
    ];
    let t = ts("2025-05-01T07:00Z");
    db.store
        .commit_at(
            t,
            &[],
            &[
                digest_note("flaky", 1),
                digest_note("flaky", 2),
                digest_note("gone", 3),
            ],
            &[],
        )
        .await
        .unwrap();
    let send = ts("2025-05-01T08:00Z");
    assert_eq!(
        db.store
            .schedule_digests(&sched, send)
            .await
            .unwrap()
            .created
            .len(),
        2
    );
    let rec = Recorder::new();
    rec.script("digest:flaky", vec![Action::Transient(None)]);
    rec.always("digest:gone", Action::Permanent("user deleted"));
    let mut config = DispatcherConfig::default();
    config.backoff_base = Duration::from_secs(10);
    let d = Dispatcher::new(db.store.clone(), rec.clone(), config);
    let r = d.round(send).await.unwrap();
    assert_eq!((r.n_claimed, r.n_retry, r.n_dead), (2, 1, 1));
    let r = d.round(send + secs(3600)).await.unwrap();
    assert_eq!((r.n_claimed, r.n_delivered), (1, 1));
    let sent = rec.digests.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].items.len(), 2);
    let digests = db.store.list_digests().await.unwrap();
    let states: HashSet<_> = digests
        .iter()
        .map(|d| (d.user_id.as_str(), d.state, d.attempt))
        .collect();
    assert_eq!(
        states,
        HashSet::from([("flaky", State::Delivered, 2), ("gone", State::Dead, 1)])
    );
    for (n, st) in db.store.list_notifications().await.unwrap() {
        if n.new.user_id == "gone" {
            assert_eq!(st.state, State::Dead);
            assert!(st.last_error.unwrap().ends_with("dead: user deleted"));
        } else {
            assert_eq!(st.state, State::Delivered);
        }
    }
}

async fn invalid_schedule_does_not_block_others(db: Arc<TestDb>) {
    let sched = [
        schedule("bad", "Mars/Olympus", "08:00"),
        schedule("good", "Europe/London", "08:00"),
    ];
    let t = ts("2025-05-01T06:00Z");
    db.store
        .commit_at(
            t,
            &[],
            &[digest_note("bad", 1), digest_note("good", 2)],
            &[],
        )
        .await
        .unwrap();
    let report = db
        .store
        .schedule_digests(&sched, ts("2025-05-01T07:30Z"))
        .await
        .unwrap();
    assert_eq!((report.created.len(), report.n_invalid), (1, 1));
}
