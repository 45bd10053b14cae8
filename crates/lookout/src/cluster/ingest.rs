//! The ingest role in a cluster: decoded observations from the sources into the observation
//! log, each in its vessel's partition, with the clock facts the trackers derive time from.
//!
//! - An observation's `Nats-Msg-Id` is a hash of its JSON: two ingest instances reading one feed
//!   for redundancy publish each report once within the stream's duplicate window (when the
//!   report's time comes from the data, i.e. a tag block or `clock = "data"`; with the ingest
//!   clock their copies differ by milliseconds and the tracker's duplicate filter drops the
//!   second).
//! - In a live service, every second a `Tick` (the feed is up, ingest time is T) goes into every
//!   partition, with the id `t:<partition>:<second>`, so several ingest instances add one tick per
//!   second, not one each. After [`FEED_SILENCE`] without an observation, `FeedDown` instead, and
//!   `FeedUp` when they come back.
//! - At start, `Resume` into every partition, but only when the log has been still for longer
//!   than [`FEED_SILENCE`] (the whole ingest was down): a restart of one of several ingest
//!   instances is no outage, and resuming would push every vessel's gap clock forward.
//! - **One publisher at a time.** Every ingest instance reads the feeds, but only the leader
//!   ([`lookout_cluster::leader`]) publishes; the others keep the last [`IngestConfig::standby`]
//!   of observations and a new leader publishes them first (same ids: what the old one stored
//!   is a duplicate). Several instances publishing at once would interleave their progress: one
//!   that joined the feed late (restarted) could store a vessel's later report before another
//!   instance stored its earlier one, which the tracker then drops as stale. A standby that has
//!   read the feed without a break for two leases takes over first; a younger one (restarted,
//!   its ring too short to cover what the dead leader left unacknowledged) waits a lease more.
//! - **The tracking configuration travels the log.** The leader records the configuration the
//!   model asks for ([`crate::cluster::spec`]) in the store and publishes a `Reconfigure` naming
//!   it into every partition: when it becomes the leader (before what it kept as a standby) and
//!   whenever the model's areas, gap thresholds or dwells change. Each partition switches at
//!   that record, so a replay from a checkpoint switches at the same point.
//! - Publishing retries every failure with the same id until JetStream acknowledges it (a NATS
//!   restart is a pause, not a loss): the bounded observation channel then pushes back on the
//!   sources. The connection's state is a readiness check and the gauge `lookout_obslog_connected`.

use std::sync::Arc;
use std::time::Duration;

use lookout_cluster::leader::{Leader, Leadership};
use lookout_cluster::log::{
    LogError, LogRecord, ObservationLog, PublishStats, Publisher, partition_of,
};
use lookout_core::Observation;
use sentinel::CancellationToken;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, mpsc, watch};

use crate::cluster::spec::TrackerSpec;

/// No observation for this long (wall clock) means the feed is down.
pub const FEED_SILENCE: Duration = Duration::from_secs(30);

/// Bound on publishing what is left at shutdown.
const DRAIN_WITHIN: Duration = Duration::from_secs(10);

/// The tracking configuration to announce: the store it is recorded in, and the model's
/// current one (changed by the model reloader).
#[derive(Debug, Clone)]
pub struct SpecFeed {
    /// Where configurations are recorded before a record names them.
    pub store: lookout_store::Store,
    /// The configuration the model asks for now.
    pub updates: watch::Receiver<Arc<TrackerSpec>>,
}

/// How the ingest stage runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// This instance's id (in the ids of its own feed facts).
    pub owner: String,
    /// A live service: ticks, feed facts and `Resume` from the wall clock. Off when every source
    /// is timed by its data (the accelerated demo, a replayed file).
    pub live: bool,
    /// How much of the feed a standby keeps (wall clock) to publish again when it takes over;
    /// shorter than the stream's duplicate window, longer than a takeover.
    pub standby: Duration,
    /// Most observations a standby keeps.
    pub standby_max: usize,
}

/// What a standby keeps: the last stretch of the feed, bounded by age and count.
#[derive(Debug, Default)]
struct Standby {
    kept: std::collections::VecDeque<(tokio::time::Instant, Observation)>,
}

impl Standby {
    fn keep(&mut self, obs: Observation, config: &IngestConfig) {
        let now = tokio::time::Instant::now();
        self.kept.push_back((now, obs));
        while self.kept.len() > config.standby_max
            || self
                .kept
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > config.standby)
        {
            self.kept.pop_front();
        }
    }
}

/// Which standby takes over: one that has kept the feed without a break for two leases (so its
/// ring holds whatever a dead leader had not stored yet) tries at once; a younger one (just
/// restarted, or its feed was cut) waits one more lease, so it leads only when no better
/// successor is there.
struct Succession<'a> {
    leadership: Option<&'a Leadership>,
    since: Option<tokio::time::Instant>,
    patient: Option<bool>,
}

