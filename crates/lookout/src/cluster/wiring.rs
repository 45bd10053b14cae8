//! How the service starts the cluster roles: the NATS connection and the observation log,
//! the ingest child (publishing while it leads) and the partitions child (tracking leased
//! partitions), and their readiness checks. [`crate::service`] calls these when `[cluster]`
//! is configured.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lookout_core::Observation;
use lookout_store::Store;
use sentinel::ChildSpec;
use tokio::sync::{Mutex, mpsc};

use crate::cluster::ClusterOptions;
use crate::ops;
use crate::service::{ServiceParts, is_live};

/// The connected cluster: the NATS client, the opened log, this instance's owner id and the
/// partition runner's status.
pub(crate) struct Cluster {
    options: ClusterOptions,
    owner: String,
    client: async_nats::Client,
    log: lookout_cluster::log::ObservationLog,
    status: lookout_cluster::runner::RunnerStatus,
}

/// Connects to NATS (retried for up to 30 s, as the store), opens or checks the stream (its
/// partition count against `[cluster] partitions`) and migrates the partition tables.
pub(crate) async fn cluster_connect(
    options: &ClusterOptions,
    store: &Store,
) -> anyhow::Result<Cluster> {
    let owner = options.owner_id();
    let policy = sentinel::RetryPolicy::exponential(Duration::from_millis(500))
        .max_delay(Duration::from_secs(5))
        .max_attempts(8)
        .max_elapsed(Duration::from_secs(30));
    let client = sentinel::retry("nats_connect", policy)
        .when(lookout_cluster::log::LogError::is_retryable)
        .run(|| lookout_cluster::log::connect(&options.nats_url, &owner, Duration::from_secs(5)))
        .await
        .map_err(sentinel::RetryError::into_inner)
        .with_context(|| format!("cannot connect to NATS at {}", options.nats_url))?;
    let log = lookout_cluster::log::ObservationLog::open(client.clone(), options.log_config())
        .await
        .with_context(|| {
            format!(
                "cannot open the observation log (stream {})",
                options.stream
            )
        })?;
    let pool = store
        .pg_pool()
        .context("[cluster] needs a PostgreSQL store")?;
    lookout_cluster::partitions::migrate(pool, Duration::from_secs(10))
        .await
        .context("cannot migrate the partition tables")?;
    tracing::info!(%owner, stream = %options.stream, partitions = options.partitions,
        "joined the cluster");
    Ok(Cluster {
        options: options.clone(),
        owner,
        client,
        log,
        status: lookout_cluster::runner::RunnerStatus::default(),
    })
}

impl Cluster {
    /// Ready while the NATS connection is up (and sets `lookout_obslog_connected`).
    pub(crate) fn connection_check(&self) -> ops::ReadyCheck {
        let client = self.client.clone();
        Arc::new(move || {
            let state = client.connection_state();
            let up = matches!(state, async_nats::connection::State::Connected);
            metrics::gauge!("lookout_obslog_connected").set(if up { 1.0 } else { 0.0 });
            if up {
                Ok(())
            } else {
                Err(format!("NATS connection {state}"))
            }
        })
    }

    /// Ready while this instance owns partitions and keeps up with them.
    pub(crate) fn partitions_check(&self) -> ops::ReadyCheck {
        let status = self.status.clone();
        Arc::new(move || {
            let snapshot = status.snapshot();
            if snapshot.partitions.is_empty() {
                return Err("owns no partition (yet)".to_owned());
            }
            let lag = snapshot.max_lag();
            if lag > MAX_READY_LAG {
                return Err(format!("behind by {lag} records in a partition"));
            }
            Ok(())
        })
    }
}

/// A partition further behind than this many records makes the instance not ready.
const MAX_READY_LAG: u64 = 10_000;

/// The ingest role in a cluster: the sources' observations into the log, published by the
/// instance that leads the ingest (a lease in PostgreSQL) while the others stand by with the
/// feed's last stretch.
pub(crate) fn ingest_child(
    parts: &ServiceParts,
    cluster: &Cluster,
    obs_rx: Arc<Mutex<mpsc::Receiver<Observation>>>,
) -> anyhow::Result<ChildSpec> {
    let log = cluster.log.clone();
    let config = crate::cluster::ingest::IngestConfig {
        owner: cluster.owner.clone(),
        live: is_live(parts),
        standby: cluster.options.standby,
        standby_max: STANDBY_MAX,
    };
    let publisher = lookout_cluster::log::PublisherConfig {
        max_in_flight: cluster.options.max_in_flight,
        // Never give a record up: a NATS outage is waited out with the same ids.
        max_attempts: u32::MAX,
        ..lookout_cluster::log::PublisherConfig::default()
    };
    let pool = parts
        .store
        .pg_pool()
        .cloned()
        .context("cluster mode needs a postgres:// store")?;
    let leadership = Arc::new(
        lookout_cluster::leader::Leadership::new(
            pool,
            "ingest",
            cluster.owner.clone(),
            cluster.options.lease,
        )
        .context("ingest leadership")?,
    );
    let specs = parts
        .tracker_spec
        .clone()
        .map(|updates| crate::cluster::ingest::SpecFeed {
            store: parts.store.clone(),
            updates,
        });
    Ok(ChildSpec::with_token("ingest", move |token| {
        crate::cluster::ingest::run(
            log.clone(),
            log.publisher(publisher.clone()),
            config.clone(),
            Some(Arc::clone(&leadership)),
            Arc::clone(&obs_rx),
            specs.clone(),
            token,
        )
    }))
}

/// Most observations an ingest standby keeps.
const STANDBY_MAX: usize = 200_000;

/// The track role in a cluster: leased partitions, each tracked from its log.
pub(crate) fn partitions_child(parts: &ServiceParts, cluster: &Cluster) -> ChildSpec {
    let store = parts.store.clone();
    let log = cluster.log.clone();
    let status = cluster.status.clone();
    let n = cluster.options.partitions;
    let mut lease = lookout_cluster::partitions::LeaseConfig::new(cluster.owner.clone(), n);
    lease.lease = cluster.options.lease;
    let mut tracker = parts.tracker.clone();
    tracker.max_vessels = parts.shards.max_vessels.div_ceil(n as usize).max(1);
    let max_vessels = tracker.max_vessels;
    let mut app = crate::cluster::track::TrackerApp::new(
        store.clone(),
        Arc::clone(&parts.areas),
        parts.routing.clone(),
        tracker,
    );
    if let Some(source) = &parts.model_source {
        app = app.with_specs(crate::cluster::track::SpecBuilder {
            config: Arc::clone(&source.config),
            shards: source.shards.clone(),
            max_vessels,
        });
    }
    let app = Arc::new(app);
    ChildSpec::with_token("partitions", move |token| {
        let (store, log, status, lease, app) = (
            store.clone(),
            log.clone(),
            status.clone(),
            lease.clone(),
            Arc::clone(&app),
        );
        async move {
            let pool = store
                .pg_pool()
                .cloned()
                .context("[cluster] needs a PostgreSQL store")?;
            let leases = lookout_cluster::partitions::PartitionLeases::open(pool, lease)
                .await
                .context("cannot open the partition leases")?;
            let config = lookout_cluster::runner::RunnerConfig {
                status,
                ..lookout_cluster::runner::RunnerConfig::default()
            };
            lookout_cluster::runner::run_partitions(leases, log, app, config, token)
                .await
                .context("the partition runner failed")?;
            Ok::<(), anyhow::Error>(())
        }
    })
}
