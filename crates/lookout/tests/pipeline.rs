//! The alert sender's outages, replayed through the real pipeline pieces (rule index, store,
//! dispatcher, router, Maildir channel) on SQLite and PostgreSQL: a deleted user among 1,000
//! recipients and a template that panics for one rule affect only themselves.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use lookout_core::{ChannelKind, Event, EventKind};
use lookout_notify::channels::HttpSettings;
use lookout_notify::model::{DeliveryMode, Model, Rule, User, UserChannel, VesselSelector};
use lookout_notify::render::Renderer;
use lookout_notify::router::Router;
use lookout_notify::rules::RuleIndex;
use lookout_store::{Dispatcher, DispatcherConfig, State, Store};

use crate::util::FreshPg;

const N_USERS: usize = 1000;
const DELETED: usize = 500;
const PANICKING_RULE: &str = "rule-0007";

fn model(maildir: &Path) -> Model {
    let mut model = Model::default();
    model.areas.insert("hauraki-gulf".into());
    for i in 0..N_USERS {
        let id = format!("user-{i:04}");
        let mut user = User::new(
            &id,
            "acme",
            &format!("{id}@example.com"),
            "Pacific/Auckland",
        );
        user.channels.push(UserChannel::new(
            ChannelKind::Maildir,
            maildir.join(&id).display().to_string(),
        ));
        user.deleted = i == DELETED;
        model.users.insert(id.clone(), user);
        model.rules.push(Rule {
            id: format!("rule-{i:04}"),
            org_id: "acme".into(),
            owner: id,
            vessels: VesselSelector::Any,
            areas: vec!["hauraki-gulf".into()],
            events: [EventKind::Entered].into(),
            gap_threshold: None,
            min_dwell: None,
            delivery: DeliveryMode::Realtime,
            channels: vec![],
            enabled: true,
        });
    }
    model
}

fn entered() -> Event {
    Event {
        kind: EventKind::Entered,
        mmsi: 512_900_001,
        vessel_name: Some("ENDEAVOUR".into()),
        area_id: "hauraki-gulf".into(),
        area_name: "Hauraki Gulf".into(),
        at: "2024-12-31T11:00:00Z".parse().unwrap(),
        lat: -36.6,
        lon: 175.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    }
}

async fn check(url: &str, dir: &Path) {
    let maildir = dir.join("maildir");
    let model = model(&maildir);
    let index = RuleIndex::new(Arc::new(model.clone()));
    let event = entered();
    let outcome = index.match_event(&event);
    assert_eq!(outcome.notifications.len(), N_USERS - 1);
    assert_eq!(
        outcome.skipped.len(),
        1,
        "the deleted user is skipped, nobody else"
    );

    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let n_new = store
        .commit(std::slice::from_ref(&event), &outcome.notifications, &[])
        .await
        .unwrap();
    assert_eq!(n_new, (N_USERS - 1) as u64);
    // Replaying the same event queues nothing more.
    let again = store
        .commit(std::slice::from_ref(&event), &outcome.notifications, &[])
        .await
        .unwrap();
    assert_eq!(again, 0);

    let mut renderer = Renderer::with_defaults();
    renderer.register_test_panic();
    renderer
        .add_override(
            &format!("rules/{PANICKING_RULE}"),
            "entered.subject.txt",
            "{{ test_panic(\"template bug in rule-0007\") }}",
        )
        .unwrap();
    let router = Router::new(
        Arc::new(model),
        Arc::new(renderer),
        None,
        HttpSettings::default(),
    )
    .unwrap();
    let mut config = DispatcherConfig::default();
    config.batch_size = 250;
    let dispatcher = Dispatcher::new(store.clone(), Arc::new(router), config);
    for _ in 0..50 {
        let report = dispatcher.round(Timestamp::now()).await.unwrap();
        if report.n_claimed == 0 {
            break;
        }
    }

    let counts = store.count_by_state().await.unwrap();
    assert_eq!(
        counts.get(&State::Delivered),
        Some(&((N_USERS - 2) as u64)),
        "{counts:?}"
    );
    assert_eq!(counts.get(&State::Dead), Some(&1), "{counts:?}");
    let mut n_files = 0;
    let mut recipients = BTreeSet::new();
    for user in std::fs::read_dir(&maildir).unwrap().flatten() {
        let n = std::fs::read_dir(user.path().join("new")).unwrap().count();
        n_files += n;
        if n > 0 {
            recipients.insert(user.file_name().to_string_lossy().into_owned());
        }
    }
    assert_eq!(
        n_files,
        N_USERS - 2,
        "every other user got exactly one mail"
    );
    assert!(
        !recipients.contains("user-0500"),
        "the deleted user got nothing"
    );
    assert!(
        !recipients.contains("user-0007"),
        "the panicking rule sent nothing"
    );
    let dead = store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .find(|(n, _)| n.new.rule_id == PANICKING_RULE)
        .unwrap();
    assert_eq!(dead.1.state, State::Dead);
    let reason = dead.1.last_error.unwrap_or_default();
    assert!(
        reason.contains("template bug in rule-0007"),
        "dead reason: {reason}"
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
fn one_deleted_user_and_one_panicking_template_among_a_thousand_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("lookout.db").display()
    );
    runtime().block_on(check(&url, dir.path()));
}

#[test]
fn one_deleted_user_and_one_panicking_template_among_a_thousand_on_postgres() {
    let Some(db) = FreshPg::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(check(&db.url, dir.path()));
}
