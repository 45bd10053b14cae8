//! Test databases, fixtures and a recording `Deliver`.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{
    ChannelKind, Deliver, Delivery, DigestBatch, Event, EventKind, NewNotification, Notification,
    SendError,
};
use lookout_store::Store;
use sqlx::Connection;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database; dropped (PostgreSQL) or deleted (SQLite) by `teardown`.
pub(crate) struct TestDb {
    pub(crate) kind: Kind,
    pub(crate) url: String,
    pub(crate) store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    /// A second, independent `Store` on the same database: a restarted process.
    pub(crate) async fn reopen(&self) -> Store {
        let store = Store::connect(&self.url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Runs raw SQL on a separate connection (to break things on purpose).
    pub(crate) async fn exec(&self, sql: &'static str) {
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("LOOKOUT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn create(kind: Kind) -> Option<TestDb> {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("lookout.db").display()
            );
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            Some(TestDb {
                kind,
                url,
                store,
                _dir: Some(dir),
                pg_admin: None,
            })
        }
        Kind::Postgres => {
            let admin = pg_admin_url();
            let connected =
                tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin))
                    .await;
            let mut conn = match connected {
                Ok(Ok(conn)) => conn,
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    assert!(
                        std::env::var("LOOKOUT_REQUIRE_PG").as_deref() != Ok("1"),
                        "postgres unreachable at {admin} ({why}) and LOOKOUT_REQUIRE_PG=1"
                    );
                    println!(
                        "SKIPPED: postgres unreachable at {admin} ({why}); set LOOKOUT_TEST_PG_URL or LOOKOUT_REQUIRE_PG=1"
                    );
                    return None;
                }
            };
            let name = format!("lookout_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            // synchronous_commit stays at the server default (on): the crash tests rely on it.
            let base = admin.split('?').next().unwrap_or(&admin);
            let base = &base[..base.rfind('/').unwrap()];
            let url = format!("{base}/{name}");
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            Some(TestDb {
                kind,
                url,
                store,
                _dir: None,
                pg_admin: Some((admin, name)),
            })
        }
    }
}

async fn teardown(db: TestDb) {
    db.store.close().await;
    if let Some((admin, name)) = &db.pg_admin {
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// Runs `case` on a fresh database of `kind`, then drops it.
pub(crate) async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = create(kind).await else {
        return;
    };
    let db = Arc::new(db);
    case(Arc::clone(&db)).await;
    if let Ok(db) = Arc::try_unwrap(db) {
        teardown(db).await;
    }
}

/// Declares the `sqlite` and `postgres` tests of a case `async fn name(db: Arc<TestDb>)`.
#[macro_export]
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::support::run($crate::support::Kind::Sqlite, super::$case).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::support::run($crate::support::Kind::Postgres, super::$case).await;
                }
            }
        )*
    };
}

/// 2025-06-01T00:00:00Z: a fixed "now" for tests that simulate time.
pub(crate) fn t0() -> Timestamp {
    "2025-06-01T00:00:00Z".parse().unwrap()
}

pub(crate) fn secs(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(n)
}

pub(crate) fn event(mmsi: u32, at: Timestamp) -> Event {
    Event {
        kind: EventKind::Entered,
        mmsi,
        vessel_name: Some("ENDEAVOUR".into()),
        area_id: "nz400".into(),
        area_name: "New Zealand 400nm".into(),
        at,
        lat: -41.0,
        lon: 174.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    }
}

/// A notification for `rule` and `user` about vessel `mmsi` (one per mmsi and rule).
pub(crate) fn notification(
    rule: &str,
    user: &str,
    mmsi: u32,
    delivery: Delivery,
) -> NewNotification {
    let event = event(mmsi, t0());
    NewNotification {
        silence_id: None,
        dedupe_key: NewNotification::dedupe_key_for(rule, ChannelKind::Webhook, &event),
        org_id: "org".into(),
        user_id: user.into(),
        rule_id: rule.into(),
        channel: ChannelKind::Webhook,
        destination: "http://127.0.0.1:9/hook".into(),
        delivery,
        event,
    }
}

/// `n` realtime notifications of `rule`, vessels 1..=n.
pub(crate) fn realtime(rule: &str, n: u32) -> Vec<NewNotification> {
    (1..=n)
        .map(|mmsi| notification(rule, "alice", mmsi, Delivery::Realtime))
        .collect()
}

/// What the recording channel does on a call.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Transient(Option<Duration>),
    Permanent(&'static str),
    Panic(&'static str),
    Sleep(Duration),
}

/// A `Deliver` that records every call and acts as scripted per rule id (default: accept).
#[derive(Default)]
pub(crate) struct Recorder {
    /// `(notification id, attempt)` of every accepted realtime send.
    pub(crate) delivered: Mutex<Vec<(String, u32)>>,
    /// Every accepted digest.
    pub(crate) digests: Mutex<Vec<DigestBatch>>,
    /// Number of calls of any outcome.
    pub(crate) calls: Mutex<usize>,
    script: Mutex<HashMap<String, VecDeque<Action>>>,
    always: Mutex<HashMap<String, Action>>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The next calls for `rule` do `actions`, in order, then accept.
    pub(crate) fn script(&self, rule: &str, actions: Vec<Action>) {
        self.script
            .lock()
            .unwrap()
            .insert(rule.to_owned(), actions.into());
    }

    /// Every call for `rule` does `action`.
    pub(crate) fn always(&self, rule: &str, action: Action) {
        self.always.lock().unwrap().insert(rule.to_owned(), action);
    }

    pub(crate) fn delivered_ids(&self) -> Vec<String> {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    async fn act(&self, key: &str) -> Result<(), SendError> {
        *self.calls.lock().unwrap() += 1;
        let action = self
            .script
            .lock()
            .unwrap()
            .get_mut(key)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.always.lock().unwrap().get(key).cloned());
        match action {
            None => Ok(()),
            Some(Action::Transient(retry_after)) => Err(SendError::Transient {
                reason: format!("{key} is flaky"),
                retry_after,
            }),
            Some(Action::Permanent(why)) => Err(SendError::Permanent(why.to_owned())),
            Some(Action::Panic(text)) => panic!("{text}"),
            Some(Action::Sleep(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

impl Deliver for Recorder {
    async fn deliver(&self, notification: &Notification) -> Result<(), SendError> {
        self.act(&notification.new.rule_id).await?;
        self.delivered
            .lock()
            .unwrap()
            .push((notification.id.clone(), notification.attempt));
        Ok(())
    }

    async fn deliver_digest(&self, digest: &DigestBatch) -> Result<(), SendError> {
        self.act(&format!("digest:{}", digest.user_id)).await?;
        self.digests.lock().unwrap().push(digest.clone());
        Ok(())
    }
}
