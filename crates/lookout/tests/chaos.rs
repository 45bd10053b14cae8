//! The bounded CI form of `lookout chaos` (issue 10): three instances, a minute of traffic,
//! three SIGKILLs, a PostgreSQL and a NATS restart, a failing and a hanging receiver. The full
//! run (`--duration 5m --kills 20`) is on demand; its figures are in the README.

use crate::util::{lookout, run_ok};

#[test]
fn chaos_bounded_run_loses_nothing_and_delivers_nothing_spurious() {
    let have_nats = lookout_cluster::rig::find_nats_server().is_some();
    let have_pg = lookout_cluster::rig::find_postgres_bin().is_some();
    if !(have_nats && have_pg) {
        assert!(
            std::env::var("LOOKOUT_REQUIRE_NATS").as_deref() != Ok("1")
                && std::env::var("LOOKOUT_REQUIRE_PG").as_deref() != Ok("1"),
            "the chaos suite needs nats-server ({have_nats}) and initdb/pg_ctl ({have_pg})"
        );
        eprintln!("skipped: nats-server or initdb not found (set LOOKOUT_REQUIRE_NATS=1 to fail)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = run_ok(
        lookout()
            .args([
                "chaos",
                "--duration",
                "60s",
                "--kills",
                "4",
                "--vessels",
                "40",
            ])
            .args(["--hours", "4", "--seed", "3", "--report"])
            .arg(&report_path)
            .arg("--keep")
            .arg(dir.path().join("work")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    eprintln!("{report}");
    assert!(report["expected"].as_u64().unwrap() > 0, "{stderr}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["spurious"], 0, "{report}");
    assert_eq!(report["duplicates_with_other_id"], 0, "{report}");
    // A SIGKILL between a send and its recorded outcome re-sends that notification with the same
    // id (at-least-once, with the Idempotency-Key): with ~50 notifications one such re-send is
    // 2%, so this bounded form allows one per kill; the 0.5% goal is the full run's (README).
    assert!(
        report["duplicates"].as_u64().unwrap() <= report["kills"].as_u64().unwrap(),
        "{report}"
    );
    assert_eq!(report["kills"], 4, "{report}");
    // The goal is < 10 s (a 6 s lease renewed every 2 s); a shared CI machine gets slack.
    assert!(
        report["failover_p99_s"].as_f64().unwrap() < 15.0,
        "{report}"
    );
}
