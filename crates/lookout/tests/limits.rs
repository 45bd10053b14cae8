//! `[dispatcher] concurrency` reaches the dispatcher per channel: a channel named keeps its own
//! limit, one not named gets the default (they were once collapsed to the largest).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{
    ChannelKind, Deliver, Delivery, DigestBatch, Event, EventKind, NewNotification, Notification,
    SendError,
};
use lookout_store::{Dispatcher, DispatcherOptions, OutboxConfig, Store};

/// Holds every send until released, counting sends in flight per channel.
struct Gate {
    in_flight: Mutex<BTreeMap<ChannelKind, usize>>,
    most: Mutex<BTreeMap<ChannelKind, usize>>,
    release: tokio::sync::Semaphore,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            in_flight: Mutex::default(),
            most: Mutex::default(),
            release: tokio::sync::Semaphore::new(0),
        }
    }

    fn in_flight(&self) -> BTreeMap<ChannelKind, usize> {
        self.in_flight.lock().unwrap().clone()
    }
}

impl Deliver for Gate {
    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        let channel = n.new.channel;
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let now = in_flight.entry(channel).or_default();
            *now += 1;
            let mut most = self.most.lock().unwrap();
            let most = most.entry(channel).or_default();
            *most = (*most).max(*now);
        }
        // The semaphore is never closed, so acquiring only waits.
        if let Ok(permit) = self.release.acquire().await {
            permit.forget();
        }
        *self.in_flight.lock().unwrap().entry(channel).or_default() -= 1;
        Ok(())
    }

    async fn deliver_digest(&self, _digest: &DigestBatch) -> Result<(), SendError> {
        Ok(())
    }
}

fn event() -> Event {
    Event {
        kind: EventKind::Entered,
        mmsi: 512_900_001,
        vessel_name: None,
        area_id: "a".into(),
        area_name: "A".into(),
        at: "2024-12-31T11:00:00Z".parse().unwrap(),
        lat: 0.0,
        lon: 0.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    }
}

fn notification(rule: &str, channel: ChannelKind, event: &Event) -> NewNotification {
    NewNotification {
        silence_id: None,
        dedupe_key: NewNotification::dedupe_key_for(rule, channel, event),
        org_id: "o".into(),
        user_id: "u".into(),
        rule_id: rule.into(),
        channel,
        destination: "d".into(),
        delivery: Delivery::Realtime,
        event: event.clone(),
    }
}

#[tokio::test]
async fn each_channel_gets_its_own_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let event = event();
    let queued: Vec<NewNotification> = (0..4)
        .flat_map(|i| {
            [ChannelKind::Slack, ChannelKind::Webhook]
                .map(|c| notification(&format!("r{i}"), c, &event))
        })
        .collect();
    store
        .commit(std::slice::from_ref(&event), &queued, &[])
        .await
        .unwrap();

    let options: DispatcherOptions =
        toml::from_str("concurrency = { slack = 3, webhook = 1 }").unwrap();
    let config = options.into_config(&OutboxConfig::default());
    let gate = Arc::new(Gate::new());
    let dispatcher = Dispatcher::new(store, Arc::clone(&gate), config);

    let round = dispatcher.round(Timestamp::now());
    let watch = async {
        // Wait (bounded) until both channels are at their limits, then let everything through.
        let full = BTreeMap::from([(ChannelKind::Slack, 3), (ChannelKind::Webhook, 1)]);
        for _ in 0..1000 {
            if gate.in_flight() == full {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = gate.in_flight();
        gate.release.add_permits(100);
        seen
    };
    let (report, seen) = tokio::join!(round, watch);
    assert_eq!(report.unwrap().n_delivered, 8);
    let full = BTreeMap::from([(ChannelKind::Slack, 3), (ChannelKind::Webhook, 1)]);
    assert_eq!(seen, full, "both channels reach their own limit");
    assert_eq!(*gate.most.lock().unwrap(), full, "and never exceed it");
}
