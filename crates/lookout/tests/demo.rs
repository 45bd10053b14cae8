//! `lookout demo` as a user runs it: a subprocess that must deliver entered, exited and
//! gap_started notifications within 60 s, then stop cleanly with exit code 0 on SIGTERM.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{http_get, http_send, lookout, sigterm, start_demo};

fn subjects(maildir: &Path) -> Vec<String> {
    let mut subjects = Vec::new();
    let Ok(users) = std::fs::read_dir(maildir) else {
        return subjects;
    };
    for user in users.flatten() {
        let Ok(mails) = std::fs::read_dir(user.path().join("new")) else {
            continue;
        };
        for mail in mails.flatten() {
            if let Ok(text) = std::fs::read_to_string(mail.path()) {
                // Unfold the header, then take the subject.
                let unfolded = text.replace("\r\n ", " ").replace("\n ", " ");
                if let Some(line) = unfolded.lines().find(|l| l.starts_with("Subject: ")) {
                    subjects.push(line.to_owned());
                }
            }
        }
    }
    subjects
}

#[test]
fn demo_delivers_every_kind_within_a_minute_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let child = lookout()
        .args(["demo", "--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("LOOKOUT_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let maildir = dir.path().join("maildir");
    let wanted = [
        "has entered area",
        "has exited area",
        "has stopped reporting AIS",
    ];
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        seen = subjects(&maildir);
        if wanted.iter().all(|w| seen.iter().any(|s| s.contains(w))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    for w in wanted {
        assert!(
            seen.iter().any(|s| s.contains(w)),
            "no \"{w}\" mail within 60 s; got {seen:#?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The user's own timezone, with its abbreviation.
    assert!(
        seen.iter()
            .any(|s| s.contains("NZDT") || s.contains("NZST")),
        "{seen:#?}"
    );
    let hooks = std::fs::read_to_string(dir.path().join("webhooks.jsonl")).unwrap();
    assert!(
        hooks.lines().count() > 0,
        "the demo's webhook receiver got nothing"
    );
}

#[test]
fn demo_seeds_two_organisations_with_private_tokens() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_demo(dir.path());
    let tokens = dir.path().join("tokens");
    let mut orgs: Vec<String> = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    orgs.sort();
    assert_eq!(orgs, ["demo", "harbour"]);
    let mut rule_ids = Vec::new();
    for org in &orgs {
        let path = tokens.join(org);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let token = std::fs::read_to_string(&path).unwrap();
        assert!(
            token.starts_with("lk_") && !token.contains('\n'),
            "{token:?}"
        );
        let (status, body) = http_get(&addr, "/api/v1/rules", &token);
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ids.is_empty());
        rule_ids.push(ids);
    }
    // Each organisation sees its own rules only.
    assert!(
        rule_ids[1].iter().all(|id| !rule_ids[0].contains(id)),
        "{rule_ids:?}"
    );
    assert_eq!(rule_ids[1], ["harbour-approaches"]);
    let operator = dir.path().join("operator-token");
    assert_eq!(
        std::fs::metadata(&operator).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let operator = std::fs::read_to_string(&operator).unwrap();
    assert_eq!(http_get(&addr, "/api/v1/rules", &operator).0, 403);
    sigterm(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The model edited through the API while the demo runs: an area and a rule on it are added,
/// and without a restart the tracker takes the area (vessels in it enter it) and routing the
/// rule (their notifications are queued).
#[test]
fn demo_takes_an_area_and_a_rule_added_through_the_api_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_demo(dir.path());
    let token = std::fs::read_to_string(dir.path().join("tokens/demo")).unwrap();
    // All of New Zealand's waters: every simulated vessel is inside.
    let area = serde_json::json!({ "id": "all-nz", "name": "All NZ",
        "definition": { "kind": "circle", "lat": -40.0, "lon": 174.0, "radius_nm": 900 } });
    let (status, body) = http_send(&addr, "POST", "/api/v1/areas", &token, Some(&area));
    assert_eq!(status, 201, "{body}");
    let rule = serde_json::json!({ "owner": "aroha", "vessels": "any", "areas": ["all-nz"],
        "events": ["entered"] });
    let (status, body) = http_send(&addr, "POST", "/api/v1/rules", &token, Some(&rule));
    assert_eq!(status, 201, "{body}");
    let rule_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut events, mut notifications) = (0, 0);
    while Instant::now() < deadline && (events == 0 || notifications == 0) {
        std::thread::sleep(Duration::from_millis(500));
        let count = |path: &str| {
            let (status, body) = http_get(&addr, path, &token);
            if status != 200 {
                return 0;
            }
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"]
                .as_array()
                .map_or(0, Vec::len)
        };
        events = count("/api/v1/events?area=all-nz&kind=entered");
        notifications = count(&format!("/api/v1/notifications?rule={rule_id}"));
    }
    assert!(events > 0, "no vessel entered the new area within 60 s");
    assert!(notifications > 0, "the new rule queued nothing within 60 s");
    sigterm(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
