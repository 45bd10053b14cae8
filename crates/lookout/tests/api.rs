//! The HTTP API `/api/v1` (issue 12), driven through the router with `oneshot` (no socket) on
//! SQLite and PostgreSQL: authentication and roles, problems, pagination, audit, the
//! notification actions, the OpenAPI document against the routes, and a table-driven tenant
//! isolation test over every route and method.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use lookout::api::{ApiState, OPENAPI, ROUTES, router};
use lookout_core::{ChannelKind, Delivery, Event, EventKind, NewNotification};
use lookout_store::Store;
use lookout_store::model::{
    Area, Audit, Fleet, Matchers, ModelSnapshot, Organisation, Role, Rule, Silence, User, Vessel,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::util::FreshPg;

/// Two organisations, `a` and `b`, each with a user, vessel, fleet, area, rule, silence and
/// two notifications; tokens of every role for `a`, an admin for `b`, an operator.
struct Fixture {
    store: Store,
    app: axum::Router,
    a_admin: String,
    a_editor: String,
    a_viewer: String,
    b_admin: String,
    operator: String,
}

fn org_objects(org: &str) -> ModelSnapshot {
    let user = format!("{org}-user");
    ModelSnapshot {
        orgs: vec![Organisation {
            id: org.into(),
            name: org.to_uppercase(),
        }],
        users: vec![User {
            id: user.clone(),
            org_id: org.into(),
            name: user.clone(),
            email: format!("{user}@example.com"),
            timezone: "Pacific/Auckland".into(),
            locale: "en".into(),
            channels: json!([{ "kind": "webhook", "endpoint": "hook" }]),
            enabled: true,
            deleted: false,
        }],
        vessels: vec![Vessel {
            org_id: org.into(),
            mmsi: 512000001,
            name: Some(org.into()),
            tags: vec![],
        }],
        fleets: vec![Fleet {
            id: format!("{org}-fleet"),
            org_id: org.into(),
            name: "F".into(),
            mmsi: vec![512000001],
            tags: vec![],
        }],
        areas: vec![Area {
            org_id: org.into(),
            id: format!("{org}-area"),
            name: "A".into(),
            definition: json!({ "kind": "circle", "lat": 0.0, "lon": 0.0, "radius_nm": 1.0 }),
        }],
        rules: vec![Rule {
            id: format!("{org}-rule"),
            org_id: org.into(),
            owner: user.clone(),
            enabled: true,
            definition: json!({ "owner": user, "vessels": "any", "areas": [format!("{org}-area")], "events": ["entered"] }),
        }],
    }
}

fn notification(org: &str, mmsi: u32) -> NewNotification {
    let event = Event {
        kind: EventKind::Entered,
        mmsi,
        vessel_name: None,
        area_id: format!("{org}-area"),
        area_name: "A".into(),
        at: "2025-06-01T00:00:00Z".parse().unwrap(),
        lat: 0.0,
        lon: 0.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    };
    let rule = format!("{org}-rule");
    NewNotification {
        silence_id: None,
        dedupe_key: NewNotification::dedupe_key_for(&rule, ChannelKind::Webhook, &event),
        org_id: org.into(),
        user_id: format!("{org}-user"),
        rule_id: rule,
        channel: ChannelKind::Webhook,
        destination: "http://127.0.0.1:9/hook".into(),
        delivery: Delivery::Realtime,
        event,
    }
}

/// A shutdown token already cancelled: event streams answer what they have, then end.
fn ended() -> sentinel::CancellationToken {
    let token = sentinel::CancellationToken::new();
    token.cancel();
    token
}

fn state(store: &Store, shutdown: sentinel::CancellationToken) -> ApiState {
    ApiState {
        store: store.clone(),
        webhooks: Arc::new(BTreeSet::from(["hook".to_owned()])),
        destinations: Arc::default(),
        streams: Arc::new(tokio::sync::Semaphore::new(
            lookout::api::stream::MAX_STREAMS,
        )),
        shutdown,
        router: None,
        test_cooldowns: lookout::api::test_send::Cooldowns::default(),
        limiter: Arc::new(lookout::api::limit::RateLimiter::new(
            lookout::api::limit::RateLimit {
                per_second: 1000.0,
                burst: 10_000,
            },
        )),
    }
}

async fn fixture(url: &str) -> Fixture {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    for org in ["a", "b"] {
        store.import_model(&org_objects(org), "test").await.unwrap();
        let silence = Silence {
            id: format!("{org}-silence"),
            org_id: org.into(),
            matchers: Matchers::default(),
            starts_at: "2025-01-01T00:00:00Z".parse().unwrap(),
            ends_at: "2099-01-01T00:00:00Z".parse().unwrap(),
            author: "t".into(),
            comment: String::new(),
        };
        store
            .put_silence(&silence, &Audit::new("t", "x", "x"))
            .await
            .unwrap();
        let (n1, n2) = (notification(org, 1), notification(org, 2));
        let events = [n1.event.clone(), n2.event.clone()];
        store.commit(&events, &[n1, n2], &[]).await.unwrap();
    }
    let token = |org: Option<&'static str>, role| {
        let store = store.clone();
        async move {
            lookout::tokens::create(&store, org, role, "t", "test")
                .await
                .unwrap()
                .1
        }
    };
    let app = router(state(&store, ended()));
    Fixture {
        a_admin: token(Some("a"), Role::Admin).await,
        a_editor: token(Some("a"), Role::Editor).await,
        a_viewer: token(Some("a"), Role::Viewer).await,
        b_admin: token(Some("b"), Role::Admin).await,
        operator: token(None, Role::Operator).await,
        store,
        app,
    }
}

