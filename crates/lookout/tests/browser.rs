//! The status page in headless Chromium (issue 12): `lookout demo` runs; Playwright
//! (`tests/browser/status-page.mjs`, npm `playwright-core`, Debian's `/usr/bin/chromium`) signs
//! in through the form as the operator and as the demo organisation, loads every page with no
//! console error and no failed request, finds the demo's areas and vessels on the map, and
//! requeues a dead notification from its page. Screenshots go to `target/status-page/`.
//!
//! Skips with a message when Chromium, Node.js or `tests/browser/node_modules` is missing
//! (`.ci/install-deps` installs them), unless `LOOKOUT_REQUIRE_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{http_get, sigterm, start_demo};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn status_page_in_chromium() {
    let scripts = repo().join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let have = Path::new(&chromium).exists()
        && node_ok
        && scripts.join("node_modules/playwright-core").exists();
    if !have {
        assert!(
            std::env::var("LOOKOUT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "LOOKOUT_REQUIRE_BROWSER=1 but chromium ({chromium}), node or tests/browser/node_modules is missing: run .ci/install-deps"
        );
        eprintln!(
            "skipped: chromium, node or tests/browser/node_modules missing (run .ci/install-deps)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_demo(dir.path());
    let token = std::fs::read_to_string(dir.path().join("tokens/demo")).unwrap();
    let operator = std::fs::read_to_string(dir.path().join("operator-token")).unwrap();

    // A realtime notification the demo delivered, made dead as a permanent failure would.
    let deadline = Instant::now() + Duration::from_secs(120);
    let id = loop {
        let (_, body) = http_get(&addr, "/api/v1/notifications?state=delivered", &token);
        let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let found = page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|n| n["delivery"] == "realtime")
                .and_then(|n| n["id"].as_str().map(str::to_owned))
        });
        if let Some(id) = found {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the demo delivered nothing in 120 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let db = format!("sqlite://{}", dir.path().join("lookout.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        let done = sqlx::query(
            "UPDATE outbox SET state = 'dead', last_error = 'made dead by the browser test' WHERE id = ?",
        )
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
    });

    let out = repo().join("target/status-page");
    std::fs::create_dir_all(&out).unwrap();
    let run = std::process::Command::new("node")
        .arg(scripts.join("status-page.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&token)
        .arg(&operator)
        .arg(&out)
        .arg(&id)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    sigterm(&child);
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the browser script: {stdout}\n{stderr}"));
    eprintln!("{report}");
    assert!(run.status.success(), "{report}\n{stderr}");
    let r = &report["results"];
    assert_eq!(r["operatorTasks"], 1, "{report}");
    assert_eq!(r["chart"], 1, "{report}");
    assert!(r["areas"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert!(r["vessels"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert!(r["events"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert!(r["notifications"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(r["before"], "dead", "{report}");
    let after = r["after"].as_str().unwrap_or("");
    assert!(
        ["pending", "leased", "delivered"].contains(&after),
        "requeued: {report}"
    );
    for shot in [
        "overview-operator",
        "overview",
        "map",
        "events",
        "notifications",
        "notification-requeued",
    ] {
        assert!(out.join(format!("{shot}.png")).exists(), "{shot}.png");
    }
}
