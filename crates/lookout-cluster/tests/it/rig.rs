//! The rig starts, restarts and stops its own PostgreSQL and nats-server, bounded in time.

use std::time::Duration;

use lookout_cluster::rig::{PgRig, find_postgres_bin};
use sqlx::Connection;

use crate::support;

const BOUND: Duration = Duration::from_secs(30);

async fn connect(url: &str) -> sqlx::PgConnection {
    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url))
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test]
async fn postgres_rig_starts_restarts_and_stops() {
    if find_postgres_bin().is_none() {
        assert!(
            std::env::var("LOOKOUT_REQUIRE_PG").as_deref() != Ok("1"),
            "initdb/pg_ctl not found and LOOKOUT_REQUIRE_PG=1"
        );
        println!("SKIPPED: initdb/pg_ctl not found (install postgresql)");
        return;
    }
    tokio::time::timeout(BOUND, async {
        let mut rig = PgRig::start().await.unwrap();
        assert_ne!(rig.port(), 5432);
        let url = rig.url();
        let mut conn = connect(&url).await;
        sqlx::query("CREATE TABLE kept (v INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO kept VALUES (42)")
            .execute(&mut conn)
            .await
            .unwrap();
        drop(conn);

        rig.restart().await.unwrap();
        let mut conn = connect(&url).await;
        let v: i32 = sqlx::query_scalar("SELECT v FROM kept")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(v, 42, "committed data survives a restart");
        drop(conn);

        rig.stop(true).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(2), sqlx::PgConnection::connect(&url))
                .await
                .map_or(true, |c| c.is_err()),
            "stopped"
        );
        rig.start_again().await.unwrap();
        let mut conn = connect(&url).await;
        let v: i32 = sqlx::query_scalar("SELECT v FROM kept")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(v, 42, "committed data survives a crash");
        drop(conn);
        let dropped_port = rig.port();
        drop(rig);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", dropped_port)).is_err(),
            "stopped on drop"
        );
    })
    .await
    .expect("the postgres rig finishes within 30 s");
}

#[tokio::test]
async fn nats_rig_starts_restarts_and_stops() {
    tokio::time::timeout(BOUND, async {
        let Some(mut rig) = support::nats().await else {
            return;
        };
        assert_ne!(rig.port(), 4222);
        let client = async_nats::connect(rig.url()).await.unwrap();
        client
            .request("$JS.API.INFO", bytes::Bytes::new())
            .await
            .unwrap();
        rig.restart().await.unwrap();
        assert!(rig.is_running());
        rig.kill().await.unwrap();
        assert!(!rig.is_running());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", rig.port())).is_err(),
            "killed"
        );
        rig.start_again().await.unwrap();
        let port = rig.port();
        drop(rig);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "stopped on drop"
        );
    })
    .await
    .expect("the nats rig finishes within 30 s");
}