/// `(status, content type, body as JSON or Null)`.
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
        .uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, ctype, value)
}

fn ids_of(notifications: &Value) -> Vec<String> {
    notifications["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A body that is valid for `path`'s POST/PUT in organisation `a`.
fn valid_body(path: &str) -> Option<Value> {
    Some(if path.contains("/tokens") {
        json!({ "role": "viewer", "name": "n" })
    } else if path.contains("/fleets") {
        json!({ "name": "F2", "mmsi": [512000003] })
    } else if path.contains("/areas") {
        json!({ "id": "a-area-2", "name": "A2", "definition": { "kind": "circle", "lat": 1.0, "lon": 1.0, "radius_nm": 2.0 } })
    } else if path.contains("/rules") {
        json!({ "owner": "a-user", "vessels": "any", "areas": ["a-area"], "events": ["exited"] })
    } else if path.contains("/users") {
        json!({ "name": "N", "email": "n@example.com", "timezone": "Europe/London" })
    } else if path.contains("/vessels") {
        json!({ "mmsi": 512000009, "name": "X", "tags": [] })
    } else if path.contains("/silences") {
        json!({ "matchers": { "vessels": [512000001] }, "ends_at": "2099-01-01T00:00:00Z" })
    } else {
        return None;
    })
}

async fn b_state(f: &Fixture) -> Value {
    let snap = f.store.model_snapshot().await.unwrap();
    let b = |v: Value| v;
    let notes = f
        .store
        .notifications("b", &Default::default(), "", 100)
        .await
        .unwrap();
    let silences = f
        .store
        .silences("b", &lookout_store::model::Cursor::first(100))
        .await
        .unwrap();
    json!({
        "users": b(serde_json::to_value(snap.users.iter().filter(|u| u.org_id == "b").collect::<Vec<_>>()).unwrap()),
        "vessels": serde_json::to_value(snap.vessels.iter().filter(|v| v.org_id == "b").collect::<Vec<_>>()).unwrap(),
        "rules": serde_json::to_value(snap.rules.iter().filter(|r| r.org_id == "b").collect::<Vec<_>>()).unwrap(),
        "notifications": serde_json::to_value(notes).unwrap(),
        "silences": serde_json::to_value(silences).unwrap(),
        "tokens": serde_json::to_value(f.store.org_tokens("b").await.unwrap()).unwrap(),
    })
}

/// Every route and method with org `a`'s admin token: an item of `b` answers exactly as an id
/// that exists nowhere; a list never names anything of `b`; nothing of `b` changes.
async fn isolation(url: &str) {
    let f = fixture(url).await;
    let before = b_state(&f).await;
    let b_notes = ids_of(
        &call(
            &f.app,
            "get",
            "/api/v1/notifications",
            Some(&f.b_admin),
            None,
        )
        .await
        .2,
    );
    assert_eq!(b_notes.len(), 2);
    let b_token = f.store.org_tokens("b").await.unwrap()[0].id.clone();
    let b_ids = |path: &str| -> String {
        if path.starts_with("/api/v1/rules") {
            "b-rule".into()
        } else if path.starts_with("/api/v1/users") {
            "b-user".into()
        } else if path.starts_with("/api/v1/vessels") {
            "512000001".into()
        } else if path.starts_with("/api/v1/silences") {
            "b-silence".into()
        } else if path.starts_with("/api/v1/fleets") {
            "b-fleet".into()
        } else if path.starts_with("/api/v1/tokens") {
            b_token.clone()
        } else if path.starts_with("/api/v1/areas") {
            "b-area".into()
        } else {
            b_notes[0].clone()
        }
    };
    let b_words = [
        b_token.as_str(),
        "b-rule",
        "b-user",
        "b-silence",
        "b-area",
        "b-fleet",
        &b_notes[0],
        &b_notes[1],
        "\"B\"",
        "b-user@example.com",
    ];
    let mut covered = 0;
    for (method, path) in ROUTES {
        if *path == "/api/v1/openapi.json" {
            continue;
        }
        covered += 1;
        let body = if matches!(*method, "post" | "put") {
            valid_body(path)
        } else {
            None
        };
        if path.contains("{id}") {
            // Vessels are keyed per organisation: `a` has its own 512000001, so the MMSI of
            // `b`'s vessel is checked for not leaking `b`'s name instead.
            let theirs = path.replace("{id}", &b_ids(path));
            let nowhere = path.replace(
                "{id}",
                if path.contains("vessels") {
                    "512000099"
                } else {
                    "nope_0"
                },
            );
            let got = call(&f.app, method, &theirs, Some(&f.a_admin), body.clone()).await;
            if !path.contains("vessels") {
                let absent = call(&f.app, method, &nowhere, Some(&f.a_admin), body).await;
                assert_eq!(
                    got, absent,
                    "{method} {path}: b's object answers differently from none"
                );
                assert_eq!(got.0, StatusCode::NOT_FOUND, "{method} {path}");
            }
            for w in b_words {
                assert!(
                    !got.2.to_string().contains(w),
                    "{method} {theirs} shows {w}: {}",
                    got.2
                );
            }
        } else {
            let got = call(&f.app, method, path, Some(&f.a_admin), body).await;
            assert!(got.0.is_success(), "{method} {path}: {got:?}");
            for w in b_words {
                assert!(
                    !got.2.to_string().contains(w),
                    "{method} {path} shows {w}: {}",
                    got.2
                );
            }
        }
    }
    assert_eq!(covered, ROUTES.len() - 1);
    // A's writes naming b's objects are refused as unknown (the same words as for none).
    let (status, _, body) = call(&f.app, "post", "/api/v1/rules", Some(&f.a_admin),
        Some(json!({ "owner": "b-user", "fleet": "b-fleet", "areas": ["b-area"], "events": ["entered"] }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = body.to_string();
    assert!(
        text.contains("unknown user \\\"b-user\\\"")
            && text.contains("unknown area \\\"b-area\\\"")
            && text.contains("unknown fleet \\\"b-fleet\\\""),
        "{text}"
    );
    assert_eq!(b_state(&f).await, before, "b changed");
    f.store.close().await;
}

async fn roles_problems_and_actions(url: &str) {
    let f = fixture(url).await;
    let app = &f.app;
    // No token, a bad token, a revoked one: 401 problem; the OpenAPI document needs none.
    let (s, ct, _) = call(app, "get", "/api/v1/rules", None, None).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json")
    );
    assert_eq!(
        call(app, "get", "/api/v1/rules", Some("lk_nope"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(app, "get", "/api/v1/openapi.json", None, None).await.0,
        StatusCode::OK
    );
    for (method, path) in ROUTES.iter().filter(|(_, p)| *p != "/api/v1/openapi.json") {
        assert_eq!(
            call(app, method, &path.replace("{id}", "x"), None, None)
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    // The operator token has no organisation.
    assert_eq!(
        call(app, "get", "/api/v1/rules", Some(&f.operator), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Roles: viewer reads, editor writes rules but not users, admin writes users.
    assert_eq!(
        call(app, "get", "/api/v1/rules/a-rule", Some(&f.a_viewer), None)
            .await
            .0,
        StatusCode::OK
    );
    let rule = valid_body("/rules");
    assert_eq!(
        call(
            app,
            "post",
            "/api/v1/rules",
            Some(&f.a_viewer),
            rule.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, _, created) = call(app, "post", "/api/v1/rules", Some(&f.a_editor), rule).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rule_"));
    assert_eq!(
        call(
            app,
            "get",
            &format!("/api/v1/rules/{id}"),
            Some(&f.a_viewer),
            None
        )
        .await
        .2,
        created
    );
    assert_eq!(
        call(
            app,
            "post",
            "/api/v1/users",
            Some(&f.a_editor),
            valid_body("/users")
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            app,
            "post",
            "/api/v1/users",
            Some(&f.a_admin),
            valid_body("/users")
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(app, "get", "/api/v1/audit", Some(&f.a_editor), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // A rule with the rules file's mistakes: every problem, by field.
    let (s, ct, p) = call(app, "post", "/api/v1/rules", Some(&f.a_editor),
        Some(json!({ "owner": "a-user", "vessels": "any", "areas": ["nowhere"], "events": ["arrived"] }))).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json")
    );
    let fields: BTreeSet<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, BTreeSet::from(["areas", "events"]), "{p}");
    let (s, _, p) = call(app, "post", "/api/v1/users", Some(&f.a_admin),
        Some(json!({ "name": "N", "email": "nope", "timezone": "Mars/Olympus", "channels": [{ "kind": "maildir", "path": "/etc" }] }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"].as_array().unwrap().len(), 3, "{p}");
    // Pagination: pages of one over a's two notifications; a page too large is refused.
    let (_, _, first) = call(
        app,
        "get",
        "/api/v1/notifications?limit=1",
        Some(&f.a_viewer),
        None,
    )
    .await;
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, _, second) = call(
        app,
        "get",
        &format!("/api/v1/notifications?limit=1&cursor={next}"),
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null());
    assert_ne!(ids_of(&first), ids_of(&second));
    assert_eq!(
        call(
            app,
            "get",
            "/api/v1/rules?limit=501",
            Some(&f.a_viewer),
            None
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Notification actions: cancel a pending one (dead), requeue it (pending), not twice.
    let id = ids_of(&first)[0].clone();
    let path = |a: &str| format!("/api/v1/notifications/{id}/{a}");
    assert_eq!(
        call(app, "post", &path("cancel"), Some(&f.a_viewer), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, _, n) = call(app, "post", &path("cancel"), Some(&f.a_editor), None).await;
    assert_eq!((s, n["state"].as_str()), (StatusCode::OK, Some("dead")));
    let (_, _, dead) = call(
        app,
        "get",
        "/api/v1/notifications?state=dead",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(ids_of(&dead), std::slice::from_ref(&id));
    let (s, _, n) = call(app, "post", &path("requeue"), Some(&f.a_editor), None).await;
    assert_eq!((s, n["state"].as_str()), (StatusCode::OK, Some("pending")));
    assert_eq!(
        call(app, "post", &path("requeue"), Some(&f.a_editor), None)
            .await
            .0,
        StatusCode::CONFLICT
    );
    // Events: those in a's areas, filtered.
    let (s, _, ev) = call(app, "get", "/api/v1/events", Some(&f.a_viewer), None).await;
    assert_eq!(s, StatusCode::OK);
    let areas: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["area_id"].as_str().unwrap())
        .collect();
    assert_eq!(areas, ["a-area", "a-area"]);
    let n = |q: &'static str| {
        let app = app.clone();
        let t = f.a_viewer.clone();
        async move {
            call(&app, "get", &format!("/api/v1/events?{q}"), Some(&t), None)
                .await
                .2["items"]
                .as_array()
                .map_or(99, Vec::len)
        }
    };
    assert_eq!(n("vessel=1").await, 1);
    assert_eq!(n("kind=exited").await, 0);
    assert_eq!(n("fleet=a-fleet").await, 0);
    assert_eq!(n("from=2025-06-01T00:00:01Z").await, 0);
    assert_eq!(n("to=2025-06-01T00:00:01Z").await, 2);
    // Areas: the tracker's own validation, by feature and ring; fleets.
    let bowtie = json!({ "id": "bow", "name": "Bow", "definition": { "kind": "geojson", "geometry": {
        "type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]] } } });
    let (s, _, p) = call(
        app,
        "post",
        "/api/v1/areas",
        Some(&f.a_editor),
        Some(bowtie),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("ring"), "{p}");
    let (s, _, area) = call(
        app,
        "post",
        "/api/v1/areas",
        Some(&f.a_editor),
        valid_body("/areas"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{area}");
    assert_eq!(
        call(
            app,
            "post",
            "/api/v1/areas",
            Some(&f.a_editor),
            valid_body("/areas")
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(
            app,
            "get",
            "/api/v1/areas/a-area-2",
            Some(&f.a_viewer),
            None
        )
        .await
        .2,
        area
    );
    let (s, _, fleet) = call(
        app,
        "post",
        "/api/v1/fleets",
        Some(&f.a_editor),
        valid_body("/fleets"),
    )
    .await;
    assert_eq!(
        (s, fleet["mmsi"].clone()),
        (StatusCode::CREATED, json!([512000003]))
    );
    // Tokens over HTTP: admins only; a new token works at once and not after its revocation.
    assert_eq!(
        call(app, "get", "/api/v1/tokens", Some(&f.a_editor), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, _, t) = call(
        app,
        "post",
        "/api/v1/tokens",
        Some(&f.a_admin),
        valid_body("/tokens"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let secret = t["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(app, "get", "/api/v1/rules", Some(&secret), None)
            .await
            .0,
        StatusCode::OK
    );
    let bad = json!({ "role": "operator" });
    assert_eq!(
        call(app, "post", "/api/v1/tokens", Some(&f.a_admin), Some(bad))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, _, listed) = call(app, "get", "/api/v1/tokens", Some(&f.a_admin), None).await;
    assert!(!listed.to_string().contains(&secret));
    let path = format!("/api/v1/tokens/{}", t["id"].as_str().unwrap());
    assert_eq!(
        call(app, "delete", &path, Some(&f.a_admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(app, "get", "/api/v1/rules", Some(&secret), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Silences: create, expire.
    let (s, _, sil) = call(
        app,
        "post",
        "/api/v1/silences",
        Some(&f.a_editor),
        valid_body("/silences"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sil}");
    let (s, _, expired) = call(
        app,
        "delete",
        &format!("/api/v1/silences/{}", sil["id"].as_str().unwrap()),
        Some(&f.a_editor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(expired["ends_at"].as_str().unwrap() < "2099");
    // Every write above is in a's audit log, by token.
    let (_, _, log) = call(
        app,
        "get",
        "/api/v1/audit?limit=500",
        Some(&f.a_admin),
        None,
    )
    .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "rule.create",
        "user.create",
        "notification.cancel",
        "notification.requeue",
        "silence.create",
        "silence.expire",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "rule.create")
            .all(|e| e["actor"].as_str().unwrap().starts_with("token:tok_"))
    );
    f.store.close().await;
}

/// `GET path` as text: (status, content type, body).
async fn text(
    app: &axum::Router,
    path: &str,
    token: &str,
    last: Option<&str>,
) -> (u16, String, String) {
    let mut req = Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The ids of the SSE messages in `body`.
fn sse_ids(body: &str) -> Vec<i64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect()
}

async fn event_stream(url: &str) {
    let f = fixture(url).await;
    // The stream moves past an event only once it settled.
    tokio::time::sleep(
        lookout::api::stream::SETTLE.unsigned_abs() + std::time::Duration::from_millis(300),
    )
    .await;
    let (status, ctype, body) =
        text(&f.app, "/api/v1/events/stream?after=0", &f.a_viewer, None).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "text/event-stream"),
        "{body}"
    );
    let ids = sse_ids(&body);
    assert_eq!(ids.len(), 2, "a's two events, not b's: {body}");
    assert!(
        body.contains("event: entered") && body.contains("a-area"),
        "{body}"
    );
    assert!(
        !body.contains("b-area"),
        "b's events leak into a's stream: {body}"
    );
    // Resuming after the first: only the second.
    let first = ids[0].to_string();
    let (_, _, resumed) = text(&f.app, "/api/v1/events/stream", &f.a_viewer, Some(&first)).await;
    assert_eq!(sse_ids(&resumed), ids[1..]);
    // No position: from the newest on (nothing yet).
    let (_, _, fresh) = text(&f.app, "/api/v1/events/stream", &f.a_viewer, None).await;
    assert_eq!(sse_ids(&fresh), Vec::<i64>::new());
    let (status, _, _) = text(&f.app, "/api/v1/events/stream", &f.a_viewer, Some("x")).await;
    assert_eq!(status, 422);

    // Live: a stream open before an event is recorded delivers it once it settled.
    let live = sentinel::CancellationToken::new();
    let app = router(state(&f.store, live.clone()));
    let req = Request::builder()
        .uri("/api/v1/events/stream")
        .header("authorization", format!("Bearer {}", f.a_viewer))
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let n = notification("a", 3);
    let event = n.event.clone();
    f.store
        .commit(std::slice::from_ref(&event), &[n], &[])
        .await
        .unwrap();
    let mut body = resp.into_body().into_data_stream();
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !got.contains("\"mmsi\":3") {
        use futures::StreamExt as _;
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the live event arrives")
            .unwrap()
            .unwrap();
        got.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(sse_ids(&got).len(), 1, "{got}");
    live.cancel();
    f.store.close().await;
}

async fn test_notification(url: &str) {
    use lookout_notify::model::{
        Model, Organisation as NOrg, User as NUser, UserChannel, WebhookEndpoint,
    };
    let f = fixture(url).await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = lookout::demo_receiver::Receiver::new(dir.path().join("hooks.jsonl"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let token = sentinel::CancellationToken::new();
    let _server = sentinel::spawn(
        "test/receiver",
        sentinel::http::serve(listener, receiver.router(), token.clone()),
    );
    // What routing knows of `a-user`: a webhook (to the receiver) and an email (no SMTP here).
    let mut model = Model::default();
    model.orgs.insert(
        "a".into(),
        NOrg {
            id: "a".into(),
            name: "A".into(),
        },
    );
    let mut user = NUser::new("a-user", "a", "a@example.com", "Pacific/Auckland");
    user.channels
        .push(UserChannel::new(ChannelKind::Webhook, hook.clone()));
    user.channels
        .push(UserChannel::new(ChannelKind::Email, "a@example.com"));
    model.users.insert("a-user".into(), user);
    model.webhooks.insert(
        "hook".into(),
        WebhookEndpoint {
            name: "hook".into(),
            url: hook,
            secret: b"k".to_vec(),
        },
    );
    let router = lookout_notify::router::Router::new(
        Arc::new(model),
        Arc::new(lookout_notify::render::Renderer::with_defaults()),
        None,
        lookout_notify::channels::HttpSettings::default(),
    )
    .unwrap();
    let app = lookout::api::router(ApiState {
        router: Some(router),
        ..state(&f.store, ended())
    });

    let path = "/api/v1/users/a-user/test-notification";
    let (status, _, _) = call(&app, "post", path, Some(&f.a_viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers do not send");
    let (status, _, _) = call(
        &app,
        "post",
        "/api/v1/users/b-user/test-notification",
        Some(&f.a_editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organisation's user");
    let (status, _, body) = call(&app, "post", path, Some(&f.a_editor), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{body}");
    assert_eq!(results[0]["channel"], "webhook");
    assert_eq!(results[0]["ok"], true, "{body}");
    assert_eq!(results[1]["channel"], "email");
    assert_eq!(results[1]["ok"], false, "{body}");
    assert_eq!(results[1]["permanent"], true, "no SMTP configured: {body}");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "destinations are not echoed: {body}"
    );
    assert_eq!(receiver.received(), 1, "the webhook got the sample");
    let sent = std::fs::read_to_string(dir.path().join("hooks.jsonl")).unwrap();
    assert!(sent.contains("TEST VESSEL"), "{sent}");
    // A second test within the cooldown: 429 with Retry-After, nothing sent.
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {}", f.a_editor))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(receiver.received(), 1);
    token.cancel();
    f.store.close().await;
}

async fn digests(url: &str) {
    let f = fixture(url).await;
    // One digest item per organisation, then a scheduling pass after the period closed.
    let mut schedules = Vec::new();
    for org in ["a", "b"] {
        let mut n = notification(org, 7);
        n.delivery = Delivery::Digest;
        n.dedupe_key.push_str(":digest");
        let event = n.event.clone();
        f.store
            .commit(std::slice::from_ref(&event), &[n], &[])
            .await
            .unwrap();
        schedules.push(lookout_store::DigestSchedule {
            user_id: format!("{org}-user"),
            channel: ChannelKind::Webhook,
            destination: "http://127.0.0.1:9/hook".into(),
            timezone: "UTC".into(),
            at: jiff::civil::Time::midnight(),
            cadence: lookout_store::Cadence::Daily,
        });
    }
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    f.store.schedule_digests(&schedules, later).await.unwrap();
    let (status, _, body) = call(&f.app, "get", "/api/v1/digests", Some(&f.a_viewer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "a's digest only: {body}");
    assert_eq!(items[0]["user_id"], "a-user");
    assert_eq!(items[0]["items"], 1);
    assert_eq!(items[0]["state"], "pending");
    let id = items[0]["id"].as_str().unwrap();
    let (_, _, carried) = call(
        &f.app,
        "get",
        &format!("/api/v1/notifications?digest={id}"),
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(carried["items"].as_array().unwrap().len(), 1, "{carried}");
    assert_eq!(carried["items"][0]["digest_id"], id);
    let (status, _, _) = call(
        &f.app,
        "get",
        "/api/v1/digests?state=nope",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Notifications by the time they were queued.
    let count = |v: &Value| v["items"].as_array().map_or(usize::MAX, Vec::len);
    let (_, _, since) = call(
        &f.app,
        "get",
        "/api/v1/notifications?from=2000-01-01T00:00:00Z",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(
        count(&since),
        3,
        "a's two realtime notifications and its digest item: {since}"
    );
    let (_, _, later) = call(
        &f.app,
        "get",
        "/api/v1/notifications?from=2099-01-01T00:00:00Z",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(count(&later), 0, "{later}");
    let (_, _, before) = call(
        &f.app,
        "get",
        "/api/v1/notifications?to=2000-01-01T00:00:00Z",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(count(&before), 0, "{before}");
    let (status, _, _) = call(
        &f.app,
        "get",
        "/api/v1/notifications?from=yesterday",
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, _, b_view) = call(&f.app, "get", "/api/v1/digests", Some(&f.b_admin), None).await;
    assert_eq!(b_view["items"][0]["user_id"], "b-user", "{b_view}");
    f.store.close().await;
}

async fn rate_limit(url: &str) {
    let f = fixture(url).await;
    let app = router(ApiState {
        limiter: Arc::new(lookout::api::limit::RateLimiter::new(
            lookout::api::limit::RateLimit {
                per_second: 0.01,
                burst: 2,
            },
        )),
        ..state(&f.store, ended())
    });
    for _ in 0..2 {
        let (status, _, _) = call(&app, "get", "/api/v1/rules", Some(&f.a_viewer), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let req = Request::builder()
        .uri("/api/v1/rules")
        .header("authorization", format!("Bearer {}", f.a_viewer))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // Another token of the same organisation has its own bucket; a bad token is still a 401.
    let (status, _, _) = call(&app, "get", "/api/v1/rules", Some(&f.a_editor), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&app, "get", "/api/v1/rules", Some("lk_nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    f.store.close().await;
}

async fn attempts(url: &str) {
    let f = fixture(url).await;
    // A router that knows no recipient: every delivery fails for good ("recipient ...").
    let router = lookout_notify::router::Router::new(
        Arc::new(lookout_notify::model::Model::default()),
        Arc::new(lookout_notify::render::Renderer::with_defaults()),
        None,
        lookout_notify::channels::HttpSettings::default(),
    )
    .unwrap();
    let dispatcher = lookout_store::Dispatcher::new(
        f.store.clone(),
        Arc::new(router),
        lookout_store::DispatcherConfig::default(),
    );
    dispatcher.round(jiff::Timestamp::now()).await.unwrap();
    let (_, _, list) = call(
        &f.app,
        "get",
        "/api/v1/notifications",
        Some(&f.a_viewer),
        None,
    )
    .await;
    let id = ids_of(&list)[0].clone();
    let (status, _, one) = call(
        &f.app,
        "get",
        &format!("/api/v1/notifications/{id}"),
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let attempts = one["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{one}");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["outcome"], "dead");
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("recipient"),
        "{one}"
    );
    assert!(
        list["items"][0].get("attempts").is_none(),
        "lists leave attempts out"
    );
    // A requeued notification keeps its history and adds to it.
    let (status, _, _) = call(
        &f.app,
        "post",
        &format!("/api/v1/notifications/{id}/requeue"),
        Some(&f.a_editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    dispatcher.round(jiff::Timestamp::now()).await.unwrap();
    let (_, _, again) = call(
        &f.app,
        "get",
        &format!("/api/v1/notifications/{id}"),
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(again["attempts"].as_array().unwrap().len(), 2, "{again}");
    f.store.close().await;
}

/// A NUL character in a token's name (PostgreSQL refuses it in text) is the client's mistake,
/// answered as a 422 naming it, never a 500 (schemathesis found the 500).
async fn nul_in_a_token_name(url: &str, postgres: bool) {
    let f = fixture(url).await;
    let body = json!({ "role": "admin", "name": "a\u{0}b" });
    let (status, _, problem) = call(
        &f.app,
        "post",
        "/api/v1/tokens",
        Some(&f.a_admin),
        Some(body),
    )
    .await;
    if postgres {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("NUL"), "{problem}");
    } else {
        assert_eq!(status, StatusCode::CREATED, "SQLite stores it: {problem}");
    }
    f.store.close().await;
}

/// Issue 12: webhook and Slack URLs a tenant sets are checked against the destination policy:
/// every forbidden class is a 422 naming the channel's url and the class; the operator's
/// `[destinations] allow` admits a range; an accepted URL is stored with `origin: "api"`
/// whatever the client said, and a Slack URL (a secret) is whole only for admins.
async fn tenant_destinations(url: &str) {
    let f = fixture(url).await;
    let user = |channels: Value| json!({ "name": "T", "email": "t@example.com", "timezone": "UTC", "channels": channels });
    let refused = [
        ("http://127.0.0.1:9/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://localhost:8080/x", "loopback"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://0x7f.1/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://10.0.0.1/x", "private"),
        ("http://172.16.0.1/x", "private"),
        ("http://192.168.0.1/x", "private"),
        ("http://[fd00:ec2::254]/x", "private"),
        ("http://100.64.0.1/x", "shared"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://224.0.0.1/x", "multicast"),
    ];
    for (bad, class) in refused {
        for kind in ["slack", "webhook"] {
            let body = user(json!([{ "kind": kind, "url": bad }]));
            let (status, _, p) = call(
                &f.app,
                "post",
                "/api/v1/users",
                Some(&f.a_admin),
                Some(body),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{kind} {bad}: {p}"
            );
            assert_eq!(p["errors"][0]["field"], "channels[0].url", "{p}");
            let message = p["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains(class) && message.contains("destination policy"),
                "{bad}: {message}"
            );
        }
    }
    let (_, _, users) = call(
        &f.app,
        "get",
        "/api/v1/users?limit=500",
        Some(&f.a_admin),
        None,
    )
    .await;
    assert!(
        !users.to_string().contains("\"T\""),
        "nothing refused was stored: {users}"
    );

    // The operator allows loopback: the same URL is accepted.
    let allowing = router(ApiState {
        destinations: Arc::new(
            serde_json::from_value(json!({ "allow": ["127.0.0.0/8"] })).unwrap(),
        ),
        ..state(&f.store, ended())
    });
    let body = user(json!([{ "kind": "webhook", "url": "http://127.0.0.1:9/x" }]));
    let (status, _, p) = call(
        &allowing,
        "post",
        "/api/v1/users",
        Some(&f.a_admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");

    // A public Slack URL: stored as the tenant's, whatever the client claims.
    let secret = "https://hooks.slack.com/services/T0/B0/SECRETTOKEN";
    let body = user(json!([{ "kind": "slack", "url": secret, "origin": "operator" }]));
    let (status, _, created) = call(
        &f.app,
        "post",
        "/api/v1/users",
        Some(&f.a_admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["channels"][0]["origin"], "api", "{created}");
    assert_eq!(
        created["channels"][0]["url"], secret,
        "admins read it whole"
    );
    let id = created["id"].as_str().unwrap();
    let stored = f.store.user("a", id).await.unwrap().unwrap();
    assert_eq!(stored.channels[0]["origin"], "api");
    let (_, _, seen) = call(
        &f.app,
        "get",
        &format!("/api/v1/users/{id}"),
        Some(&f.a_viewer),
        None,
    )
    .await;
    assert_eq!(
        seen["channels"][0]["url"], "https://hooks.slack.com",
        "{seen}"
    );
    let (_, _, listed) = call(
        &f.app,
        "get",
        "/api/v1/users?limit=500",
        Some(&f.a_editor),
        None,
    )
    .await;
    assert!(!listed.to_string().contains("SECRETTOKEN"), "{listed}");
    let (_, _, log) = call(
        &f.app,
        "get",
        "/api/v1/audit?limit=500",
        Some(&f.a_admin),
        None,
    )
    .await;
    assert!(
        !log.to_string().contains("SECRETTOKEN"),
        "the audit log keeps no secret: {log}"
    );
    // A Slack url_env or a Maildir path stays the operator's.
    for ch in [
        json!({ "kind": "slack", "url_env": "HOME" }),
        json!({ "kind": "maildir", "path": "/tmp" }),
    ] {
        let (status, _, p) = call(
            &f.app,
            "post",
            "/api/v1/users",
            Some(&f.a_admin),
            Some(user(json!([ch]))),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    }
    f.store.close().await;
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("api.db").display())
}

#[test]
fn tenant_urls_meet_the_destination_policy_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(tenant_destinations(&sqlite_url(&dir)));
}

#[test]
fn tenant_urls_meet_the_destination_policy_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(tenant_destinations(&pg.url));
}

#[test]
fn tenant_isolation_over_every_route_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(isolation(&sqlite_url(&dir)));
}

#[test]
fn tenant_isolation_over_every_route_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(isolation(&pg.url));
}

#[test]
fn roles_problems_pages_and_actions_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(roles_problems_and_actions(&sqlite_url(&dir)));
}

#[test]
fn roles_problems_pages_and_actions_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(roles_problems_and_actions(&pg.url));
}

#[test]
fn event_stream_is_scoped_resumable_and_live_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(event_stream(&sqlite_url(&dir)));
}

#[test]
fn event_stream_is_scoped_resumable_and_live_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(event_stream(&pg.url));
}

#[test]
fn test_notification_sends_on_each_channel_and_reports_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(test_notification(&sqlite_url(&dir)));
}

#[test]
fn digests_are_listed_per_organisation_with_their_items_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(digests(&sqlite_url(&dir)));
}

#[test]
fn digests_are_listed_per_organisation_with_their_items_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(digests(&pg.url));
}

#[test]
fn each_token_is_rate_limited_with_retry_after_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(rate_limit(&sqlite_url(&dir)));
}

#[test]
fn a_notification_shows_every_attempt_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(attempts(&sqlite_url(&dir)));
}

#[test]
fn a_notification_shows_every_attempt_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(attempts(&pg.url));
}

#[test]
fn a_nul_in_a_token_name_is_the_clients_mistake_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(nul_in_a_token_name(&sqlite_url(&dir), false));
}

#[test]
fn a_nul_in_a_token_name_is_the_clients_mistake_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(nul_in_a_token_name(&pg.url, true));
}

#[test]
fn the_openapi_document_describes_exactly_the_routes() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed);
    // Every $ref resolves.
    let text = OPENAPI;
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}
