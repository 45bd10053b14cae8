//! The model tables (issue 12): typed CRUD on both backends, every read and write scoped to
//! one organisation, idempotent upserts, one-transaction imports, tokens and the audit log.

use std::sync::Arc;

use lookout_store::StoreError;
use lookout_store::model::{
    Area, Audit, Cursor, Fleet, Matchers, ModelSnapshot, Organisation, Role, Rule, Silence,
    Subject, Upserted, User, Vessel,
};
use serde_json::json;

use crate::conformance;
use crate::support::{TestDb, event, secs, t0};

conformance!(
    objects_are_scoped_to_their_organisation,
    upserts_are_idempotent_and_audited,
    import_is_one_transaction_and_idempotent,
    tokens_are_stored_hashed_and_revocable,
    silences_match_and_expire,
    newest_events_and_each_vessels_latest,
    the_model_version_changes_with_every_commit,
);

fn audit() -> Audit {
    Audit::new("test", "x.write", "x/1")
}

fn org(id: &str) -> Organisation {
    Organisation {
        id: id.into(),
        name: format!("Org {id}"),
    }
}

fn user(id: &str, org: &str) -> User {
    User {
        id: id.into(),
        org_id: org.into(),
        name: id.into(),
        email: format!("{id}@example.com"),
        timezone: "Pacific/Auckland".into(),
        locale: "en-NZ".into(),
        channels: json!([{ "kind": "webhook", "endpoint": "demo" }]),
        enabled: true,
        deleted: false,
    }
}

fn rule(id: &str, org: &str, owner: &str) -> Rule {
    Rule {
        id: id.into(),
        org_id: org.into(),
        owner: owner.into(),
        enabled: true,
        definition: json!({ "owner": owner, "vessels": "any", "areas": ["a1"], "events": ["entered"] }),
    }
}

fn snapshot() -> ModelSnapshot {
    ModelSnapshot {
        orgs: vec![org("a"), org("b")],
        users: vec![user("ua", "a"), user("ub", "b")],
        vessels: vec![
            Vessel {
                org_id: "a".into(),
                mmsi: 512000001,
                name: Some("ONE".into()),
                tags: vec!["ferry".into()],
            },
            Vessel {
                org_id: "b".into(),
                mmsi: 512000001,
                name: Some("UNO".into()),
                tags: vec![],
            },
        ],
        fleets: vec![Fleet {
            id: "fa".into(),
            org_id: "a".into(),
            name: "Fleet A".into(),
            mmsi: vec![512000001, 512000002],
            tags: vec![],
        }],
        areas: vec![Area {
            org_id: "a".into(),
            id: "a1".into(),
            name: "Circle".into(),
            definition: json!({ "kind": "circle", "lat": -36.8, "lon": 174.9, "radius_nm": 12.0 }),
        }],
        rules: vec![rule("ra", "a", "ua"), rule("rb", "b", "ub")],
    }
}

async fn objects_are_scoped_to_their_organisation(db: Arc<TestDb>) {
    let s = &db.store;
    s.import_model(&snapshot(), "test").await.unwrap();
    let page = Cursor::first(10);
    // Reads by another organisation find nothing.
    assert!(s.rule("b", "ra").await.unwrap().is_none());
    assert!(s.user("b", "ua").await.unwrap().is_none());
    assert!(s.fleet("b", "fa").await.unwrap().is_none());
    assert!(s.area("b", "a1").await.unwrap().is_none());
    assert_eq!(
        s.rule("a", "ra").await.unwrap(),
        Some(rule("ra", "a", "ua"))
    );
    let ids = |rules: Vec<Rule>| rules.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.rules("a", &page).await.unwrap()), ["ra"]);
    assert_eq!(ids(s.rules("b", &page).await.unwrap()), ["rb"]);
    // The same MMSI is each organisation's own vessel.
    assert_eq!(
        s.vessel("a", 512000001)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("ONE")
    );
    assert_eq!(
        s.vessel("b", 512000001)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("UNO")
    );
    // Writing another organisation's id is a conflict and changes nothing.
    let err = s
        .put_rule(&rule("ra", "b", "ub"), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { table: "rules", .. }),
        "{err:?}"
    );
    assert_eq!(s.rule("a", "ra").await.unwrap().unwrap().owner, "ua");
    // Deleting another organisation's object deletes nothing.
    assert!(!s.delete_rule("b", "ra", &audit()).await.unwrap());
    assert!(!s.delete_fleet("b", "fa", &audit()).await.unwrap());
    assert!(!s.delete_area("b", "a1", &audit()).await.unwrap());
    assert!(s.rule("a", "ra").await.unwrap().is_some());
    assert!(s.delete_vessel("b", 512000001, &audit()).await.unwrap());
    assert!(s.vessel("a", 512000001).await.unwrap().is_some());
    assert!(s.delete_rule("a", "ra", &audit()).await.unwrap());
    assert!(s.rule("a", "ra").await.unwrap().is_none());
    // Audit logs are per organisation.
    let a_log = s.audit_log("a", &Cursor::first(100)).await.unwrap();
    let b_log = s.audit_log("b", &Cursor::first(100)).await.unwrap();
    assert!(a_log.iter().all(|e| e.org_id.as_deref() == Some("a")));
    assert!(b_log.iter().any(|e| e.audit.action == "x.write"));
    assert_eq!(a_log.last().unwrap().audit.action, "x.write"); // the delete of ra
}

