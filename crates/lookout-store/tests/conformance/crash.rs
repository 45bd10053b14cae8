//! SIGKILL a dispatcher process mid-batch, restart it: nothing is lost, and a notification
//! sent twice (sent, then killed before it was marked) carries the same id both times.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lookout_store::State;

use crate::conformance;
use crate::support::{TestDb, realtime};

conformance!(kill_9_mid_batch_loses_nothing);

const N: usize = 120;

/// The fixture process, SIGKILLed when dropped (also when an assertion fails).
struct Fixture(Child);

impl Fixture {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL: no cleanup, leases left behind
        let _ = self.0.wait();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start(db: &TestDb, log: &std::path::Path) -> Fixture {
    let child = Command::new(env!("CARGO_BIN_EXE_lookout-store-crashtest"))
        .args([db.url.as_str(), log.to_str().unwrap(), "1500"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Fixture(child)
}

fn lines(log: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, attempt)| (id.to_owned(), attempt.to_owned()))
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

async fn kill_9_mid_batch_loses_nothing(db: Arc<TestDb>) {
    db.store
        .commit(&[], &realtime("crash", N as u32), &[])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sent.log");

    let mut first = start(&db, &log);
    assert!(
        wait_for(Duration::from_secs(20), || lines(&log).len() >= 10).await,
        "first dispatcher never sent"
    );
    first.kill();
    let n_before = lines(&log).len();
    assert!(
        n_before < N,
        "killed too late to be mid-batch ({n_before} sent)"
    );

    let mut second = start(&db, &log);
    let store = db.store.clone();
    let mut all_delivered = false;
    for _ in 0..600 {
        let counts = store.count_by_state().await.unwrap();
        if counts.get(&State::Delivered) == Some(&(N as u64)) {
            all_delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    second.kill();
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
    for (id, _) in &sent {
        assert!(
            stored.contains(id),
            "sent id {id} is a stored notification id"
        );
        *times.entry(id).or_default() += 1;
    }
    assert_eq!(times.len(), N, "every notification was sent");
    let n_dup = times.values().filter(|&&n| n > 1).count();
    // Only what was in flight at the kill can be sent twice: at most one claimed batch.
    assert!(n_dup <= 16, "{n_dup} duplicates");
    println!("kill -9 after {n_before} sends: {N} delivered, {n_dup} sent twice (same id)");
}