impl<'a> Succession<'a> {
    fn new(leadership: Option<&'a Leadership>) -> Succession<'a> {
        let mut succession = Succession {
            leadership,
            since: None,
            patient: None,
        };
        succession.update();
        succession
    }

    /// An observation arrived `silence` after the previous one.
    fn observed(&mut self, silence: Duration) {
        let Some(leadership) = self.leadership else {
            return;
        };
        if self.since.is_none() || silence > leadership.lease() {
            self.since = Some(tokio::time::Instant::now());
        }
        self.update();
    }

    fn update(&mut self) {
        let Some(leadership) = self.leadership else {
            return;
        };
        let lease = leadership.lease();
        let patient = self.since.is_none_or(|since| since.elapsed() < lease * 2);
        if self.patient != Some(patient) {
            self.patient = Some(patient);
            leadership.set_patience(if patient { lease } else { Duration::ZERO });
        }
    }
}

/// The `Nats-Msg-Id` of an observation: `o:` and the first 128 bits of the SHA-256 of its JSON.
pub fn observation_id(json: &[u8]) -> String {
    let digest = Sha256::digest(json);
    let mut id = String::with_capacity(34);
    id.push_str("o:");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Runs until `token` is cancelled (or the sources are gone), then, when leading, publishes what
/// the sources already delivered and waits for its acks (bounded by [`DRAIN_WITHIN`]). With
/// `leader`, publishes only while it leads (see the module docs); without, always.
///
/// # Errors
/// An observation that cannot be encoded (never for the tracker's own type) or the log's
/// configuration refused a partition.
pub async fn run(
    log: ObservationLog,
    mut publisher: Publisher<Observation>,
    config: IngestConfig,
    leadership: Option<Arc<Leadership>>,
    obs_rx: Arc<Mutex<mpsc::Receiver<Observation>>>,
    specs: Option<SpecFeed>,
    token: CancellationToken,
) -> Result<(), LogError> {
    // The lease is renewed by a task of its own (publishing may wait out a NATS outage), and
    // released only after this stage drained: no standby publishes while we still do.
    let leader_token = CancellationToken::new();
    let _stop_leading = leader_token.clone().drop_guard();
    let successor = leadership.clone();
    let (mut leader, leader_task) = match leadership {
        Some(leadership) => {
            let (state, leader) = lookout_cluster::leader::leader();
            let task = sentinel::spawn(
                "ingest/leader",
                lookout_cluster::leader::run(leadership, state, leader_token.clone()),
            );
            (Some(leader), Some(task))
        }
        None => (None, None),
    };
    let result = publish_loop(
        log,
        &mut publisher,
        &config,
        (&mut leader, successor.as_deref()),
        obs_rx,
        specs,
        token,
    )
    .await;
    leader_token.cancel();
    if let Some(task) = leader_task {
        // Its failure (a release that did not reach the database) is logged by sentinel; the
        // lease then lapses by itself.
        let _ = task.await;
    }
    result
}

async fn publish_loop(
    log: ObservationLog,
    publisher: &mut Publisher<Observation>,
    config: &IngestConfig,
    (leader, leadership): (&mut Option<Leader>, Option<&Leadership>),
    obs_rx: Arc<Mutex<mpsc::Receiver<Observation>>>,
    mut specs: Option<SpecFeed>,
    token: CancellationToken,
) -> Result<(), LogError> {
    let partitions = log.config().partitions;
    let mut succession = Succession::new(leadership);
    let mut rx = obs_rx.lock().await;
    let mut stage = Stage {
        publisher,
        partitions,
        owner: &config.owner,
    };
    let mut standby = Standby::default();
    let mut leading = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_obs = tokio::time::Instant::now();
    let mut feed_down = false;
    let mut reported = PublishStats::default();
    loop {
        let now_leading = leader.as_ref().is_none_or(Leader::is_leading);
        if now_leading != leading {
            leading = now_leading;
            metrics::gauge!("lookout_ingest_leader").set(if leading { 1.0 } else { 0.0 });
            if leading {
                tracing::info!(
                    kept = standby.kept.len(),
                    "leading the ingest: publishing what the feed delivered meanwhile, then live"
                );
                if config.live {
                    resume_if_the_log_stood_still(&log, &mut stage, &token).await?;
                    if feed_down {
                        let at = jiff::Timestamp::now();
                        stage
                            .everywhere(
                                "d",
                                |_| LogRecord::FeedDown {
                                    source: config.owner.clone(),
                                    at,
                                },
                                &token,
                            )
                            .await?;
                    }
                }
                // The configuration first: on the first start it is the log's first record,
                // so a replay from the very beginning tracks under it too.
                if let Some(feed) = &mut specs {
                    announce(&mut stage, feed, &token).await?;
                }
                while let Some((_, obs)) = standby.kept.pop_front() {
                    stage.observation(&obs, &token).await?;
                }
            } else {
                let dropped = stage.publisher.abandon();
                tracing::info!(
                    unacknowledged = dropped,
                    "another instance leads the ingest: keeping the feed's last stretch"
                );
            }
        }
        tokio::select! {
            biased;
            () = token.cancelled() => break,
            // Acks move each partition's queue along, burst or not.
            settled = stage.publisher.progress() => match settled {
                Ok(()) => {}
                Err(error) if error.is_retryable() => {
                    metrics::counter!("lookout_obslog_publish_failures_total").increment(1);
                    tracing::warn!(error = %sentinel::error_chain(&error),
                        "cannot publish to the observation log; retrying (the sources wait)");
                }
                Err(error) => return Err(error),
            },
            () = changed(leader) => {}
            () = spec_changed(&mut specs) => {
                if leading && let Some(feed) = &mut specs {
                    announce(&mut stage, feed, &token).await?;
                }
            }
            obs = rx.recv() => match obs {
                Some(obs) => {
                    if config.live && feed_down {
                        feed_down = false;
                        if leading {
                            let at = jiff::Timestamp::now();
                            tracing::info!(%at, "feed is back; telling every partition");
                            stage.everywhere("u", |_| LogRecord::FeedUp { source: config.owner.clone(), at }, &token).await?;
                        }
                    }
                    succession.observed(last_obs.elapsed());
                    last_obs = tokio::time::Instant::now();
                    if leading {
                        stage.observation(&obs, &token).await?;
                    } else {
                        standby.keep(obs, config);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if config.live && leading {
                    if !feed_down && last_obs.elapsed() >= FEED_SILENCE {
                        feed_down = true;
                        let silent = jiff::SignedDuration::try_from(last_obs.elapsed()).unwrap_or_default();
                        let now = jiff::Timestamp::now();
                        let at = now.checked_sub(silent).unwrap_or(now);
                        tracing::warn!(%at, "no observation for {FEED_SILENCE:?}: the feed is down; telling every partition");
                        stage.everywhere("d", |_| LogRecord::FeedDown { source: config.owner.clone(), at }, &token).await?;
                    } else if !feed_down {
                        let now = jiff::Timestamp::now();
                        let second = now.as_second();
                        stage.ticks(second, now, &token).await?;
                    }
                } else if config.live && last_obs.elapsed() >= FEED_SILENCE {
                    feed_down = true;
                }
                publish_state(stage.publisher, &mut reported);
            }
        }
    }
    if !leading {
        return Ok(());
    }
    // Shutting down while leading: what the sources delivered goes out, then every ack is awaited.
    rx.close();
    let drain = async {
        let never = CancellationToken::new();
        while let Some(obs) = rx.recv().await {
            stage.observation(&obs, &never).await?;
        }
        flush(stage.publisher, &never).await
    };
    let drained = tokio::time::timeout(DRAIN_WITHIN, drain).await;
    match drained {
        Ok(result) => result?,
        Err(_) => tracing::warn!(
            in_flight = stage.publisher.in_flight(),
            "the log did not acknowledge the last observations within {DRAIN_WITHIN:?}; \
             the standbys publish them again when they take over"
        ),
    }
    Ok(())
}

/// Resolves when the leadership changed, or its deadline passed (checked each second); never
/// without a leader.
async fn changed(leader: &mut Option<Leader>) {
    match leader {
        Some(leader) => {
            tokio::select! {
                () = leader.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        None => std::future::pending().await,
    }
}

/// Resolves when the model's tracking configuration changed; never without a feed (or once
/// the model reloader is gone).
async fn spec_changed(specs: &mut Option<SpecFeed>) {
    match specs {
        Some(feed) => {
            if feed.updates.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Records the current tracking configuration in the store (retried until it is, or
/// `token` is cancelled), then names it in every partition.
async fn announce(
    stage: &mut Stage<'_>,
    feed: &mut SpecFeed,
    token: &CancellationToken,
) -> Result<(), LogError> {
    let spec = Arc::clone(&feed.updates.borrow_and_update());
    let id = spec.id();
    let json = serde_json::to_string(&*spec).map_err(|source| LogError::Encode {
        msg_id: format!("tracking configuration {id}"),
        source,
    })?;
    loop {
        match feed.store.put_tracker_spec(&id, &json).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(spec = %id, error = %sentinel::error_chain(&error),
                    "cannot record the tracking configuration yet; retrying");
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    stage
        .everywhere("c", |_| LogRecord::Reconfigure { spec: id.clone() }, token)
        .await?;
    metrics::counter!("lookout_tracker_specs_published_total").increment(1);
    tracing::info!(spec = %id, areas = spec.areas.len(), "tracking configuration published into every partition");
    Ok(())
}

/// Publishes `Resume` into every partition when nothing reached the log for longer than
/// [`FEED_SILENCE`] (an empty log included).
async fn resume_if_the_log_stood_still(
    log: &ObservationLog,
    stage: &mut Stage<'_>,
    token: &CancellationToken,
) -> Result<(), LogError> {
    let now = jiff::Timestamp::now();
    let last = loop {
        match log.last_record_at().await {
            Ok(last) => break last,
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %sentinel::error_chain(&error), "cannot read the log's last record yet; retrying");
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(error) => return Err(error),
        }
    };
    let still = last.is_none_or(|last| {
        now.duration_since(last) > jiff::SignedDuration::try_from(FEED_SILENCE).unwrap_or_default()
    });
    if still {
        tracing::info!(%now, last_record = ?last, "the log stood still: tracking resumes now in every partition");
        stage
            .everywhere("r", |_| LogRecord::Resume { at: now }, token)
            .await?;
    } else {
        tracing::info!(last_record = ?last, "the log kept moving (other ingest instances): no resume");
    }
    Ok(())
}

struct Stage<'a> {
    publisher: &'a mut Publisher<Observation>,
    partitions: u32,
    owner: &'a str,
}

impl Stage<'_> {
    async fn observation(
        &mut self,
        obs: &Observation,
        token: &CancellationToken,
    ) -> Result<(), LogError> {
        let json = serde_json::to_vec(obs).map_err(|source| LogError::Encode {
            msg_id: format!("observation of {}", obs.mmsi),
            source,
        })?;
        let id = observation_id(&json);
        let partition = partition_of(obs.mmsi, self.partitions);
        let record = LogRecord::Observation {
            observation: obs.clone(),
        };
        publish(self.publisher, partition, &id, &record, token).await
    }

    async fn ticks(
        &mut self,
        second: i64,
        now: jiff::Timestamp,
        token: &CancellationToken,
    ) -> Result<(), LogError> {
        let record = LogRecord::Tick { ingest_time: now };
        for partition in 0..self.partitions {
            let id = format!("t:{partition}:{second}");
            publish(self.publisher, partition, &id, &record, token).await?;
        }
        Ok(())
    }

    /// One record into every partition, with ids `<kind>:<owner>:<partition>:<ms>`.
    async fn everywhere(
        &mut self,
        kind: &str,
        record: impl Fn(u32) -> LogRecord<Observation>,
        token: &CancellationToken,
    ) -> Result<(), LogError> {
        let ms = jiff::Timestamp::now().as_millisecond();
        for partition in 0..self.partitions {
            let id = format!("{kind}:{}:{partition}:{ms}", self.owner);
            publish(self.publisher, partition, &id, &record(partition), token).await?;
        }
        Ok(())
    }
}

/// Publishes, retrying (same id) every failure the publisher gave up on, until acknowledged or
/// `token` is cancelled. Only errors no retry can fix are returned.
async fn publish(
    publisher: &mut Publisher<Observation>,
    partition: u32,
    id: &str,
    record: &LogRecord<Observation>,
    token: &CancellationToken,
) -> Result<(), LogError> {
    let mut delay = Duration::from_millis(250);
    loop {
        match publisher.publish(partition, id, record).await {
            Ok(()) => return Ok(()),
            Err(error) if error.is_retryable() => {
                metrics::counter!("lookout_obslog_publish_failures_total").increment(1);
                tracing::warn!(error = %sentinel::error_chain(&error), retry_in = ?delay,
                    "cannot publish to the observation log; retrying (the sources wait)");
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

async fn flush(
    publisher: &mut Publisher<Observation>,
    token: &CancellationToken,
) -> Result<(), LogError> {
    loop {
        match publisher.flush().await {
            Ok(_) => return Ok(()),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %sentinel::error_chain(&error), "cannot flush the observation log; retrying");
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Publishes the publisher's counters as metrics (each second, from the tick).
#[allow(clippy::cast_precision_loss)]
fn publish_state(publisher: &Publisher<Observation>, reported: &mut PublishStats) {
    let stats = publisher.stats();
    metrics::gauge!("lookout_obslog_in_flight").set(publisher.in_flight() as f64);
    metrics::counter!("lookout_obslog_published_total")
        .increment(stats.acked.saturating_sub(reported.acked));
    metrics::counter!("lookout_obslog_duplicates_total")
        .increment(stats.duplicates.saturating_sub(reported.duplicates));
    *reported = stats;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_id_depends_on_its_content_only() {
        let a = observation_id(br#"{"mmsi":1}"#);
        assert_eq!(a, observation_id(br#"{"mmsi":1}"#));
        assert_ne!(a, observation_id(br#"{"mmsi":2}"#));
        assert_eq!(a.len(), 34);
        assert!(a.starts_with("o:"));
    }
}
