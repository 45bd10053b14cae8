//! `lookout demo`: the whole service with zero configuration — SQLite, the built-in traffic
//! simulator, demo users in three timezones, delivery to a local Maildir and webhook receiver.
//! Two organisations are seeded into the model tables through `lookout import`, and an admin
//! token per organisation (`DIR/tokens/<org>`) and an operator token (`DIR/operator-token`)
//! are written, mode 0600, before the HTTP listener answers.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lookout_feed::simulate::{self, SimConfig};
use lookout_track::runner::ShardConfig;

use crate::args::parse_duration;
use crate::demo_receiver::Receiver;
use crate::runtime::{SHUTDOWN_DEADLINE, runtime, serve_until_shutdown, shutdown_on_signals};
use crate::{service, setup};

/// `lookout demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Directory for the SQLite database and the Maildir.
    #[arg(long, default_value = "lookout-demo")]
    pub data_dir: PathBuf,
    /// Address of the ops endpoints (/healthz, /metrics, ...).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 120.0)]
    pub speed: f64,
    /// Stop after this long (e.g. `90s`); runs until Ctrl-C when absent.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// The example configuration, embedded so that `lookout demo` works from any directory.
pub(crate) mod embedded {
    pub(crate) const LOOKOUT_TOML: &str = include_str!("../../../../examples/lookout.toml");
    pub(crate) const USERS_TOML: &str = include_str!("../../../../examples/users.toml");
    pub(crate) const RULES_TOML: &str = include_str!("../../../../examples/rules.toml");
    pub(crate) const AREAS: [(&str, &str); 2] = [
        (
            "nz.geojson",
            include_str!("../../../../examples/areas/nz.geojson"),
        ),
        (
            "nz-outline.geojson",
            include_str!("../../../../examples/areas/nz-outline.geojson"),
        ),
    ];
}

/// The demo's second organisation, with its own user and rule (appended to the examples).
const SECOND_ORG_USERS: &str = r#"
# The demo's second organisation (issue 12): its own user and rule, to try tenant isolation.
[[organisations]]
id = "harbour"
name = "Harbour Pilots"

[[users]]
id = "tane"
org = "harbour"
name = "Tane Pilot"
email = "tane@example.com"
timezone = "Pacific/Auckland"
channels = [{ kind = "maildir", path = "maildir/tane" }]
"#;

/// The second organisation's rule.
const SECOND_ORG_RULES: &str = r#"
[[rules]]
id = "harbour-approaches"
owner = "tane"
vessels = "any"
areas = ["akl-approaches"]
events = ["entered"]
"#;

/// Secret the demo signs its webhooks with (the receiver is its own, on loopback).
const DEMO_WEBHOOK_SECRET: &str = "lookout-demo-secret";

/// Writes the demo's configuration into `dir`, pointing at the given addresses.
pub fn write_demo_config(
    dir: &Path,
    http: SocketAddr,
    simulator: SocketAddr,
    webhook_url: &str,
) -> anyhow::Result<PathBuf> {
    let abs =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    std::fs::create_dir_all(abs.join("areas"))
        .with_context(|| format!("cannot create {}", abs.join("areas").display()))?;
    for (name, text) in embedded::AREAS {
        write(&abs.join("areas").join(name), text)?;
    }
    let store = format!("sqlite://{}?mode=rwc", abs.join("lookout.db").display());
    let lookout = embedded::LOOKOUT_TOML
        .replace("sqlite://lookout-demo/lookout.db", &store)
        .replace("127.0.0.1:9090", &http.to_string())
        .replace("127.0.0.1:10110", &simulator.to_string())
        .replace("http://127.0.0.1:9091/hooks/lookout", webhook_url);
    let users =
        embedded::USERS_TOML.replace("lookout-demo/maildir/", "maildir/") + SECOND_ORG_USERS;
    write(&abs.join("lookout.toml"), &lookout)?;
    write(&abs.join("users.toml"), &users)?;
    write(
        &abs.join("rules.toml"),
        &format!("{}{SECOND_ORG_RULES}", embedded::RULES_TOML),
    )?;
    Ok(abs.join("lookout.toml"))
}

