//! `lookout chaos`: several `lookout run` instances in cluster mode under faults, compared with
//! one uninterrupted instance on the same traffic (issue 10).
//!
//! The command starts its own PostgreSQL cluster and `nats-server -js` (free ports, temporary
//! directories), a webhook receiver recording every 2xx delivery, and the deterministic traffic
//! simulator over TCP (it waits for its slowest reader, so nothing is dropped by the rig). Then:
//!
//! 1. **Truth**: one instance, its own database and stream, fed as fast as it reads.
//! 2. **Chaos**: `--instances` instances on one stream and database, fed at the pace that
//!    spreads the traffic over `--duration`, while exactly `--kills` SIGKILLs hit random
//!    instances (each restarted at once), PostgreSQL restarts once, NATS restarts once, and the
//!    receiver answers 503 for a while and hangs for a while.
//! 3. **Settle** (receiver healthy, until every notification is delivered), then the report:
//!    lost, spurious and duplicate deliveries by dedupe key, failover (kill → every partition
//!    owned again, from the instances' `lookout_partitions_owned`) and queue → delivery latency.
//!
//! Exits 0 when the run completed, whatever it found; the report says what it found.

mod report;
mod rig;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use lookout_cluster::rig::{NatsRig, PgRig};

use crate::args::parse_duration;
use crate::runtime::runtime;
use report::{Report, compare};
use rig::{Fleet, Mode, Receiver, Traffic};

/// `lookout chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Instances of the chaos phase (all roles each).
    #[arg(long, default_value_t = 3)]
    pub instances: usize,
    /// Wall-clock length of the chaos phase (the traffic is paced to fill it).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// SIGKILLs to inject, at random times on random instances (each restarted at once).
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Seed of the traffic and of the fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated vessels.
    #[arg(long, default_value_t = 60)]
    pub vessels: usize,
    /// Simulated hours of traffic.
    #[arg(long, default_value_t = 6.0)]
    pub hours: f64,
    /// Partitions of the observation log.
    #[arg(long, default_value_t = 16)]
    pub partitions: u32,
    /// Keep the working directory (configurations and instance logs) here instead of a
    /// temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Runs the suite and writes the report.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(chaos(args))?;
    let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
    if let Some(path) = &args.report {
        std::fs::write(path, &json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    let _ = writeln!(
        std::io::stderr(),
        "chaos: expected {} delivered {} lost {} spurious {} duplicates {} ({:.2}%, {} with another id); \
         {} kills, failover p50 {:.1}s p99 {:.1}s; latency p50 {:.1}s p99 {:.1}s; faults: {}",
        report.expected,
        report.delivered,
        report.lost,
        report.spurious,
        report.duplicates,
        report.duplicate_ratio * 100.0,
        report.duplicates_with_other_id,
        report.kills,
        report.failover_p50_s,
        report.failover_p99_s,
        report.latency_p50_s,
        report.latency_p99_s,
        report.faults.join(", "),
    );
    let _ = writeln!(std::io::stdout(), "{json}");
    Ok(ExitCode::SUCCESS)
}

/// A fault of the schedule, at a fraction of the chaos phase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    PgRestart,
    NatsRestart,
    Receiver(Mode, Duration),
}

