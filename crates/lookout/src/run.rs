//! `lookout run`, `lookout demo`, `lookout simulate`, `lookout check` and `lookout migrate`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lookout_feed::simulate::{self, Scenario, SimConfig};
use lookout_track::runner::ShardConfig;
use sentinel::{DeadlineMode, Shutdown};

use crate::cli::{CheckArgs, DemoArgs, MigrateArgs, RunArgs, SimulateArgs, UsageError};
use crate::demo_receiver::Receiver;
use crate::service::{self, Started};
use crate::setup;

/// How long shutdown may take in all (drain, flush, in-flight sends, cleanups).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lookout")
        .build()
        .context("cannot start the async runtime")
}

/// The shutdown coordinator of a command: SIGINT/SIGTERM start it, `deadline` bounds it all.
fn shutdown_on_signals(deadline: Duration) -> anyhow::Result<Shutdown> {
    let shutdown = Shutdown::new(DeadlineMode::Forceful(deadline));
    shutdown
        .listen_for_signals()
        .context("cannot listen for signals")?;
    Ok(shutdown)
}

fn load_config(
    path: &Path,
    env: &dyn lookout_notify::config::EnvSource,
) -> anyhow::Result<lookout_notify::config::Config> {
    lookout_notify::config::load(path, env).map_err(|e| UsageError(e.to_string()).into())
}

/// `lookout run --config FILE`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config, &lookout_notify::config::ProcessEnv)?;
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signals(SHUTDOWN_DEADLINE)?;
        let parts = setup::parts(&config, ShardConfig::default()).await?;
        let started = service::start(parts, &shutdown).await?;
        tracing::info!(ops = %started.http_addr, config = %args.config.display(), "lookout running");
        Ok(serve_until_shutdown(started, &shutdown).await)
    })
}

/// Waits for shutdown (the top-level supervisor holds a shutdown lock until every stage has
/// stopped, so this returns after the pipeline drained) and returns the exit code.
async fn serve_until_shutdown(started: Started, shutdown: &Shutdown) -> ExitCode {
    let report = shutdown.wait().await;
    // The supervisor has stopped by now; its own failures were logged by sentinel.
    drop(started.supervisor);
    report.exit_code()
}

/// The example configuration, embedded so that `lookout demo` works from any directory.
mod embedded {
    pub(super) const LOOKOUT_TOML: &str = include_str!("../../../examples/lookout.toml");
    pub(super) const USERS_TOML: &str = include_str!("../../../examples/users.toml");
    pub(super) const RULES_TOML: &str = include_str!("../../../examples/rules.toml");
    pub(super) const AREAS: [(&str, &str); 2] = [
        (
            "nz.geojson",
            include_str!("../../../examples/areas/nz.geojson"),
        ),
        (
            "nz-outline.geojson",
            include_str!("../../../examples/areas/nz-outline.geojson"),
        ),
    ];
}

/// Secret the demo signs its webhooks with (the receiver is its own, on loopback).
const DEMO_WEBHOOK_SECRET: &str = "lookout-demo-secret";

/// Writes the demo's configuration into `dir`, pointing at the given addresses.
pub fn write_demo_config(
    dir: &Path,
    http: std::net::SocketAddr,
    simulator: std::net::SocketAddr,
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
    let users = embedded::USERS_TOML.replace("lookout-demo/maildir/", "maildir/");
    write(&abs.join("lookout.toml"), &lookout)?;
    write(&abs.join("users.toml"), &users)?;
    write(&abs.join("rules.toml"), embedded::RULES_TOML)?;
    Ok(abs.join("lookout.toml"))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `lookout demo`.
pub fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(run_demo(args))
}

async fn run_demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
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
    let config = load_config(&config_path, &env)?;
    let shard_config = ShardConfig {
        shards: 2,
        // Simulated time runs `speed` times faster than the wall clock: gap timers follow the
        // traffic's own clock.
        wall_clock: false,
        checkpoint_every: Some(Duration::from_secs(1)),
        ..ShardConfig::default()
    };
    let parts = setup::parts(&config, shard_config).await?;
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
         config:   {config}\n\
         Ctrl-C to stop.",
        speed = args.speed,
        maildir = maildir.display(),
        hooks = dir.join("webhooks.jsonl").display(),
        ops = started.http_addr,
        config = config_path.display(),
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

/// `lookout simulate`.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::parse(&args.scenario).ok_or_else(|| {
        UsageError(format!(
            "unknown scenario {:?}: the only one is \"nz\"",
            args.scenario
        ))
    })?;
    let config = SimConfig {
        scenario,
        vessels: usize::try_from(args.vessels).unwrap_or(usize::MAX),
        hours: args.hours,
        seed: args.seed,
        ..SimConfig::default()
    };
    if let Some(path) = &args.out {
        let summary = simulate::run_to_file(&config, path).map_err(|e| match e {
            simulate::SimError::Config(msg) => anyhow::Error::from(UsageError(msg)),
            other => anyhow::Error::from(other),
        })?;
        tracing::info!(?summary, path = %path.display(), "simulation written");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(addr) = args.tcp else {
        return Err(UsageError("give --out FILE or --tcp ADDR --rate R".into()).into());
    };
    let rate = args.rate.unwrap_or(60.0);
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signals(Duration::from_secs(10))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, rate, "serving simulated AIS; connect a tcp_client source");
        let serve = simulate::ServeConfig {
            rate,
            ..simulate::ServeConfig::default()
        };
        let summary = shutdown
            .run_until_shutdown(async {
                let summary =
                    simulate::serve_tcp(listener, &config, &serve, shutdown.token()).await?;
                tracing::info!(?summary, "simulation served");
                Ok::<(), simulate::SimError>(())
            })
            .await;
        Ok(summary.exit_code())
    })
}

/// `lookout check`: validates configuration and area files, printing every problem.
pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    if args.config.is_none() && args.areas.is_empty() {
        return Err(
            UsageError("nothing to check: give --config FILE and/or --areas FILE".into()).into(),
        );
    }
    let mut problems: Vec<String> = Vec::new();
    if let Some(path) = &args.config {
        match lookout_notify::config::load(path, &lookout_notify::config::ProcessEnv) {
            Ok(config) => {
                if let Err(e) = setup::build_areas(&config) {
                    problems.push(e.0);
                }
                for problem in config.renderer().1 {
                    problems.push(format!("{}: {}", problem.path, problem.message));
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    for path in &args.areas {
        if let Err(e) = setup::load_areas(path) {
            problems.push(e.0);
        }
    }
    if problems.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ok");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(UsageError(problems.join("\n")).into())
    }
}

/// `lookout migrate`.
pub fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = match (&args.database_url, &args.config) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => load_config(path, &lookout_notify::config::ProcessEnv)?.store_url,
        (None, None) => {
            return Err(UsageError("give --database-url URL or --config FILE".into()).into());
        }
    };
    runtime()?.block_on(async {
        let store = setup::open_store(&url).await?;
        store.close().await;
        tracing::info!(url = %setup::redact(&url), "migrations applied");
        Ok(ExitCode::SUCCESS)
    })
}
