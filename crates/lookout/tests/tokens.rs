//! API tokens (issue 12): created once with a random secret, stored as SHA-256 only,
//! authenticated while live, revoked for good; through the library and the `lookout token` CLI.

use std::path::Path;

use lookout_store::Store;
use lookout_store::model::{Organisation, Role};

use crate::util::{lookout, run_ok};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tokens_are_random_hashed_scoped_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    rt().block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let audit = lookout_store::model::Audit::new("test", "org.create", "organisation/a");
        let org = Organisation {
            id: "a".into(),
            name: "A".into(),
        };
        store.put_org(&org, &audit).await.unwrap();
        let (t1, s1) = lookout::tokens::create(&store, Some("a"), Role::Admin, "x", "test")
            .await
            .unwrap();
        let (_, s2) = lookout::tokens::create(&store, Some("a"), Role::Admin, "x", "test")
            .await
            .unwrap();
        assert_ne!(s1, s2);
        assert!(s1.starts_with("lk_") && s1.len() == 3 + 64, "{s1}");
        // Only the hash is stored: the secret itself finds nothing as a hash.
        assert!(store.token_by_hash(&s1).await.unwrap().is_none());
        let found = lookout::tokens::authenticate(&store, &s1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id.as_str(), found.org_id.as_deref(), found.role),
            (t1.id.as_str(), Some("a"), Role::Admin)
        );
        assert!(
            lookout::tokens::authenticate(&store, "lk_00")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            lookout::tokens::authenticate(&store, "Bearer x")
                .await
                .unwrap()
                .is_none()
        );
        // Scope: unknown organisation, operator with an organisation, organisation token without.
        let err = |r: Result<_, lookout::tokens::TokenError>| r.unwrap_err().to_string();
        assert!(
            err(lookout::tokens::create(&store, Some("b"), Role::Viewer, "", "t").await)
                .contains("unknown organisation")
        );
        assert!(
            err(lookout::tokens::create(&store, Some("a"), Role::Operator, "", "t").await)
                .contains("operator")
        );
        assert!(
            err(lookout::tokens::create(&store, None, Role::Admin, "", "t").await)
                .contains("--org")
        );
        let (op, s_op) = lookout::tokens::create(&store, None, Role::Operator, "ops", "t")
            .await
            .unwrap();
        assert_eq!(op.org_id, None);
        assert!(
            lookout::tokens::authenticate(&store, &s_op)
                .await
                .unwrap()
                .is_some()
        );
        // Revoked: never authenticates again.
        let audit = lookout_store::model::Audit::new("test", "token.revoke", "token/x");
        assert!(store.revoke_token(&t1.id, &audit).await.unwrap());
        assert!(
            lookout::tokens::authenticate(&store, &s1)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            lookout::tokens::authenticate(&store, &s2)
                .await
                .unwrap()
                .is_some()
        );
    });
}

/// A config whose store is a fresh SQLite file in `dir`, with the examples' users and rules.
fn config_in(dir: &Path) -> std::path::PathBuf {
    let examples = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"));
    let main = std::fs::read_to_string(examples.join("lookout.toml")).unwrap();
    let db = dir.join("cli.db");
    let main = main
        .replace(
            "sqlite://lookout-demo/lookout.db",
            &format!("sqlite://{}?mode=rwc", db.display()),
        )
        .replace(
            "\"users.toml\"",
            &format!("{:?}", examples.join("users.toml")),
        )
        .replace(
            "\"rules.toml\"",
            &format!("{:?}", examples.join("rules.toml")),
        )
        .replace("\"areas/", &format!("\"{}/areas/", examples.display()));
    let path = dir.join("lookout.toml");
    std::fs::write(&path, main).unwrap();
    path
}

#[test]
fn the_token_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let cmd = |args: &[&str]| {
        let mut c = lookout();
        c.args(args)
            .arg("--config")
            .arg(&config)
            .env("LOOKOUT_DEMO_WEBHOOK_SECRET", "s");
        c
    };
    run_ok(&mut cmd(&["import"]));
    let out = run_ok(&mut cmd(&[
        "token", "create", "--org", "demo", "--role", "editor", "--name", "ci",
    ]));
    let secret = String::from_utf8(out.stdout).unwrap();
    assert!(
        secret.trim().starts_with("lk_") && secret.lines().count() == 1,
        "{secret}"
    );
    let out = run_ok(&mut cmd(&[
        "token",
        "create",
        "--operator",
        "--name",
        "ops",
    ]));
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("lk_"));
    let out = run_ok(&mut cmd(&["token", "list"]));
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(!list.contains(secret.trim()), "the list shows a secret");
    let line = list
        .lines()
        .find(|l| l.contains("\tdemo\teditor\tci\t"))
        .unwrap();
    assert!(line.ends_with("\t-"), "{line}");
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(
        list.lines().any(|l| l.contains("\t-\toperator\tops\t")),
        "{list}"
    );
    run_ok(&mut cmd(&["token", "revoke", &id]));
    let list = String::from_utf8(run_ok(&mut cmd(&["token", "list"])).stdout).unwrap();
    assert!(
        !list
            .lines()
            .find(|l| l.starts_with(&id))
            .unwrap()
            .ends_with("\t-")
    );
    // Usage errors exit 64: an unknown organisation, a token revoked twice.
    let out = cmd(&["token", "create", "--org", "nope", "--role", "admin"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cmd(&["token", "revoke", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}
