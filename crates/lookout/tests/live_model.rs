//! The model in the store drives routing live (issue 12), on SQLite and PostgreSQL: the
//! service's parts are built from the store (the files seeded into an empty one), and a rule
//! added, a silence created, a rule disabled or a broken object written while it runs take
//! effect at the next reload — no restart — with silenced notifications recorded as
//! `silenced` (with the silence's id) and never sent.

use std::path::Path;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use lookout::routing;
use lookout::setup::{self, Seed};
use lookout_core::{Event, EventKind};
use lookout_store::model::{Audit, Matchers, NotificationFilter, Rule, Silence};
use lookout_store::{Dispatcher, DispatcherConfig, State, Store};
use lookout_track::runner::ShardConfig;
use serde_json::json;

use crate::util::FreshPg;

fn write_config(dir: &Path, store_url: &str) -> std::path::PathBuf {
    let maildir = dir.join("maildir");
    std::fs::write(
        dir.join("lookout.toml"),
        format!(
            r#"users = "users.toml"
rules = "rules.toml"

[store]
url = "{store_url}"

[http]
listen = "127.0.0.1:0"

[[areas]]
kind = "circle"
id = "gulf"
name = "The Gulf"
lat = -36.6
lon = 175.0
radius_nm = 10
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.toml"),
        format!(
            r#"[[organisations]]
id = "acme"

[[users]]
id = "ops"
org = "acme"
email = "ops@example.com"
timezone = "Pacific/Auckland"
channels = [{{ kind = "maildir", path = "{maildir}" }}]
"#,
            maildir = maildir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        r#"[[vessels]]
mmsi = 512900001
name = "ENDEAVOUR"
tags = ["tanker"]

[[rules]]
id = "gulf-entries"
owner = "ops"
vessels = "any"
areas = ["gulf"]
events = ["entered"]
"#,
    )
    .unwrap();
    dir.join("lookout.toml")
}

fn entered(mmsi: u32, at: Timestamp) -> Event {
    Event {
        kind: EventKind::Entered,
        mmsi,
        vessel_name: None,
        area_id: "gulf".into(),
        area_name: "The Gulf".into(),
        at,
        lat: -36.6,
        lon: 175.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    }
}

fn audit() -> Audit {
    Audit::new("test", "test", "test")
}

async fn check(store_url: &str, dir: &Path) {
    let path = write_config(dir, store_url);
    let config = setup::load_config(&path, &lookout::config::ProcessEnv).unwrap();
    let env = Arc::new(lookout::config::ProcessEnv);
    let parts = setup::parts(&config, ShardConfig::default(), env.clone(), Seed::IfEmpty)
        .await
        .unwrap();
    let store: Store = parts.store.clone();
    let source = parts.model_source.clone().unwrap();
    let live = parts.routing.clone();
    let now = Timestamp::now();

    // Seeded from the files: one rule, no silence.
    let first = live.current().route(&entered(512_900_001, now));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].silence_id, None);

    // Nothing changed: a poll keeps the same routing.
    let before = Arc::as_ptr(&live.current());
    routing::reload_if_changed(&source, &live, &parts.router).await;
    assert_eq!(Arc::as_ptr(&live.current()), before, "no change, no reload");

    // While running: a second rule, and a silence of tankers in the gulf for the next hour.
    let rule = Rule {
        id: "gulf-tankers".into(),
        org_id: "acme".into(),
        owner: "ops".into(),
        enabled: true,
        definition: json!({ "owner": "ops", "vessels": "any", "areas": ["gulf"], "events": ["entered"] }),
    };
    store.put_rule(&rule, &audit()).await.unwrap();
    let silence = Silence {
        id: "sil-tankers".into(),
        org_id: "acme".into(),
        matchers: Matchers {
            tags: vec!["tanker".into()],
            areas: vec!["gulf".into()],
            ..Matchers::default()
        },
        starts_at: now - SignedDuration::from_mins(1),
        ends_at: now + SignedDuration::from_hours(1),
        author: "test".into(),
        comment: "maintenance".into(),
    };
    store.put_silence(&silence, &audit()).await.unwrap();
    // Another organisation tags vessel ...002 "tanker": that must not reach acme's silence.
    store
        .put_org(
            &lookout_store::model::Organisation {
                id: "rival".into(),
                name: "Rival".into(),
            },
            &audit(),
        )
        .await
        .unwrap();
    store
        .put_vessel(
            &lookout_store::model::Vessel {
                org_id: "rival".into(),
                mmsi: 512_900_002,
                name: Some("NOT YOURS".into()),
                tags: vec!["tanker".into()],
            },
            &audit(),
        )
        .await
        .unwrap();
    // A user whose Slack URL a tenant set through the API (stored with origin "api").
    store
        .put_user(
            &lookout_store::model::User {
                id: "tina".into(),
                org_id: "acme".into(),
                name: "Tina".into(),
                email: "tina@example.com".into(),
                timezone: "UTC".into(),
                locale: "en".into(),
                channels: json!([{ "kind": "slack", "url": "https://hooks.slack.com/services/T/B/X", "origin": "api" }]),
                enabled: true,
                deleted: false,
            },
            &audit(),
        )
        .await
        .unwrap();
    routing::reload_if_changed(&source, &live, &parts.router).await;
    let model = parts.router.model();
    assert_eq!(
        model.users["tina"].channels[0].origin,
        lookout_notify::channels::Trust::Tenant,
        "the router sends a tenant's URL through the destination policy"
    );
    assert!(
        model
            .users
            .values()
            .filter(|u| u.id != "tina")
            .flat_map(|u| &u.channels)
            .all(|c| c.origin == lookout_notify::channels::Trust::Operator),
        "the files' channels are the operator's"
    );

    let tanker = live.current().route(&entered(512_900_001, now));
    assert_eq!(tanker.len(), 2, "the new rule routes without a restart");
    assert!(
        tanker
            .iter()
            .all(|n| n.silence_id.as_deref() == Some("sil-tankers")),
        "{tanker:?}"
    );
    let other = live.current().route(&entered(512_900_002, now));
    assert_eq!(other.len(), 2);
    assert!(
        other.iter().all(|n| n.silence_id.is_none()),
        "a vessel acme has not tagged is not silenced, whatever another organisation tags it"
    );
    let after_silence = live
        .current()
        .route(&entered(512_900_001, now + SignedDuration::from_hours(2)));
    assert!(
        after_silence.iter().all(|n| n.silence_id.is_none()),
        "an event after the silence ended is not silenced"
    );

    // Recorded: the silenced ones as `silenced` with the silence's id, finished; the
    // dispatcher sends only the others.
    let mut all = tanker.clone();
    all.extend(other.clone());
    store
        .commit(
            &[entered(512_900_001, now), entered(512_900_002, now)],
            &all,
            &[],
        )
        .await
        .unwrap();
    let dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(parts.router.clone()),
        DispatcherConfig::default(),
    );
    for _ in 0..10 {
        if dispatcher.round(Timestamp::now()).await.unwrap().n_claimed == 0 {
            break;
        }
    }
    let counts = store.count_by_state().await.unwrap();
    assert_eq!(counts.get(&State::Silenced), Some(&2), "{counts:?}");
    assert_eq!(counts.get(&State::Delivered), Some(&2), "{counts:?}");
    let silenced = store
        .notifications(
            "acme",
            &NotificationFilter {
                state: Some("silenced".into()),
                ..NotificationFilter::default()
            },
            "",
            10,
        )
        .await
        .unwrap();
    assert_eq!(silenced.len(), 2);
    for n in &silenced {
        assert_eq!(n.silence_id.as_deref(), Some("sil-tankers"));
        assert!(n.finished_at.is_some(), "a silenced notification is final");
    }

    // A rule disabled and a broken rule written behind the API's back: the broken one is left
    // out and counted, the disabled one stops, the first keeps routing.
    store
        .put_rule(
            &Rule {
                enabled: false,
                ..rule.clone()
            },
            &audit(),
        )
        .await
        .unwrap();
    store
        .put_rule(
            &Rule {
                id: "broken".into(),
                definition: json!({ "owner": "ops", "vessels": "any", "areas": ["nowhere"], "events": ["entered"] }),
                ..rule
            },
            &audit(),
        )
        .await
        .unwrap();
    routing::reload_if_changed(&source, &live, &parts.router).await;
    let routed = live.current().route(&entered(512_900_003, now));
    let rules: Vec<&str> = routed.iter().map(|n| n.rule_id.as_str()).collect();
    assert_eq!(rules, ["gulf-entries"]);
    let loaded = routing::load(&store, &config, env.as_ref()).await.unwrap();
    assert!(
        loaded
            .stored
            .problems
            .iter()
            .any(|p| p.contains("rule \"broken\"") && p.contains("nowhere")),
        "{:?}",
        loaded.stored.problems
    );

    // An area added with a rule on it: the in-process tracker is handed the new areas and the
    // rule's gap threshold.
    let mut setup = parts.tracker_setup.clone();
    assert!(setup.borrow_and_update().0.0.find("harbour").is_none());
    store
        .put_area(
            &lookout_store::model::Area {
                org_id: "acme".into(),
                id: "harbour".into(),
                name: "Harbour".into(),
                definition: json!({ "kind": "circle", "lat": -36.84, "lon": 174.77, "radius_nm": 2.0 }),
            },
            &audit(),
        )
        .await
        .unwrap();
    store
        .put_rule(
            &Rule {
                id: "harbour-gaps".into(),
                org_id: "acme".into(),
                owner: "ops".into(),
                enabled: true,
                definition: json!({ "owner": "ops", "mmsi": [512900001], "areas": ["harbour"],
                    "events": ["gap_started"], "gap_threshold": "30m" }),
            },
            &audit(),
        )
        .await
        .unwrap();
    routing::reload_if_changed(&source, &live, &parts.router).await;
    assert!(setup.has_changed().unwrap(), "the tracker stage is told");
    let next = setup.borrow_and_update().clone();
    let (areas, tracker) = &*next.0;
    assert!(areas.find("harbour").is_some() && areas.find("gulf").is_some());
    assert_eq!(
        tracker.policies["harbour"].gap_thresholds,
        [std::time::Duration::from_secs(1800)]
    );
    // Nothing more changed: the tracker is not told again.
    store
        .put_silence(
            &Silence {
                id: "sil-2".into(),
                ..silence.clone()
            },
            &audit(),
        )
        .await
        .unwrap();
    routing::reload_if_changed(&source, &live, &parts.router).await;
    assert!(!setup.has_changed().unwrap());

    // A restart reads the store, not the files: the API's rule is still disabled, the files'
    // rule still routes, and nothing is imported over it.
    let restarted = setup::parts(&config, ShardConfig::default(), env, Seed::IfEmpty)
        .await
        .unwrap();
    let routed = restarted
        .routing
        .current()
        .route(&entered(512_900_003, now));
    assert_eq!(routed.len(), 1);
    assert_eq!(
        store
            .rule("acme", "gulf-tankers")
            .await
            .unwrap()
            .map(|r| r.enabled),
        Some(false)
    );
    store.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn stored_model_changes_route_live_with_silences_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/lookout.db?mode=rwc", dir.path().display());
    runtime().block_on(check(&url, dir.path()));
}

#[test]
fn stored_model_changes_route_live_with_silences_on_postgres() {
    let Some(pg) = FreshPg::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(check(&pg.url, dir.path()));
}
