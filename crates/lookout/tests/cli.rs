//! The command line: version, usage errors, `check`.

use crate::util::{lookout, run_ok, testdata};

#[test]
fn version_and_help_name_the_program() {
    let out = lookout().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lookout "));
    let out = lookout().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "demo", "run", "decode", "replay", "simulate", "check", "migrate",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}: {help}");
    }
}

#[test]
fn check_reports_every_area_problem_at_once_with_exit_64() {
    let out = lookout()
        .args(["check", "--areas"])
        .arg(testdata("areas/broken.geojson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for id in ["unclosed", "too-few", "out-of-range", "bowtie"] {
        assert!(err.contains(id), "problem of {id} not reported: {err}");
    }
    assert!(
        !err.contains("\"fine\""),
        "the valid area is not a problem: {err}"
    );
    assert!(err.contains("broken.geojson"), "the file is named: {err}");
}

#[test]
fn check_accepts_the_shipped_examples() {
    run_ok(
        lookout()
            .args(["check", "--areas"])
            .arg(testdata("areas/denmark.geojson"))
            .arg("--config")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../examples/lookout.toml"
            ))
            .env("LOOKOUT_DEMO_WEBHOOK_SECRET", "x"),
    );
}

#[test]
fn bad_flag_values_are_usage_errors_naming_the_value() {
    let out = lookout()
        .args([
            "replay",
            "x.nmea",
            "--areas",
            "a.geojson",
            "--gap",
            "5 fortnights",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap rejects the value itself");
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 fortnights"));
    let out = lookout()
        .args(["replay", "x.nmea", "--speed", "fast", "--areas"])
        .arg(testdata("areas/denmark.geojson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--speed \"fast\""));
}

#[test]
fn check_names_a_removed_option_and_what_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.toml"),
        "users = \"u.toml\"\nrules = \"r.toml\"\n\n[dispatcher]\nworkers = 4\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("u.toml"), "").unwrap();
    std::fs::write(dir.path().join("r.toml"), "").unwrap();
    let out = lookout()
        .args(["check", "--config"])
        .arg(dir.path().join("lookout.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lookout.toml:5: [dispatcher]: field workers: no longer used")
            && err.contains("concurrency = {"),
        "{err}"
    );
}