/// Makes sure (the demo's files being imported by [`setup::parts`]) `dir/tokens/<org>` holds a
/// live admin token of each organisation and `dir/operator-token` an operator token (kept
/// across restarts while they still authenticate; mode 0600). Returns the tokens directory.
async fn seed(store: &lookout_store::Store, dir: &Path) -> anyhow::Result<PathBuf> {
    use lookout_store::model::Role;
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)
        .with_context(|| format!("cannot create {}", tokens.display()))?;
    let mut wanted: Vec<(Option<String>, PathBuf)> = store
        .orgs()
        .await?
        .into_iter()
        .map(|o| (Some(o.id.clone()), tokens.join(&o.id)))
        .collect();
    wanted.push((None, dir.join("operator-token")));
    for (org, path) in wanted {
        if let Ok(existing) = std::fs::read_to_string(&path)
            && crate::tokens::authenticate(store, existing.trim())
                .await?
                .is_some()
        {
            continue;
        }
        let role = if org.is_some() {
            Role::Admin
        } else {
            Role::Operator
        };
        let (_, secret) =
            crate::tokens::create(store, org.as_deref(), role, "demo", "demo").await?;
        write_private(&path, &secret)?;
    }
    Ok(tokens)
}

/// Writes `text` to `path` readable by its owner only (0600).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs the demo until Ctrl-C or `--duration`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(run_demo(args))
}

async fn run_demo(args: &Args) -> anyhow::Result<ExitCode> {
    // Metrics recorder first, before the simulator or receiver register anything.
    let _ = crate::ops::prometheus();
    let shutdown = shutdown_on_signals(SHUTDOWN_DEADLINE)?;
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

    // The demo's own webhook receiver and traffic simulator, on loopback.
    let receiver = Receiver::new(dir.join("webhooks.jsonl"));
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the demo webhook receiver")?;
    let hook_addr = hook_listener
        .local_addr()
        .context("webhook receiver address")?;
    let _receiver = sentinel::spawn(
        "demo/webhook-receiver",
        sentinel::http::serve(hook_listener, receiver.router(), shutdown.token()),
    );
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the simulator")?;
    let sim_addr = sim_listener.local_addr().context("simulator address")?;
    let serve = simulate::ServeConfig {
        rate: args.speed,
        ..simulate::ServeConfig::default()
    };
    let sim_token = shutdown.token();
    let _simulator = sentinel::spawn("demo/simulator", async move {
        simulate::serve_tcp(sim_listener, &SimConfig::demo(), &serve, sim_token).await
    });

    let config_path = write_demo_config(
        dir,
        args.http,
        sim_addr,
        &format!("http://{hook_addr}/hook"),
    )?;
    let env: BTreeMap<String, String> = [(
        "LOOKOUT_DEMO_WEBHOOK_SECRET".to_owned(),
        DEMO_WEBHOOK_SECRET.to_owned(),
    )]
    .into();
    let config = setup::load_config(&config_path, &env)?;
    let shard_config = ShardConfig {
        shards: 2,
        // Simulated time runs `speed` times faster than the wall clock: gap timers follow the
        // traffic's own clock.
        wall_clock: false,
        checkpoint_every: Some(Duration::from_secs(1)),
        ..ShardConfig::default()
    };
    let parts = setup::parts(&config, shard_config, Arc::new(env), setup::Seed::Always).await?;
    let tokens = seed(&parts.store, dir).await?;
    let started = service::start(parts, &shutdown).await?;
    let maildir = std::path::absolute(dir.join("maildir")).unwrap_or_else(|_| dir.join("maildir"));
    let mut out = std::io::stdout().lock();
    // The banner is the demo's user interface; a closed stdout is not worth failing for.
    let _ = writeln!(
        out,
        "lookout demo running ({speed}x simulated time)\n  \
         mail:     {maildir}/<user>/new/\n  \
         webhooks: {hooks}\n  \
         ops:      http://{ops}/healthz  /readyz  /info  /tasks  /connections  /metrics\n  \
         api:      http://{ops}/api/v1/openapi.json (tokens: {tokens}/<org>, operator-token)\n  \
         config:   {config}\n\
         Ctrl-C to stop.",
        speed = args.speed,
        maildir = maildir.display(),
        hooks = dir.join("webhooks.jsonl").display(),
        ops = started.http_addr,
        config = config_path.display(),
        tokens = tokens.display(),
    );
    drop(out);
    if let Some(limit) = args.duration {
        let timer = shutdown.clone();
        let _timer = sentinel::spawn("demo/duration", async move {
            tokio::select! {
                () = tokio::time::sleep(limit) => timer.trigger(format!("demo --duration {limit:?} elapsed")),
                () = timer.triggered() => {}
            }
            Ok::<(), std::convert::Infallible>(())
        });
    }
    let code = serve_until_shutdown(started, &shutdown).await;
    tracing::info!(webhooks_received = receiver.received(), "demo stopped");
    Ok(code)
}
