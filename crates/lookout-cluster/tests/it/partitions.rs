//! Partition leases on a real PostgreSQL: exclusivity, fencing, expiry, balancing, release, renewal.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lookout_cluster::partitions::{self, Lease, LeaseConfig, LeaseError, PartitionLeases};
use sqlx::PgPool;

use crate::support;

const P: u32 = 16;
const T: Duration = Duration::from_secs(5);

async fn open(pool: &PgPool, owner: &str, lease: Duration) -> PartitionLeases {
    partitions::migrate(pool, T).await.unwrap();
    let mut config = LeaseConfig::new(owner, P);
    config.lease = lease;
    PartitionLeases::open(pool.clone(), config).await.unwrap()
}

fn set(leases: &[Lease]) -> BTreeSet<u32> {
    leases.iter().map(|l| l.partition).collect()
}

/// Makes the given partitions' leases (and the owner's membership) expire now, as if the lease time had passed.
async fn expire(pool: &PgPool, owner: &str, partitions: &[i32]) {
    sqlx::query("UPDATE partitions SET lease_expires_at = now() - interval '1 second' WHERE owner = $1 AND partition = ANY($2)")
        .bind(owner)
        .bind(partitions)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE cluster_members SET expires_at = now() - interval '1 second' WHERE member = $1",
    )
    .bind(owner)
    .execute(pool)
    .await
    .unwrap();
}

/// A recorder's commit as the service will write it: the fence first, then the state, the sequence, commit.
async fn commit_state(
    leases: &PartitionLeases,
    pool: &PgPool,
    lease: Lease,
    value: i64,
    seq: u64,
) -> Result<(), LeaseError> {
    let mut tx = pool.begin().await.unwrap();
    let fence = leases
        .begin_fenced(&mut tx, lease.partition, lease.epoch)
        .await?;
    sqlx::query("INSERT INTO state VALUES ($1, $2) ON CONFLICT (partition) DO UPDATE SET value = EXCLUDED.value")
        .bind(lease.partition as i32)
        .bind(value)
        .execute(&mut *tx)
        .await
        .unwrap();
    leases.set_applied_seq(&mut tx, &fence, seq).await?;
    tx.commit().await.unwrap();
    Ok(())
}

#[tokio::test]
async fn migrate_is_idempotent_and_concurrent_safe() {
    let Some(db) = support::pg().await else {
        return;
    };
    let (a, b) = tokio::join!(
        partitions::migrate(&db.pool, T),
        partitions::migrate(&db.pool, T)
    );
    a.unwrap();
    b.unwrap();
    partitions::migrate(&db.pool, T).await.unwrap();
    db.teardown().await;
}

#[tokio::test]
async fn a_different_partition_count_is_refused() {
    let Some(db) = support::pg().await else {
        return;
    };
    let _first = open(&db.pool, "a", Duration::from_secs(6)).await;
    let err = PartitionLeases::open(db.pool.clone(), LeaseConfig::new("b", 32))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LeaseError::LayoutMismatch {
                recorded: 16,
                configured: 32
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("16 partitions"), "{err}");
    db.teardown().await;
}

#[tokio::test]
async fn two_owners_never_hold_one_partition() {
    let Some(db) = support::pg().await else {
        return;
    };
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    let (mut held_a, mut held_b) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..10 {
        let (ca, cb) = tokio::join!(a.claim(), b.claim());
        let (ca, cb) = (ca.unwrap(), cb.unwrap());
        held_a.extend(set(&ca.acquired));
        held_b.extend(set(&cb.acquired));
        for p in &ca.released {
            held_a.remove(p);
        }
        for p in &cb.released {
            held_b.remove(p);
        }
        assert!(held_a.is_disjoint(&held_b), "a {held_a:?} b {held_b:?}");
        assert_eq!(set(&a.held().await.unwrap()), held_a);
        assert_eq!(set(&b.held().await.unwrap()), held_b);
    }
    assert_eq!(
        held_a.len() + held_b.len(),
        P as usize,
        "every partition owned once settled"
    );
    assert_eq!(held_a.len(), (P / 2) as usize);
    db.teardown().await;
}

#[tokio::test]
async fn a_stale_owners_fenced_transaction_fails_and_writes_nothing() {
    let Some(db) = support::pg().await else {
        return;
    };
    sqlx::query("CREATE TABLE state (partition INTEGER PRIMARY KEY, value BIGINT NOT NULL)")
        .execute(&db.pool)
        .await
        .unwrap();
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    let claim = a.claim().await.unwrap();
    assert_eq!(claim.acquired.len(), P as usize);
    let stale = claim.acquired[0];
    assert_eq!(stale.epoch, 1);

    // A commits once while it owns the partition.
    commit_state(&a, &db.pool, stale, 1, 7).await.unwrap();

    // A pauses past its lease; B takes the partition over with a new epoch and the committed sequence.
    expire(&db.pool, "a", &[stale.partition as i32]).await;
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    let taken = b.claim().await.unwrap();
    let lease_b = taken
        .acquired
        .iter()
        .find(|l| l.partition == stale.partition)
        .copied()
        .unwrap();
    assert_eq!(lease_b.epoch, 2);
    assert_eq!(lease_b.last_applied_seq, 7);

    // A wakes up and runs its commit with its old epoch: fenced, and nothing it meant to write is there.
    let err = commit_state(&a, &db.pool, stale, 99, 12).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert!(
        matches!(err, LeaseError::Fenced { partition, epoch: 1 } if partition == stale.partition)
    );
    let value: i64 = sqlx::query_scalar("SELECT value FROM state WHERE partition = $1")
        .bind(stale.partition as i32)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(value, 1);
    let seq: i64 =
        sqlx::query_scalar("SELECT last_applied_seq FROM partitions WHERE partition = $1")
            .bind(stale.partition as i32)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(seq, 7);

    // B's fenced commit works.
    let mut tx = db.pool.begin().await.unwrap();
    let fence = b
        .begin_fenced(&mut tx, lease_b.partition, lease_b.epoch)
        .await
        .unwrap();
    assert_eq!(fence.last_applied_seq, 7);
    b.set_applied_seq(&mut tx, &fence, 9).await.unwrap();
    tx.commit().await.unwrap();
    db.teardown().await;
}

