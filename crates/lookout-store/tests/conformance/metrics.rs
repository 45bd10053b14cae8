//! The dispatcher's metrics, read back through a debugging recorder (SQLite: metrics do not
//! depend on the backend).

use std::time::Duration;

use jiff::Timestamp;
use lookout_store::{Dispatcher, DispatcherConfig, State};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio_util::sync::CancellationToken;

use crate::support::{Action, Kind, Recorder, realtime, run, secs};

/// Name, labels and value of one recorded metric.
type Sample = (String, Vec<(String, String)>, DebugValue);

fn value<'a>(
    snapshot: &'a [Sample],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels.len() == l.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
}

#[test]
fn outcomes_expiry_and_queue_gauges_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(Kind::Sqlite, |db| async move {
            let now = Timestamp::now();
            db.store
                .commit_at(now - secs(49 * 3600), &[], &realtime("old", 2), &[])
                .await
                .unwrap();
            let mut fresh = realtime("fine", 1);
            fresh.extend(realtime("poison", 1));
            fresh.extend(realtime("bounce", 1));
            db.store.commit(&[], &fresh, &[]).await.unwrap();
            let rec = Recorder::new();
            rec.always("poison", Action::Panic("boom"));
            rec.always("bounce", Action::Permanent("550"));
            let mut config = DispatcherConfig::default();
            config.poll_interval = Duration::from_millis(20);
            let d = Dispatcher::new(db.store.clone(), rec, config);
            let cancel = CancellationToken::new();
            let store = db.store.clone();
            let stop = async {
                loop {
                    let counts = store.count_by_state().await.unwrap();
                    if !counts.contains_key(&State::Pending) && !counts.contains_key(&State::Leased)
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                cancel.cancel();
            };
            let (r, ()) = tokio::join!(d.run(cancel.clone()), stop);
            r.unwrap();
        }));
    });
    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, v)| {
            let (_, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, v)
        })
        .collect();
    let counter = |name: &str, labels: &[(&str, &str)]| value(&snapshot, name, labels);
    let wh = ("channel", "webhook");
    assert_eq!(
        counter("lookout_notifications_expired_total", &[wh]),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        counter("lookout_notifications_dead_total", &[wh]),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        counter(
            "lookout_notifications_total",
            &[wh, ("outcome", "delivered")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        counter("lookout_notifications_total", &[wh, ("outcome", "dead")]),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        counter("lookout_notifications_total", &[wh, ("outcome", "expired")]),
        Some(&DebugValue::Counter(2))
    );
    match counter("lookout_delivery_duration_seconds", &[wh]) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 3),
        other => panic!("no delivery histogram: {other:?}"),
    }
    assert!(counter("lookout_outbox_pending", &[]).is_some());
    assert!(counter("lookout_outbox_oldest_pending_age_seconds", &[]).is_some());
}
