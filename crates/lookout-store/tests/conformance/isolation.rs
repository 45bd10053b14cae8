//! Hole 11: one hanging receiver must not stall the others. An ordering assertion, not a
//! timing one: while one endpoint hangs with 1,000 notifications queued for it (queued first,
//! so they are the oldest), every notification for a second, healthy endpoint is delivered
//! before the hanging endpoint's first timeout fires.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_core::{Deliver, Delivery, DigestBatch, Notification, SendError};
use lookout_store::{Dispatcher, DispatcherConfig};
use tokio_util::sync::CancellationToken;

use crate::conformance;
use crate::support::{TestDb, notification};

conformance!(hanging_destination_does_not_delay_a_healthy_one);

const HANG: &str = "http://127.0.0.1:9/hangs";
const HEALTHY: &str = "http://127.0.0.1:9/healthy";
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Delivered(String),
    TimedOut,
}

/// A channel whose `HANG` destination answers nothing until its timeout.
struct TwoEndpoints {
    log: Mutex<Vec<(Seen, Instant)>>,
}

impl Deliver for TwoEndpoints {
    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        if n.new.destination == HANG {
            tokio::time::sleep(TIMEOUT).await;
            self.log
                .lock()
                .unwrap()
                .push((Seen::TimedOut, Instant::now()));
            return Err(SendError::Transient {
                reason: "timed out".into(),
                retry_after: None,
            });
        }
        self.log
            .lock()
            .unwrap()
            .push((Seen::Delivered(n.id.clone()), Instant::now()));
        Ok(())
    }

    async fn deliver_digest(&self, _: &DigestBatch) -> Result<(), SendError> {
        Ok(())
    }
}

async fn hanging_destination_does_not_delay_a_healthy_one(db: Arc<TestDb>) {
    let note = |user: &str, dest: &str, mmsi: u32| {
        let mut n = notification("iso", user, mmsi, Delivery::Realtime);
        n.destination = dest.into();
        n.dedupe_key = format!("{user}-{mmsi}");
        n
    };
    let hanging: Vec<_> = (1..=1000).map(|i| note("hana", HANG, i)).collect();
    db.store.commit(&[], &hanging, &[]).await.unwrap();
    let healthy: Vec<_> = (1..=100).map(|i| note("hugo", HEALTHY, i)).collect();
    let queued_at = Instant::now();
    db.store.commit(&[], &healthy, &[]).await.unwrap();

    let channel = Arc::new(TwoEndpoints {
        log: Mutex::new(Vec::new()),
    });
    let mut config = DispatcherConfig::default().with_owner("iso");
    config.poll_interval = Duration::from_millis(50);
    let d = Dispatcher::new(db.store.clone(), Arc::clone(&channel), config);
    let cancel = CancellationToken::new();
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = channel.log.lock().unwrap().clone();
            let n_healthy = log
                .iter()
                .filter(|(s, _)| matches!(s, Seen::Delivered(_)))
                .count();
            let timed_out = log.iter().any(|(s, _)| *s == Seen::TimedOut);
            if (n_healthy == 100 && timed_out) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(d.run(cancel.clone()), watch);
    result.unwrap();
    let log = channel.log.lock().unwrap().clone();
    let first_timeout = log
        .iter()
        .position(|(s, _)| *s == Seen::TimedOut)
        .expect("the hanging endpoint timed out");
    let healthy_at: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| matches!(s, Seen::Delivered(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        healthy_at.len(),
        100,
        "every healthy notification delivered"
    );
    assert!(
        healthy_at.iter().all(|i| *i < first_timeout),
        "a healthy notification waited for the hanging endpoint's timeout"
    );
    let mut latencies: Vec<Duration> = log
        .iter()
        .filter(|(s, _)| matches!(s, Seen::Delivered(_)))
        .map(|(_, at)| at.duration_since(queued_at))
        .collect();
    latencies.sort();
    println!(
        "{:?}: healthy endpoint beside a hanging one: p50 {:?}, max {:?} (hang timeout {TIMEOUT:?})",
        db.kind,
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}