#[tokio::test]
async fn an_open_fenced_transaction_keeps_its_partition_from_a_claim() {
    let Some(db) = support::pg().await else {
        return;
    };
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    let lease = a.claim().await.unwrap().acquired[0];
    expire(&db.pool, "a", &[lease.partition as i32]).await;
    // A's lease lapsed, but its fenced transaction started first and holds the row lock.
    let mut tx = db.pool.begin().await.unwrap();
    let fence = a
        .begin_fenced(&mut tx, lease.partition, lease.epoch)
        .await
        .unwrap();
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    let during = b.claim().await.unwrap();
    assert!(
        !set(&during.acquired).contains(&lease.partition),
        "claimed a row under an open fence"
    );
    a.set_applied_seq(&mut tx, &fence, 3).await.unwrap();
    tx.commit().await.unwrap();
    let after = b.claim().await.unwrap();
    let taken = after
        .acquired
        .iter()
        .find(|l| l.partition == lease.partition)
        .copied()
        .unwrap();
    assert_eq!((taken.epoch, taken.last_applied_seq), (lease.epoch + 1, 3));
    db.teardown().await;
}

#[tokio::test]
async fn expiry_hands_partitions_over() {
    let Some(db) = support::pg().await else {
        return;
    };
    let lease = Duration::from_secs(1);
    let a = open(&db.pool, "a", lease).await;
    assert_eq!(a.claim().await.unwrap().acquired.len(), P as usize);
    // A dies (stops renewing). B polls as a runner would, every lease / 3.
    let b = open(&db.pool, "b", lease).await;
    let died = Instant::now();
    let mut held = BTreeSet::new();
    while held.len() < P as usize {
        assert!(
            died.elapsed() < Duration::from_secs(15),
            "no handoff: b holds {held:?}"
        );
        held.extend(set(&b.claim().await.unwrap().acquired));
        tokio::time::sleep(lease / 3).await;
    }
    println!(
        "measured: handoff of {P} partitions after a lease expiry ({lease:?} lease): {:?}",
        died.elapsed()
    );
    let renewal = a.renew(&a.held().await.unwrap()).await.unwrap();
    assert!(renewal.held.is_empty());
    db.teardown().await;
}

#[tokio::test]
async fn a_second_owner_takes_about_half() {
    let Some(db) = support::pg().await else {
        return;
    };
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    assert_eq!(a.claim().await.unwrap().acquired.len(), P as usize);
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    let first = b.claim().await.unwrap();
    assert!(first.acquired.is_empty(), "nothing is free yet");
    assert_eq!((first.live_instances, first.target), (2, P / 2));
    let shed = a.claim().await.unwrap();
    assert_eq!(shed.released.len(), (P / 2) as usize);
    let second = b.claim().await.unwrap();
    assert_eq!(
        set(&second.acquired),
        shed.released.iter().copied().collect()
    );
    assert_eq!(a.held().await.unwrap().len(), (P / 2) as usize);
    // Stable: another round moves nothing.
    let (ca, cb) = (a.claim().await.unwrap(), b.claim().await.unwrap());
    assert!(
        ca.acquired.is_empty()
            && ca.released.is_empty()
            && cb.acquired.is_empty()
            && cb.released.is_empty()
    );
    db.teardown().await;
}

#[tokio::test]
async fn release_hands_over_at_once() {
    let Some(db) = support::pg().await else {
        return;
    };
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    let held = a.claim().await.unwrap().acquired;
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    assert!(b.claim().await.unwrap().acquired.is_empty());
    let started = Instant::now();
    let released = a.release(&held, true).await.unwrap();
    assert_eq!(released.len(), P as usize);
    let taken = b.claim().await.unwrap();
    println!(
        "measured: handoff of {P} partitions after a release: {:?}",
        started.elapsed()
    );
    assert_eq!(
        taken.acquired.len(),
        P as usize,
        "b's target rises to P once a left"
    );
    assert!(taken.acquired.iter().all(|l| l.epoch == 2));
    // A's old epochs are fenced.
    let mut tx = db.pool.begin().await.unwrap();
    assert!(
        a.begin_fenced(&mut tx, held[0].partition, held[0].epoch)
            .await
            .unwrap_err()
            .is_fenced()
    );
    tx.rollback().await.unwrap();
    db.teardown().await;
}

#[tokio::test]
async fn renew_reports_lost_partitions() {
    let Some(db) = support::pg().await else {
        return;
    };
    let a = open(&db.pool, "a", Duration::from_secs(30)).await;
    let held = a.claim().await.unwrap().acquired;
    expire(&db.pool, "a", &[0, 1]).await;
    let b = open(&db.pool, "b", Duration::from_secs(30)).await;
    assert_eq!(
        set(&b.claim().await.unwrap().acquired),
        BTreeSet::from([0, 1])
    );
    let renewal = a.renew(&held).await.unwrap();
    assert_eq!(renewal.lost, vec![0, 1]);
    assert_eq!(renewal.held.len(), P as usize - 2);
    // An expired lease nobody took is lost as well (the next claim takes it back with a new epoch).
    expire(&db.pool, "a", &[5]).await;
    let renewal = a.renew(&renewal.held).await.unwrap();
    assert_eq!(renewal.lost, vec![5]);
    db.teardown().await;
}
