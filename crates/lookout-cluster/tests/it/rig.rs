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

/// What the chaos suite relies on: leases held across a restart of PostgreSQL. Renewals fail (retryably) while it
/// is down and succeed again after, with nothing lost when the outage is shorter than the lease.
#[tokio::test]
async fn leases_survive_a_restart_of_the_rigs_postgres() {
    if find_postgres_bin().is_none() {
        println!("SKIPPED: initdb/pg_ctl not found (install postgresql)");
        return;
    }
    use lookout_cluster::partitions::{self, LeaseConfig, PartitionLeases};
    tokio::time::timeout(BOUND, async {
        let mut rig = PgRig::start().await.unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(2))
            .connect(&rig.url())
            .await
            .unwrap();
        partitions::migrate(&pool, Duration::from_secs(5))
            .await
            .unwrap();
        let mut config = LeaseConfig::new("a", 8);
        config.lease = Duration::from_secs(30);
        config.statement_timeout = Duration::from_secs(2);
        let leases = PartitionLeases::open(pool.clone(), config).await.unwrap();
        let held = leases.claim().await.unwrap().acquired;
        assert_eq!(held.len(), 8);

        rig.stop(false).await.unwrap();
        let err = leases.renew(&held).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        rig.start_again().await.unwrap();
        let mut renewed = None;
        for _ in 0..20 {
            match leases.renew(&held).await {
                Ok(renewal) => {
                    renewed = Some(renewal);
                    break;
                }
                Err(error) => {
                    assert!(error.is_retryable(), "{error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let renewal = renewed.expect("renewal succeeds after the restart");
        assert!(renewal.lost.is_empty());
        assert_eq!(renewal.held, held);
        pool.close().await;
    })
    .await
    .expect("bounded");
}
