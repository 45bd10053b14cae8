//! Shared helpers: paths to test data, the built binary, skip rules.

use std::path::PathBuf;

/// The `lookout` binary built for these tests.
pub(crate) fn lookout() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// Runs `cmd` to completion and asserts that it succeeded, showing its stderr otherwise.
pub(crate) fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Sends SIGTERM to a child process, as a service manager does.
pub(crate) fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {} failed", child.id());
}

/// `testdata/` of this repository.
pub(crate) fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

/// A file of `../shared/data`, or `None` (after saying why) when it is absent and
/// `LOOKOUT_REQUIRE_DATA` is not set.
pub(crate) fn shared_data(rel: &str) -> Option<PathBuf> {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("LOOKOUT_REQUIRE_DATA").is_none(),
        "LOOKOUT_REQUIRE_DATA is set but {} is missing",
        path.display()
    );
    eprintln!(
        "skipped: {} is absent (set LOOKOUT_REQUIRE_DATA=1 to fail instead)",
        path.display()
    );
    None
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
pub(crate) struct FreshPg {
    /// Its URL.
    pub(crate) url: String,
    admin: String,
    name: String,
}

impl FreshPg {
    /// Creates one on `LOOKOUT_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
    /// or returns `None` (after saying why) when no server answers and `LOOKOUT_REQUIRE_PG` is
    /// not set.
    pub(crate) fn create() -> Option<FreshPg> {
        let admin = std::env::var("LOOKOUT_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        // Only digits and underscores: safe to splice into the statement.
        let name = format!("lookout_it_{}", uuid_like());
        let result = block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            conn.close().await
        });
        if let Err(err) = result {
            assert!(
                std::env::var_os("LOOKOUT_REQUIRE_PG").is_none(),
                "LOOKOUT_REQUIRE_PG is set but PostgreSQL at {admin} is unusable: {err}"
            );
            eprintln!(
                "skipped: PostgreSQL at {admin} is unusable ({err}); set LOOKOUT_REQUIRE_PG=1 to fail instead"
            );
            return None;
        }
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(FreshPg {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for FreshPg {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await
        });
    }
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}

/// A minimal HTTP/1.1 GET with a bearer token: (status, body); status 0 when nothing listens.
pub(crate) fn http_get(addr: &str, path: &str, token: &str) -> (u16, String) {
    http_send(addr, "GET", path, token, None)
}

/// A minimal HTTP/1.1 request with a bearer token and an optional JSON body: (status, body);
/// status 0 when nothing listens.
pub(crate) fn http_send(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    json: Option<&serde_json::Value>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let body = json.map(ToString::to_string).unwrap_or_default();
    let _ = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

/// Starts `lookout demo` on `dir` (any free port, warnings only) and reads the ops address from
/// its banner: `(child, "127.0.0.1:PORT")`.
pub(crate) fn start_demo(dir: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = lookout()
        .args(["demo", "--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("LOOKOUT_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("ops:      http://")
                .and_then(|r| r.split('/').next())
                .map(str::to_owned)
        })
        .expect("no ops line in the banner");
    (child, addr)
}