async fn upserts_are_idempotent_and_audited(db: Arc<TestDb>) {
    let s = &db.store;
    assert_eq!(
        s.put_org(&org("a"), &audit()).await.unwrap(),
        Upserted::Created
    );
    assert_eq!(
        s.put_org(&org("a"), &audit()).await.unwrap(),
        Upserted::Unchanged
    );
    let mut u = user("u1", "a");
    assert_eq!(s.put_user(&u, &audit()).await.unwrap(), Upserted::Created);
    assert_eq!(s.put_user(&u, &audit()).await.unwrap(), Upserted::Unchanged);
    u.timezone = "Europe/London".into();
    assert_eq!(s.put_user(&u, &audit()).await.unwrap(), Upserted::Updated);
    assert_eq!(s.user("a", "u1").await.unwrap(), Some(u));
    let f = Fleet {
        id: "f".into(),
        org_id: "a".into(),
        name: "F".into(),
        mmsi: vec![3, 1, 2, 1],
        tags: vec![],
    };
    assert_eq!(s.put_fleet(&f, &audit()).await.unwrap(), Upserted::Created);
    let stored = s.fleet("a", "f").await.unwrap().unwrap();
    assert_eq!(stored.mmsi, [1, 2, 3]);
    assert_eq!(
        s.put_fleet(&stored, &audit()).await.unwrap(),
        Upserted::Unchanged
    );
    // org, user created + updated, fleet: four audit records; the unchanged writes none.
    let log = s.audit_log("a", &Cursor::first(100)).await.unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    // Pagination: pages of 1 over two users.
    s.put_user(&user("u2", "a"), &audit()).await.unwrap();
    let first = s.users("a", &Cursor::first(1)).await.unwrap();
    assert_eq!(first[0].id, "u1");
    let next = Cursor {
        after: Some(first[0].id.clone()),
        limit: 1,
    };
    assert_eq!(s.users("a", &next).await.unwrap()[0].id, "u2");
    let last = Cursor {
        after: Some("u2".into()),
        limit: 1,
    };
    assert!(s.users("a", &last).await.unwrap().is_empty());
}

