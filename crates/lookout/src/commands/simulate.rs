//! `lookout simulate`: deterministic simulated traffic to a file or served over TCP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lookout_feed::simulate::{self, Scenario, SimConfig};

use crate::error::UsageError;
use crate::runtime::{runtime, shutdown_on_signals};

/// `lookout simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Scenario name.
    #[arg(long, default_value = "nz")]
    pub scenario: String,
    /// Number of vessels.
    #[arg(long, default_value_t = 50)]
    pub vessels: u32,
    /// Simulated hours.
    #[arg(long, default_value_t = 6.0)]
    pub hours: f64,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write sentences to this file.
    #[arg(long, conflicts_with = "tcp")]
    pub out: Option<PathBuf>,
    /// Serve sentences to TCP clients on this address.
    #[arg(long, requires = "rate")]
    pub tcp: Option<SocketAddr>,
    /// Simulated seconds per wall-clock second when serving over TCP.
    #[arg(long)]
    pub rate: Option<f64>,
}

/// Writes the simulation to `--out`, or serves it on `--tcp` until SIGINT/SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
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
