//! SIGKILL one of two running dispatcher processes mid-batch: the live one takes over once the
//! dead one's leases lapse. Nothing is lost, duplicates are at most 0.5% (only the killed
//! instance's sends in flight or not yet flushed) and each carries the same id. PostgreSQL runs
//! with `synchronous_commit = on` (the server default; the test databases do not change it).

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lookout_store::State;

use crate::conformance;
use crate::support::{Kind, TestDb, realtime};

conformance!(kill_9_one_of_two_instances_the_other_takes_over);

const N: usize = 4000;

/// The fixture process, SIGKILLed when dropped (also when an assertion fails).
struct Fixture(Child);

impl Fixture {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL: no cleanup, leases left behind
        let _ = self.0.wait();
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start(db: &TestDb, log: &std::path::Path) -> Fixture {
    let child = Command::new(env!("CARGO_BIN_EXE_lookout-store-crashtest"))
        .args([db.url.as_str(), log.to_str().unwrap(), "1500", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Fixture(child)
}

/// `(id, attempt, pid)` of every logged send.
fn lines(log: &std::path::Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
            ))
        })
        .collect()
}

async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn kill_9_one_of_two_instances_the_other_takes_over(db: Arc<TestDb>) {
    if db.kind == Kind::Postgres {
        let row: (String,) = sqlx::query_as("SHOW synchronous_commit")
            .fetch_one(
                &mut <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            row.0, "on",
            "the crash test runs with synchronous_commit = on"
        );
    }
    db.store
        .commit(&[], &realtime("crash", N as u32), &[])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sent.log");

    let mut victim = start(&db, &log);
    let survivor = start(&db, &log);
    let victim_pid = victim.pid();
    assert!(
        wait_for(Duration::from_secs(30), || {
            let l = lines(&log);
            l.iter().filter(|(_, _, pid)| *pid == victim_pid).count() >= N / 8
                && l.iter().any(|(_, _, pid)| *pid == survivor.pid())
        })
        .await,
        "both instances send"
    );
    victim.kill();
    let n_before = lines(&log).len();
    assert!(
        n_before < N,
        "killed too late to be mid-batch ({n_before} sent)"
    );

    let store = db.store.clone();
    let mut all_delivered = false;
    for _ in 0..2400 {
        let counts = store.count_by_state().await.unwrap();
        if counts.get(&State::Delivered) == Some(&(N as u64)) {
            all_delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(survivor);
    assert!(
        all_delivered,
        "{:?}",
        db.store.count_by_state().await.unwrap()
    );

    let sent = lines(&log);
    let stored: HashSet<String> = db
        .store
        .list_notifications()
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n.id)
        .collect();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for (id, _, _) in &sent {
        assert!(
            stored.contains(id),
            "sent id {id} is a stored notification id"
        );
        *times.entry(id).or_default() += 1;
    }
    assert_eq!(times.len(), N, "every notification was sent: 0 lost");
    let n_dup: usize = times.values().map(|n| n - 1).sum();
    assert!(
        n_dup * 200 <= N,
        "{n_dup} duplicate sends of {N} (more than 0.5%)"
    );
    println!(
        "{:?}: kill -9 of one of two instances after {n_before} sends: {N} delivered, 0 lost, {n_dup} sent twice (same id)",
        db.kind
    );
}