async fn import_is_one_transaction_and_idempotent(db: Arc<TestDb>) {
    let s = &db.store;
    let first = s.import_model(&snapshot(), "import").await.unwrap();
    assert_eq!(first.changed(), 10);
    let again = s.import_model(&snapshot(), "import").await.unwrap();
    assert_eq!(again.changed(), 0, "{again:?}");
    let mut stored = s.model_snapshot().await.unwrap();
    stored.fleets[0].mmsi.sort_unstable();
    assert_eq!(stored, snapshot());
    // A failing import (rule id of another organisation) stores nothing of itself.
    let mut bad = snapshot();
    bad.users[0].name = "changed".into();
    bad.rules.push(rule("ra", "b", "ub"));
    assert!(matches!(
        s.import_model(&bad, "import").await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.user("a", "ua").await.unwrap().unwrap().name, "ua");
}

async fn tokens_are_stored_hashed_and_revocable(db: Arc<TestDb>) {
    let s = &db.store;
    s.put_org(&org("a"), &audit()).await.unwrap();
    let t = s
        .create_token("t1", Some("a"), Role::Editor, "ci", "hash-1", &audit())
        .await
        .unwrap();
    assert_eq!(
        (t.org_id.as_deref(), t.role, t.revoked_at),
        (Some("a"), Role::Editor, None)
    );
    let op = s
        .create_token("t2", None, Role::Operator, "ops", "hash-2", &audit())
        .await
        .unwrap();
    assert_eq!(op.org_id, None);
    // An operator token of an organisation, or an organisation token without one, is refused.
    assert!(
        s.create_token("t3", Some("a"), Role::Operator, "x", "hash-3", &audit())
            .await
            .is_err()
    );
    assert!(
        s.create_token("t4", None, Role::Admin, "x", "hash-4", &audit())
            .await
            .is_err()
    );
    // An unknown organisation is refused too.
    assert!(
        s.create_token("t5", Some("nope"), Role::Admin, "x", "hash-5", &audit())
            .await
            .is_err()
    );
    assert_eq!(s.token_by_hash("hash-1").await.unwrap().unwrap().id, "t1");
    assert!(s.token_by_hash("hash-9").await.unwrap().is_none());
    assert_eq!(s.tokens().await.unwrap().len(), 2);
    assert!(s.revoke_token("t1", &audit()).await.unwrap());
    assert!(!s.revoke_token("t1", &audit()).await.unwrap());
    assert!(
        s.token_by_hash("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

async fn silences_match_and_expire(db: Arc<TestDb>) {
    let s = &db.store;
    s.put_org(&org("a"), &audit()).await.unwrap();
    let silence = Silence {
        id: "s1".into(),
        org_id: "a".into(),
        matchers: Matchers {
            vessels: vec![512000001],
            kinds: vec!["entered".into()],
            ..Matchers::default()
        },
        starts_at: t0(),
        ends_at: t0() + secs(3600),
        author: "alice".into(),
        comment: "drydock".into(),
    };
    s.put_silence(&silence, &audit()).await.unwrap();
    let stored = s.silence("a", "s1").await.unwrap().unwrap();
    assert_eq!(stored, silence);
    assert!(s.silence("b", "s1").await.unwrap().is_none());
    let subject = |mmsi, kind| Subject {
        mmsi,
        fleets: &[],
        tags: &[],
        area: "a1",
        rule: "r1",
        kind,
    };
    assert!(stored.silences(t0() + secs(10), &subject(512000001, "entered")));
    assert!(!stored.silences(t0() + secs(10), &subject(512000001, "exited")));
    assert!(!stored.silences(t0() + secs(10), &subject(512000002, "entered")));
    assert!(!stored.silences(t0() + secs(3600), &subject(512000001, "entered")));
    assert!(!stored.silences(t0() - secs(1), &subject(512000001, "entered")));
}

async fn newest_events_and_each_vessels_latest(db: Arc<TestDb>) {
    let s = &db.store;
    s.import_model(&snapshot(), "test").await.unwrap();
    let in_a1 = |mmsi, n, kind| {
        let mut e = event(mmsi, t0() + secs(n));
        e.area_id = "a1".into();
        e.kind = kind;
        e
    };
    use lookout_core::EventKind::{Entered, Exited};
    let mut other = event(512000001, t0() + secs(9));
    other.area_id = "b-only".into();
    let events = [
        in_a1(512000001, 1, Entered),
        in_a1(512000002, 2, Entered),
        in_a1(512000001, 3, Exited),
        other,
    ];
    s.commit(&events, &[], &[]).await.unwrap();
    let newest = s
        .newest_events("a", &lookout_store::model::EventFilter::default(), 2)
        .await
        .unwrap();
    let seen: Vec<(i64, &str)> = newest.iter().map(|e| (e.mmsi, e.kind.as_str())).collect();
    assert_eq!(seen, [(512000001, "exited"), (512000002, "entered")]);
    let latest = s.latest_event_per_vessel("a", 10).await.unwrap();
    let seen: Vec<(i64, &str)> = latest.iter().map(|e| (e.mmsi, e.kind.as_str())).collect();
    assert_eq!(
        seen,
        [(512000001, "exited"), (512000002, "entered")],
        "each vessel once, at its newest event in a's areas (not b's area)"
    );
    assert!(s.latest_event_per_vessel("b", 10).await.unwrap().is_empty());
}

async fn the_model_version_changes_with_every_commit(db: Arc<TestDb>) {
    let s = &db.store;
    let v0 = s.model_version().await.unwrap();
    s.import_model(&snapshot(), "test").await.unwrap();
    let v1 = s.model_version().await.unwrap();
    assert_ne!(v0, v1);
    // An import that changes nothing writes nothing: the version stays.
    s.import_model(&snapshot(), "test").await.unwrap();
    assert_eq!(s.model_version().await.unwrap(), v1);
    s.put_rule(&rule("r2", "a", "ua"), &audit()).await.unwrap();
    let v2 = s.model_version().await.unwrap();
    assert_ne!(v1, v2);
    if db.kind != crate::support::Kind::Postgres {
        return;
    }
    // PostgreSQL: an audit id taken first but committed after a higher one still changes the
    // version (its highest id alone would not).
    use sqlx::Connection;
    let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO audit (at, org_id, actor, action, object, detail) VALUES (0, 'a', 't', 'x', 'x', 'null')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    s.put_rule(&rule("r3", "a", "ua"), &audit()).await.unwrap();
    let before_late_commit = s.model_version().await.unwrap();
    tx.commit().await.unwrap();
    let after = s.model_version().await.unwrap();
    assert_eq!(after.max, before_late_commit.max, "the late id is lower");
    assert_ne!(after, before_late_commit, "yet the version changed");
}