/// splitmix64: a seeded schedule without another dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Exactly `kills` kills in [5%, 85%] of the phase, one PostgreSQL and one NATS restart, a 503
/// period and a hang period of the receiver; sorted by time.
fn schedule(kills: usize, duration: Duration, seed: u64) -> Vec<(Duration, Fault)> {
    let mut state = seed;
    let mut at = |lo: f64, hi: f64| {
        let unit = (next(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
        duration.mul_f64(lo + unit * (hi - lo))
    };
    let mut faults: Vec<(Duration, Fault)> =
        (0..kills).map(|_| (at(0.05, 0.85), Fault::Kill)).collect();
    let period = (duration / 12).clamp(Duration::from_secs(3), Duration::from_secs(20));
    faults.push((at(0.30, 0.40), Fault::PgRestart));
    faults.push((at(0.55, 0.65), Fault::NatsRestart));
    faults.push((at(0.15, 0.25), Fault::Receiver(Mode::Fail, period)));
    faults.push((at(0.70, 0.80), Fault::Receiver(Mode::Hang, period)));
    faults.sort_by_key(|(t, _)| *t);
    faults
}

async fn chaos(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.instances >= 2, "--instances must be at least 2");
    let _ = crate::ops::prometheus();
    let temp = tempfile::Builder::new()
        .prefix("lookout-chaos-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };
    tracing::info!(
        "chaos: starting PostgreSQL and nats-server in {}",
        dir.display()
    );
    let mut pg = PgRig::start().await.context("cannot start PostgreSQL")?;
    let mut nats = NatsRig::start().await.context("cannot start nats-server")?;
    let truth_db = rig::create_database(&pg.url(), "truth").await?;
    let chaos_db = rig::create_database(&pg.url(), "chaos").await?;
    let receiver = Receiver::start().await?;
    let token = sentinel::CancellationToken::new();
    let _stop = token.clone().drop_guard();

    // 1. Truth: one uninterrupted instance, as fast as it reads.
    let truth_started = Instant::now();
    let traffic = Traffic::start(args, 0.0, token.child_token()).await?;
    let truth_config = rig::write_config(
        &dir.join("truth"),
        &rig::Scenario {
            store: &truth_db,
            nats: &nats.url(),
            stream: "TRUTH",
            partitions: args.partitions,
            feed: traffic.addr,
            webhook: &format!("{}/truth", receiver.url()),
            vessels: args.vessels,
        },
    )?;
    let mut truth = Fleet::start(&truth_config, 1, &dir.join("truth")).await?;
    traffic.finished().await;
    let truth_log = rig::LogAt {
        nats: &nats.url(),
        stream: "TRUTH",
        partitions: args.partitions,
    };
    let truth_rows = rig::settle(
        &truth_db,
        &truth_log,
        &receiver,
        "truth",
        Duration::from_secs(300),
    )
    .await?;
    truth.stop().await;
    tracing::info!(
        "chaos: truth has {} notifications ({:.0}s)",
        truth_rows.len(),
        truth_started.elapsed().as_secs_f64()
    );

    // 2. Chaos: the same traffic paced over --duration, under faults.
    let rate = args.hours * 3600.0 / args.duration.as_secs_f64().max(1.0);
    let traffic = Traffic::start(args, rate, token.child_token()).await?;
    let config = rig::write_config(
        &dir.join("chaos"),
        &rig::Scenario {
            store: &chaos_db,
            nats: &nats.url(),
            stream: "CHAOS",
            partitions: args.partitions,
            feed: traffic.addr,
            webhook: &format!("{}/chaos", receiver.url()),
            vessels: args.vessels,
        },
    )?;
    let mut fleet = Fleet::start(&config, args.instances, &dir.join("chaos")).await?;
    let monitor = Fleet::monitor(&chaos_db);
    let started = Instant::now();
    let mut faults_done = Vec::new();
    let mut kills_at = Vec::new();
    for (at, fault) in schedule(args.kills, args.duration, args.seed) {
        tokio::time::sleep_until((started + at).into()).await;
        match fault {
            Fault::Kill => {
                let victim =
                    (next(&mut (args.seed ^ at.as_nanos() as u64)) as usize) % args.instances;
                kills_at.push((Instant::now(), victim));
                fleet.kill_and_restart(victim).await?;
            }
            Fault::PgRestart => {
                pg.restart().await.context("cannot restart PostgreSQL")?;
                faults_done.push(format!("postgres restart at {:.0}s", at.as_secs_f64()));
            }
            Fault::NatsRestart => {
                nats.restart().await.context("cannot restart nats-server")?;
                faults_done.push(format!("nats restart at {:.0}s", at.as_secs_f64()));
            }
            Fault::Receiver(mode, period) => {
                receiver.set_mode(mode);
                faults_done.push(format!(
                    "receiver {mode:?} at {:.0}s for {:.0}s",
                    at.as_secs_f64(),
                    period.as_secs_f64()
                ));
                let receiver = receiver.clone();
                let _heal = sentinel::spawn("chaos/receiver-heal", async move {
                    tokio::time::sleep(period).await;
                    receiver.set_mode(Mode::Ok);
                    Ok::<(), std::convert::Infallible>(())
                });
            }
        }
    }
    traffic.finished().await;
    let duration_s = started.elapsed().as_secs_f64();
    receiver.set_mode(Mode::Ok);
    let nats_url = nats.url();
    let chaos_log = rig::LogAt {
        nats: &nats_url,
        stream: "CHAOS",
        partitions: args.partitions,
    };
    let outbox = rig::settle(
        &chaos_db,
        &chaos_log,
        &receiver,
        "chaos",
        Duration::from_secs(300),
    )
    .await?;
    let mut failovers = monitor.failovers(&kills_at);
    fleet.stop().await;
    let mut report = compare(
        &truth_rows,
        &outbox,
        &receiver.deliveries("chaos"),
        &mut failovers,
    );
    report.kills = kills_at.len();
    report.faults = faults_done;
    report.duration_s = duration_s;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_has_exactly_the_kills_and_one_of_each_other_fault() {
        let faults = schedule(20, Duration::from_secs(300), 7);
        let kills = faults.iter().filter(|(_, f)| *f == Fault::Kill).count();
        assert_eq!(kills, 20);
        assert_eq!(faults.len(), 24);
        assert!(faults.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(
            faults
                .iter()
                .all(|(t, _)| *t >= Duration::from_secs(15) && *t <= Duration::from_secs(255))
        );
        assert_eq!(faults, schedule(20, Duration::from_secs(300), 7), "seeded");
    }
}
