//! Test databases and servers: a fresh PostgreSQL database per test, an own nats-server per test; each skips with
//! a clear message when its server is missing unless `LOOKOUT_REQUIRE_PG=1` / `LOOKOUT_REQUIRE_NATS=1`.

use std::time::Duration;

use lookout_cluster::rig::NatsRig;
use sqlx::{Connection, PgPool};

/// A fresh database on the machine's PostgreSQL, dropped by `teardown`.
pub(crate) struct TestDb {
    pub(crate) pool: PgPool,
    name: String,
    admin: String,
}

impl TestDb {
    /// Drops the database (best effort).
    pub(crate) async fn teardown(self) {
        self.pool.close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("LOOKOUT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database, or `None` (with a printed reason) when PostgreSQL is unreachable and not required.
pub(crate) async fn pg() -> Option<TestDb> {
    let admin = pg_admin_url();
    let connected =
        tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await;
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
    let name = format!("lookout_cluster_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} SET synchronous_commit = off"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let base = admin.split('?').next().unwrap_or(&admin);
    let base = &base[..base.rfind('/').unwrap()];
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    Some(TestDb { pool, name, admin })
}

/// An own `nats-server -js` on a free port, or `None` (with a printed reason) when the binary is missing and not
/// required.
pub(crate) async fn nats() -> Option<NatsRig> {
    match lookout_cluster::rig::find_nats_server() {
        Some(_) => Some(NatsRig::start().await.unwrap()),
        None => {
            assert!(
                std::env::var("LOOKOUT_REQUIRE_NATS").as_deref() != Ok("1"),
                "nats-server not found on PATH nor in /usr/sbin and LOOKOUT_REQUIRE_NATS=1"
            );
            println!(
                "SKIPPED: nats-server not found (install the Debian package nats-server, or set LOOKOUT_REQUIRE_NATS=1 to fail)"
            );
            None
        }
    }
}
