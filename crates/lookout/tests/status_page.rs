//! The status page (issue 12) through the ops router with `oneshot`, on SQLite and PostgreSQL:
//! sign-in sets an HttpOnly, SameSite=Strict cookie; an operator sees the instance and an
//! organisation's token only its own data; the map draws the organisation's areas and
//! vessels; requeue needs the editor role and the session's CSRF token and changes the state.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lookout::ops::{OpsState, app};
use lookout_core::{ChannelKind, Delivery, Event, EventKind, NewNotification};
use lookout_feed::ConnectionRegistry;
use lookout_store::Store;
use lookout_store::model::{Area, Audit, ModelSnapshot, Organisation, Role, User};
use serde_json::json;
use tower::ServiceExt;

use crate::util::FreshPg;

fn objects(org: &str, lon: f64) -> ModelSnapshot {
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
        areas: vec![Area {
            org_id: org.into(),
            id: format!("{org}-area"),
            name: format!("Area of {org}"),
            definition: json!({ "kind": "circle", "lat": -17.0, "lon": lon, "radius_nm": 30.0 }),
        }],
        ..ModelSnapshot::default()
    }
}

fn notification(org: &str, mmsi: u32, lon: f64) -> NewNotification {
    let event = Event {
        kind: EventKind::Entered,
        mmsi,
        vessel_name: Some(format!("Ship of {org}")),
        area_id: format!("{org}-area"),
        area_name: "A".into(),
        at: jiff::Timestamp::now(),
        lat: -17.0,
        lon,
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

struct Page {
    app: axum::Router,
}

struct Reply {
    status: StatusCode,
    location: String,
    cookie: String,
    body: String,
}

impl Page {
    async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<String>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let req = match form {
            Some(f) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(f)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let get = |h| {
            resp.headers()
                .get(h)
                .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (location, cookie) = (get(header::LOCATION), get(header::SET_COOKIE));
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        Reply {
            status,
            location,
            cookie,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Signs in with `token`; the session cookie.
    async fn sign_in(&self, token: &str) -> String {
        let r = self
            .send("POST", "/login", None, Some(format!("token={token}")))
            .await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (StatusCode::SEE_OTHER, "/"),
            "{}",
            r.body
        );
        assert!(
            r.cookie.contains("HttpOnly") && r.cookie.contains("SameSite=Strict"),
            "{}",
            r.cookie
        );
        r.cookie.split(';').next().unwrap().to_owned()
    }
}

fn csrf_of(body: &str) -> String {
    body.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("no CSRF field")
        .to_owned()
}

async fn scenario(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    // Organisation a near Fiji east of 180°, b west of it.
    for (org, lon) in [("a", -179.5), ("b", 178.0)] {
        store
            .import_model(&objects(org, lon), "test")
            .await
            .unwrap();
        let n = notification(org, if org == "a" { 512000001 } else { 512000002 }, lon);
        let event = n.event.clone();
        store.commit(&[event], &[n], &[]).await.unwrap();
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
    let (a_editor, a_viewer, b_admin, operator) = (
        token(Some("a"), Role::Editor).await,
        token(Some("a"), Role::Viewer).await,
        token(Some("b"), Role::Admin).await,
        token(None, Role::Operator).await,
    );
    let page = Page {
        app: app(OpsState::new(store.clone(), ConnectionRegistry::new())),
    };

    // Signed out: every page leads to the sign-in form; a bad token is refused.
    for path in ["/", "/map", "/events", "/notifications"] {
        let r = page.send("GET", path, None, None).await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (StatusCode::SEE_OTHER, "/login"),
            "{path}"
        );
    }
    let r = page
        .send("POST", "/login", None, Some("token=lk_nonsense".into()))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.cookie.is_empty());

    // The operator sees the instance; an organisation does not.
    let op = page.sign_in(&operator).await;
    let r = page.send("GET", "/", Some(&op), None).await;
    assert!(
        r.body.contains("Supervised tasks") && r.body.contains("Outbox"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("a-area") && !r.body.contains("b-area"));
    let a = page.sign_in(&a_editor).await;
    let r = page.send("GET", "/", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.body.contains("Supervised tasks") && r.body.contains("events-chart"),
        "{}",
        r.body
    );

    // The map: a's area and vessel, none of b's.
    let r = page.send("GET", "/map", Some(&a), None).await;
    assert!(
        r.body.contains(r#"data-area="a-area""#) && r.body.contains(r#"data-mmsi="512000001""#),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("b-area") && !r.body.contains("512000002"),
        "{}",
        r.body
    );
    let b = page.sign_in(&b_admin).await;
    let r = page.send("GET", "/map", Some(&b), None).await;
    assert!(r.body.contains(r#"data-area="b-area""#) && !r.body.contains(r#"data-area="a-area""#));

    // a's notification, made dead, requeued from the page.
    let list = store
        .notifications(
            "a",
            &lookout_store::model::NotificationFilter::default(),
            "",
            10,
        )
        .await
        .unwrap();
    let id = list[0].id.clone();
    store
        .cancel_notification("a", &id, &Audit::new("t", "x", "x"))
        .await
        .unwrap();
    let detail = format!("/notifications/{id}");
    let r = page.send("GET", &detail, Some(&b), None).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another organisation's notification"
    );
    let r = page.send("GET", "/events", Some(&b), None).await;
    assert!(
        !r.body.contains("512000001"),
        "another organisation's events"
    );
    let viewer = page.sign_in(&a_viewer).await;
    let r = page.send("GET", &detail, Some(&viewer), None).await;
    assert!(
        r.body.contains(">dead<") && !r.body.contains("id=\"requeue\""),
        "{}",
        r.body
    );
    let r = page.send("GET", &detail, Some(&a), None).await;
    assert!(r.body.contains("id=\"requeue\""), "{}", r.body);
    let csrf = csrf_of(&r.body);
    let requeue = format!("{detail}/requeue");
    let r = page
        .send("POST", &requeue, Some(&a), Some("csrf=forged".into()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a forged form");
    let viewer_csrf = lookout::status::csrf_token(&a_viewer);
    let r = page
        .send(
            "POST",
            &requeue,
            Some(&viewer),
            Some(format!("csrf={viewer_csrf}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a viewer");
    assert_eq!(
        store.notification("a", &id).await.unwrap().unwrap().state,
        "dead"
    );
    let r = page
        .send("POST", &requeue, Some(&a), Some(format!("csrf={csrf}")))
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (StatusCode::SEE_OTHER, detail.as_str())
    );
    assert_eq!(
        store.notification("a", &id).await.unwrap().unwrap().state,
        "pending"
    );

    // Silences: an editor creates one and expires it; a viewer cannot; b never sees it.
    let r = page.send("GET", "/silences", Some(&a), None).await;
    assert!(r.body.contains("id=\"new-silence\""), "{}", r.body);
    let form = format!(
        "csrf={csrf}&vessels=512000001&areas=a-area&rules=&kinds=entered&hours=2&comment=drydock"
    );
    let r = page
        .send("POST", "/silences", Some(&a), Some(form.clone()))
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (StatusCode::SEE_OTHER, "/silences"),
        "{}",
        r.body
    );
    let r = page.send("GET", "/silences", Some(&a), None).await;
    assert!(
        r.body.contains("drydock") && r.body.contains(">active<"),
        "{}",
        r.body
    );
    let silence_id = r
        .body
        .split("class=\"silence\" data-id=\"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .expect("a silence listed")
        .to_owned();
    let r = page.send("GET", "/silences", Some(&b), None).await;
    assert!(!r.body.contains(&silence_id) && !r.body.contains("drydock"));
    let r = page.send("GET", "/silences", Some(&viewer), None).await;
    assert!(r.body.contains("drydock") && !r.body.contains("new-silence"));
    let r = page
        .send(
            "POST",
            "/silences",
            Some(&viewer),
            Some(form.replace(&csrf, &viewer_csrf)),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a viewer creates no silence"
    );
    let bad = form.replace("kinds=entered", "kinds=docked");
    let r = page.send("POST", "/silences", Some(&a), Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("docked"));
    let expire = format!("/silences/{silence_id}/expire");
    let r = page
        .send(
            "POST",
            &expire,
            Some(&b),
            Some(format!("csrf={}", lookout::status::csrf_token(&b_admin))),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another organisation's silence"
    );
    let r = page
        .send("POST", &expire, Some(&a), Some(format!("csrf={csrf}")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = page.send("GET", "/silences", Some(&a), None).await;
    assert!(
        r.body.contains(">expired<") && !r.body.contains(">active<"),
        "{}",
        r.body
    );

    // Signing out clears the cookie.
    let r = page.send("POST", "/logout", Some(&a), None).await;
    assert!(r.cookie.contains("Max-Age=0"));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn status_page_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(scenario(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("s.db").display()
    )));
}

#[test]
fn status_page_on_postgres() {
    let Some(pg) = FreshPg::create() else { return };
    rt().block_on(scenario(&pg.url));
}
