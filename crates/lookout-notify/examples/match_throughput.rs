//! Measures `RuleIndex::match_event` on a synthetic model: 10,000 rules over 100 areas,
//! 1,000 users. Run with `cargo run --release -p lookout-notify --example match_throughput`.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use lookout_core::{ChannelKind, Event, EventKind};
use lookout_notify::RuleIndex;
use lookout_notify::model::{DeliveryMode, Model, Rule, User, UserChannel, VesselSelector};

fn main() {
    let (n_rules, n_areas, n_users) = (10_000, 100, 1_000);
    let mut model = Model::default();
    for a in 0..n_areas {
        model.areas.insert(format!("area-{a}"));
    }
    for u in 0..n_users {
        let mut user = User::new(
            &format!("u{u}"),
            "org",
            &format!("u{u}@example.com"),
            "Pacific/Auckland",
        );
        user.channels
            .push(UserChannel::new(ChannelKind::Email, user.email.clone()));
        model.users.insert(user.id.clone(), user);
    }
    for r in 0..n_rules {
        let vessels = if r % 2 == 0 {
            VesselSelector::Any
        } else {
            VesselSelector::Mmsi(
                (0..20)
                    .map(|i| 512_000_000 + (r * 7 + i) as u32 % 1000)
                    .collect(),
            )
        };
        model.rules.push(Rule {
            id: format!("r{r}"),
            org_id: "org".into(),
            owner: format!("u{}", r % n_users),
            vessels,
            areas: vec![format!("area-{}", r % n_areas)],
            events: [EventKind::Entered, EventKind::Exited].into(),
            gap_threshold: None,
            min_dwell: None,
            delivery: DeliveryMode::Realtime,
            channels: vec![],
            enabled: true,
        });
    }
    let started = Instant::now();
    let index = RuleIndex::new(Arc::new(model));
    let built = started.elapsed();
    let n_events = 100_000u32;
    let mut n_notifications = 0usize;
    let started = Instant::now();
    for i in 0..n_events {
        let event = Event {
            kind: EventKind::Entered,
            mmsi: 512_000_000 + i % 1000,
            vessel_name: None,
            area_id: format!("area-{}", i % n_areas as u32),
            area_name: "Area".into(),
            at: jiff::Timestamp::from_second(1_735_650_000 + i64::from(i)).unwrap(),
            lat: -41.0,
            lon: 174.0,
            last_seen: None,
            gap_seconds: None,
            threshold_seconds: None,
        };
        n_notifications += index.match_event(&event).notifications.len();
    }
    let took = started.elapsed();
    println!(
        "index of {n_rules} rules built in {built:?}; {n_events} events matched in {took:?} ({:.0} events/s, {:.1} notifications/event)",
        f64::from(n_events) / took.as_secs_f64(),
        n_notifications as f64 / f64::from(n_events)
    );
}
