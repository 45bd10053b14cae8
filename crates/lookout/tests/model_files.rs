//! `lookout import` / `lookout export` (issue 12): the configuration files into the model
//! tables and back, on SQLite and PostgreSQL: importing twice changes nothing, an export
//! imports back into the same model, and a broken file is refused with the same located
//! problems as `lookout check`, storing nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lookout::commands::{export, import};
use lookout_store::Store;
use lookout_store::model::Cursor;

use crate::util::FreshPg;

fn env() -> BTreeMap<String, String> {
    [(
        "LOOKOUT_DEMO_WEBHOOK_SECRET".to_owned(),
        "s3cret".to_owned(),
    )]
    .into()
}

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
}

/// The examples copied into `dir` (so a test may break them).
fn copy_examples(dir: &Path) -> PathBuf {
    for name in ["lookout.toml", "users.toml", "rules.toml"] {
        std::fs::copy(examples().join(name), dir.join(name)).unwrap();
    }
    std::fs::create_dir_all(dir.join("areas")).unwrap();
    for entry in std::fs::read_dir(examples().join("areas")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("areas").join(path.file_name().unwrap())).unwrap();
    }
    dir.join("lookout.toml")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn open(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn round_trip(url_a: &str, url_b: &str) {
    let env = env();
    let store = open(url_a).await;
    let main = examples().join("lookout.toml");
    let first = import::import(&main, &env, &store).await.unwrap();
    assert!(first.changed() > 0);
    let again = import::import(&main, &env, &store).await.unwrap();
    assert_eq!(again.changed(), 0, "{}", import::summary(&again));
    let before = store.model_snapshot().await.unwrap();
    assert_eq!(before.orgs.len(), 1);
    assert_eq!(before.users.len(), 4);
    assert!(before.areas.iter().any(|a| a.id == "nz400"));
    // Export, then import the export: into the same store it changes nothing, into a fresh
    // store it gives the same model.
    let out = tempfile::tempdir().unwrap();
    let config = lookout::commands::check::validate(&main, &env).unwrap();
    let exported = export::export(&config, &store, out.path()).await.unwrap();
    let back = import::import(&exported, &env, &store).await.unwrap();
    assert_eq!(back.changed(), 0, "{}", import::summary(&back));
    let fresh = open(url_b).await;
    import::import(&exported, &env, &fresh).await.unwrap();
    assert_eq!(fresh.model_snapshot().await.unwrap(), before);
    // Every change was audited once: the first import only.
    let log = store.audit_log("demo", &Cursor::first(1000)).await.unwrap();
    assert_eq!(log.len() as u64, first.changed());
    store.close().await;
    fresh.close().await;
}

#[test]
fn import_is_idempotent_and_export_round_trips_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = |n: &str| format!("sqlite://{}?mode=rwc", dir.path().join(n).display());
    rt().block_on(round_trip(&url("a.db"), &url("b.db")));
}

#[test]
fn import_is_idempotent_and_export_round_trips_postgres() {
    let (Some(a), Some(b)) = (FreshPg::create(), FreshPg::create()) else {
        return;
    };
    rt().block_on(round_trip(&a.url, &b.url));
}

#[test]
fn a_broken_file_is_refused_with_located_problems_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let main = copy_examples(dir.path());
    let rules = dir.path().join("rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, text.replacen("\"cook-strait\"]", "\"nowhere\"]", 1)).unwrap();
    let check = lookout::commands::check::validate(&main, &env()).unwrap_err();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    rt().block_on(async {
        let store = open(&url).await;
        let err = import::import(&main, &env(), &store).await.unwrap_err();
        assert_eq!(err.to_string(), check.0);
        assert!(err.to_string().contains("rules.toml:"), "{err}");
        assert!(
            err.to_string().contains("unknown area \"nowhere\""),
            "{err}"
        );
        assert!(lookout::error::exit_code_for(&err) == std::process::ExitCode::from(64));
        assert!(store.orgs().await.unwrap().is_empty());
    });
}
