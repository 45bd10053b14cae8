//! The dispatcher: claims batches from the outbox, delivers each item in isolation through a
//! [`Deliver`], and records the outcome under the lease (delivered, retry, dead), expiring what
//! outlived the TTL. Wakes on new work (PostgreSQL `LISTEN`, an in-process signal) and polls as
//! a fallback.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jiff::{SignedDuration, Timestamp};
use lookout_core::{ChannelKind, Deliver, DigestBatch, Notification, SendError};
use sentinel::{CancellationToken, Heartbeat, Shutdown};
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::error::StoreError;
use crate::outbox::JobKind;
use crate::store::{PG_CHANNEL, Pool, Store};

/// Dispatcher settings. `Default` gives production values.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// Lease owner name (host/process), shown in `lease_owner`.
    pub owner: String,
    /// Most notifications (and, separately, digests) claimed per round.
    pub batch_size: usize,
    /// Lease length; renewed every third of it while a send is in flight.
    pub lease: Duration,
    /// Longest wait between rounds when no wake-up arrives.
    pub poll_interval: Duration,
    /// Attempts (claims) after which a transient failure becomes `dead`.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Age after which undelivered notifications become `expired` (default 48 h).
    pub ttl: Duration,
    /// Concurrent sends per channel not named in `channel_concurrency`.
    pub per_channel_concurrency: usize,
    /// Concurrent sends of the channels named (`[dispatcher] concurrency`).
    pub channel_concurrency: BTreeMap<ChannelKind, usize>,
    /// Overall limit on one send (the channel's own timeouts should be shorter); elapsed = transient.
    pub delivery_timeout: Duration,
    /// Heartbeat tolerance registered with `sentinel` as loop `dispatcher`.
    pub heartbeat_tolerance: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            owner: format!(
                "pid-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().to_string()[..8]
            ),
            batch_size: 64,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            max_attempts: 8,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            ttl: Duration::from_secs(48 * 3600),
            per_channel_concurrency: 8,
            channel_concurrency: BTreeMap::new(),
            delivery_timeout: Duration::from_secs(120),
            heartbeat_tolerance: Duration::from_secs(120),
        }
    }
}

impl DispatcherConfig {
    /// Sets the lease owner name.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Notifications and digests claimed.
    pub n_claimed: usize,
    /// Acknowledged by the channel.
    pub n_delivered: usize,
    /// Scheduled for retry.
    pub n_retry: usize,
    /// Dead-lettered (permanent failure, panic, attempts exhausted).
    pub n_dead: usize,
    /// Released untouched because shutdown began.
    pub n_released: usize,
    /// Results rejected because the lease was lost (another worker holds it now).
    pub n_lease_lost: usize,
    /// Expired by the TTL sweep.
    pub n_expired: usize,
}

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retry,
    Dead,
    Released,
    LeaseLost,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Released => "released",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// Why the run loop woke up.
enum Wake {
    Freed,
    Renew,
    Stop,
    Work,
    Poll,
    ListenerLost(sqlx::Error),
}

/// Claimed work with the fencing token of its claim.
struct Job {
    token: Arc<str>,
    work: Work,
}

/// Ticks every third of the lease (first tick after one period).
fn renew_interval(config: &DispatcherConfig) -> tokio::time::Interval {
    let every = (config.lease / 3).max(Duration::from_millis(100));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// The held leases grouped by kind and token, owned (so renewing does not borrow `held`).
fn lease_groups(
    held: &HashMap<String, (JobKind, Arc<str>)>,
) -> Vec<(JobKind, Arc<str>, Vec<String>)> {
    let mut groups: HashMap<(JobKind, Arc<str>), Vec<String>> = HashMap::new();
    for (id, (kind, token)) in held {
        groups
            .entry((*kind, Arc::clone(token)))
            .or_default()
            .push(id.clone());
    }
    groups
        .into_iter()
        .map(|((kind, token), ids)| (kind, token, ids))
        .collect()
}

/// Awaits `fut` while still driving the sends in flight, collecting those that finish into
/// `done`. Every await of the dispatcher loop goes through this: a send suspended half-way
/// through its state update would otherwise hold a transaction (SQLite's write lock, row locks
/// on PostgreSQL) while the loop waits for that same lock.
async fn alongside<T, S>(
    fut: impl Future<Output = T>,
    sends: &mut FuturesUnordered<S>,
    done: &mut Vec<(String, Outcome)>,
) -> T
where
    S: Future<Output = (String, Outcome)>,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            Some(finished) = sends.next(), if !sends.is_empty() => done.push(finished),
        }
    }
}

/// One claimed unit of work.
enum Work {
    One(Box<Notification>),
    Digest(Box<DigestBatch>, u32),
}

impl Work {
    fn kind(&self) -> JobKind {
        match self {
            Work::One(_) => JobKind::Notification,
            Work::Digest(..) => JobKind::Digest,
        }
    }
    fn id(&self) -> &str {
        match self {
            Work::One(n) => &n.id,
            Work::Digest(d, _) => &d.id,
        }
    }
    fn channel(&self) -> ChannelKind {
        match self {
            Work::One(n) => n.new.channel,
            Work::Digest(d, _) => d.channel,
        }
    }
    fn attempt(&self) -> u32 {
        match self {
            Work::One(n) => n.attempt,
            Work::Digest(_, attempt) => *attempt,
        }
    }
}

/// Claims, delivers and records outcomes; generic over the channel implementation.
pub struct Dispatcher<D> {
    store: Store,
    deliver: Arc<D>,
    config: DispatcherConfig,
    limits: HashMap<ChannelKind, Arc<Semaphore>>,
    shutdown: Option<Shutdown>,
}

impl<D> std::fmt::Debug for Dispatcher<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<D: Deliver> Dispatcher<D> {
    /// A dispatcher over `store` sending through `deliver`.
    pub fn new(store: Store, deliver: Arc<D>, config: DispatcherConfig) -> Self {
        let limits = ChannelKind::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    Arc::new(Semaphore::new(
                        config
                            .channel_concurrency
                            .get(&c)
                            .copied()
                            .unwrap_or(config.per_channel_concurrency)
                            .max(1),
                    )),
                )
            })
            .collect();
        Dispatcher {
            store,
            deliver,
            config,
            limits,
            shutdown: None,
        }
    }

    /// Holds a `sentinel` shutdown lock around every send, so shutdown waits for in-flight
    /// sends and their acknowledgement; a send not yet started when shutdown begins is released
    /// back to the queue instead.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &DispatcherConfig {
        &self.config
    }

    /// Runs rounds until `cancel` fires, then finishes the sends in flight and returns.
    ///
    /// Store errors (database down) are logged and retried after the poll interval: the loop
    /// only ends on cancellation. Registers heartbeat `dispatcher` with `sentinel`.
    ///
    /// # Cancel safety
    /// Use the token. Dropping the future abandons in-flight sends; their leases lapse and
    /// another round re-delivers them (at least once, same id).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), StoreError> {
        let heartbeat = Heartbeat::register("dispatcher", self.config.heartbeat_tolerance);
        let mut listener = self.listen().await;
        let capacity = self.config.batch_size.max(1);
        tracing::info!(owner = %self.config.owner, backend = self.store.backend().as_str(), "dispatcher started");
        // Sends in flight, and the lease each holds (for renewal).
        let mut sends = FuturesUnordered::new();
        // Sends that finished while the loop awaited something else.
        let mut done: Vec<(String, Outcome)> = Vec::new();
        let mut held: HashMap<String, (JobKind, Arc<str>)> = HashMap::new();
        let mut claim_due = true;
        // The last claim filled every free slot: more work is probably waiting.
        let mut backlog = false;
        let mut last_stats = None::<Instant>;
        let mut last_expiry = None::<Instant>;
        let mut renew = renew_interval(&self.config);
        let mut poll = tokio::time::interval(self.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            heartbeat.beat();
            let stopping = cancel.is_cancelled();
            if stopping && sends.is_empty() {
                break;
            }
            if claim_due && !stopping && held.len() < capacity {
                claim_due = false;
                let now = Timestamp::now();
                if last_expiry.is_none_or(|at| at.elapsed() >= self.config.poll_interval) {
                    last_expiry = Some(Instant::now());
                    let expired = alongside(self.expire(now), &mut sends, &mut done).await;
                    if let Err(error) = expired {
                        tracing::warn!(error = %error, "ttl sweep failed; retrying later");
                    }
                }
                let room = capacity - held.len();
                match alongside(self.claim(now, room), &mut sends, &mut done).await {
                    Ok(jobs) => {
                        backlog = jobs.len() >= room;
                        for job in jobs {
                            held.insert(
                                job.work.id().to_owned(),
                                (job.work.kind(), Arc::clone(&job.token)),
                            );
                            sends.push(self.deliver_one(
                                Clock::new(Timestamp::now()),
                                job,
                                &cancel,
                            ));
                        }
                    }
                    Err(error) => {
                        backlog = false;
                        tracing::warn!(error = %error, "claiming work failed; retrying after the poll interval");
                    }
                }
            }
            if last_stats.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                alongside(self.record_gauges(), &mut sends, &mut done).await;
                last_stats = Some(Instant::now());
            }
            for (id, _outcome) in done.drain(..) {
                held.remove(&id);
                claim_due |= backlog;
            }
            let woke = {
                let listen = async {
                    match listener.as_mut() {
                        Some(l) => l.recv().await.map(drop),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    Some((id, _outcome)) = sends.next(), if !sends.is_empty() => {
                        held.remove(&id);
                        Wake::Freed
                    }
                    _ = renew.tick(), if !held.is_empty() => Wake::Renew,
                    () = cancel.cancelled(), if !stopping => Wake::Stop,
                    () = self.store.wake.notified() => Wake::Work,
                    _ = poll.tick() => Wake::Poll,
                    received = listen => match received {
                        Ok(()) => Wake::Work,
                        Err(error) => Wake::ListenerLost(error),
                    },
                }
            };
            match woke {
                Wake::Freed => claim_due |= backlog,
                Wake::Renew => {
                    let groups = lease_groups(&held);
                    alongside(self.renew(groups, Timestamp::now()), &mut sends, &mut done).await;
                }
                Wake::Stop => {
                    tracing::info!(
                        n_in_flight = held.len(),
                        "dispatcher stopping: finishing sends in flight"
                    );
                }
                Wake::Work => claim_due = true,
                Wake::Poll => {
                    claim_due = true;
                    if listener.is_none() && self.store.backend() == crate::Backend::Postgres {
                        listener = alongside(self.listen(), &mut sends, &mut done).await;
                    }
                }
                Wake::ListenerLost(error) => {
                    tracing::warn!(error = %error, "postgres LISTEN connection lost; polling until it is back");
                    listener = None;
                    claim_due = true;
                }
            }
        }
        tracing::info!(owner = %self.config.owner, "dispatcher stopped");
        Ok(())
    }

    async fn listen(&self) -> Option<PgListener> {
        let Pool::Postgres(pool) = &self.store.pool else {
            return None;
        };
        let attempt = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(PG_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok(listener)) => Some(listener),
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "postgres LISTEN failed; polling only");
                None
            }
            Err(_) => {
                tracing::warn!("postgres LISTEN timed out; polling only");
                None
            }
        }
    }

    async fn record_gauges(&self) {
        match self.store.outbox_stats().await {
            Ok(stats) => {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("lookout_outbox_pending").set(stats.n_pending as f64);
                let age = stats
                    .oldest_created_at
                    .map(|at| Timestamp::now().duration_since(at).as_secs_f64().max(0.0))
                    .unwrap_or(0.0);
                metrics::gauge!("lookout_outbox_oldest_pending_age_seconds").set(age);
            }
            Err(error) => tracing::warn!(error = %error, "reading outbox statistics failed"),
        }
    }

    /// One round at `now`: expire, claim up to `batch_size` jobs (realtime notifications
    /// first, then digests), deliver them all (concurrently, per-channel limits, leases renewed), record
    /// each outcome. [`Dispatcher::run`] instead keeps up to `batch_size` sends in flight and
    /// claims as slots free up; tests drive rounds with a simulated clock.
    pub async fn round(&self, now: Timestamp) -> Result<RoundReport, StoreError> {
        let cancel = CancellationToken::new();
        let mut report = RoundReport {
            n_expired: self.expire(now).await?,
            ..RoundReport::default()
        };
        let jobs = self.claim(now, self.config.batch_size).await?;
        report.n_claimed = jobs.len();
        let clock = Clock::new(now);
        let mut held: HashMap<String, (JobKind, Arc<str>)> = jobs
            .iter()
            .map(|job| {
                (
                    job.work.id().to_owned(),
                    (job.work.kind(), Arc::clone(&job.token)),
                )
            })
            .collect();
        let mut sends: FuturesUnordered<_> = jobs
            .into_iter()
            .map(|job| self.deliver_one(clock, job, &cancel))
            .collect();
        let mut renew = renew_interval(&self.config);
        let mut done = Vec::new();
        loop {
            tokio::select! {
                next = sends.next() => match next {
                    Some(finished) => done.push(finished),
                    None => break,
                },
                _ = renew.tick() => {
                    let groups = lease_groups(&held);
                    alongside(self.renew(groups, clock.now()), &mut sends, &mut done).await;
                }
            }
            for (id, outcome) in done.drain(..) {
                held.remove(&id);
                match outcome {
                    Outcome::Delivered => report.n_delivered += 1,
                    Outcome::Retry => report.n_retry += 1,
                    Outcome::Dead => report.n_dead += 1,
                    Outcome::Released => report.n_released += 1,
                    Outcome::LeaseLost => report.n_lease_lost += 1,
                }
            }
        }
        Ok(report)
    }

    /// The TTL sweep, counted and logged. Returns how many rows expired.
    async fn expire(&self, now: Timestamp) -> Result<usize, StoreError> {
        let expired = self.store.expire(now, self.config.ttl).await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let mut by_channel: HashMap<ChannelKind, u64> = HashMap::new();
        for (id, channel) in expired.notifications.iter().chain(&expired.digests) {
            tracing::debug!(delivery_id = %id, channel = %channel, "expired");
            *by_channel.entry(*channel).or_default() += 1;
        }
        for (channel, n) in &by_channel {
            metrics::counter!("lookout_notifications_expired_total", "channel" => channel.as_str())
                .increment(*n);
            metrics::counter!("lookout_notifications_total", "channel" => channel.as_str(), "outcome" => "expired")
                .increment(*n);
        }
        tracing::warn!(
            n_notifications = expired.notifications.len(),
            n_digests = expired.digests.len(),
            ttl_s = self.config.ttl.as_secs(),
            "expired undelivered notifications older than the ttl"
        );
        Ok(expired.len())
    }

    /// Claims up to `room` jobs: realtime notifications first, then digests.
    async fn claim(&self, now: Timestamp, room: usize) -> Result<Vec<Job>, StoreError> {
        let owner = self.config.owner.as_str();
        let mut jobs = Vec::new();
        let claimed = self
            .store
            .claim_notifications(owner, room, self.config.lease, now)
            .await?;
        let token: Arc<str> = claimed.lease.token.into();
        for n in claimed.notifications {
            jobs.push(Job {
                token: Arc::clone(&token),
                work: Work::One(Box::new(n)),
            });
        }
        let room = room.saturating_sub(jobs.len());
        if room > 0 {
            let claimed = self
                .store
                .claim_digests(owner, room, self.config.lease, now)
                .await?;
            let token: Arc<str> = claimed.lease.token.into();
            for (d, attempt) in claimed.digests.into_iter().zip(claimed.attempts) {
                jobs.push(Job {
                    token: Arc::clone(&token),
                    work: Work::Digest(Box::new(d), attempt),
                });
            }
        }
        Ok(jobs)
    }

    /// Renews the leases of `groups` (ids per kind and token).
    async fn renew(&self, groups: Vec<(JobKind, Arc<str>, Vec<String>)>, now: Timestamp) {
        let until = add(now, self.config.lease);
        for (kind, token, ids) in groups {
            match self.store.renew(kind, &ids, &token, until, now).await {
                Ok(n) if (n as usize) < ids.len() => tracing::warn!(
                    n_held = n,
                    n_in_flight = ids.len(),
                    "some leases were lost while sending; their results will be rejected"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "renewing leases failed"),
            }
        }
    }

    async fn deliver_one(
        &self,
        clock: Clock,
        job: Job,
        cancel: &CancellationToken,
    ) -> (String, Outcome) {
        let Job { token, work } = job;
        let kind = work.kind();
        let channel = work.channel();
        let id = work.id().to_owned();
        let attempt = work.attempt();
        let token: &str = &token;
        let store = &self.store;
        let _permit = match self.limits.get(&channel) {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        let shutdown_lock = match &self.shutdown {
            Some(shutdown) => shutdown.lock("dispatcher send").ok().map(Some),
            None => Some(None),
        };
        if cancel.is_cancelled() || shutdown_lock.is_none() {
            let outcome = match store.release(kind, &id, token, clock.now()).await {
                Ok(true) => Outcome::Released,
                Ok(false) => Outcome::LeaseLost,
                Err(error) => {
                    tracing::warn!(delivery_id = %id, error = %error, "releasing a claim failed; it is retried when the lease lapses");
                    Outcome::Released
                }
            };
            return (id, outcome);
        }
        let outcome = if attempt > self.config.max_attempts {
            // Claimed again after its leases lapsed too often (a worker died on it each time).
            Err(SendError::Permanent(format!(
                "gave up after {} attempts whose leases lapsed without a result",
                attempt - 1
            )))
        } else {
            let started = Instant::now();
            let send = async {
                match &work {
                    Work::One(n) => self.deliver.deliver(n).await,
                    Work::Digest(d, _) => self.deliver.deliver_digest(d).await,
                }
            };
            let span = tracing::info_span!("deliver", delivery_id = %id, kind = kind.as_str(), channel = %channel, attempt);
            let result =
                sentinel::isolate(tokio::time::timeout(self.config.delivery_timeout, send))
                    .instrument(span)
                    .await;
            metrics::histogram!("lookout_delivery_duration_seconds", "channel" => channel.as_str())
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(Ok(result)) => result,
                Ok(Err(_elapsed)) => Err(SendError::Transient {
                    reason: format!("no answer within {:?}", self.config.delivery_timeout),
                    retry_after: None,
                }),
                Err(panicked) => Err(SendError::Permanent(format!(
                    "panicked: {}",
                    panicked.message()
                ))),
            }
        };
        let now = clock.now();
        let recorded = match &outcome {
            Ok(()) => store
                .mark_delivered(kind, &id, token, now)
                .await
                .map(|ok| (ok, Outcome::Delivered)),
            Err(SendError::Permanent(reason)) => store
                .mark_dead(kind, &id, token, reason, now)
                .await
                .map(|ok| (ok, Outcome::Dead)),
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => {
                if attempt >= self.config.max_attempts {
                    let reason = format!("gave up after {attempt} attempts: {reason}");
                    store
                        .mark_dead(kind, &id, token, &reason, now)
                        .await
                        .map(|ok| (ok, Outcome::Dead))
                } else {
                    let delay = backoff(&self.config, attempt).max(retry_after.unwrap_or_default());
                    store
                        .mark_retry(kind, &id, token, add(now, delay), reason, now)
                        .await
                        .map(|ok| (ok, Outcome::Retry))
                }
            }
        };
        drop(shutdown_lock);
        let outcome_kind = match recorded {
            Ok((true, o)) => o,
            Ok((false, _)) => Outcome::LeaseLost,
            Err(error) => {
                // The lease will lapse and the item be delivered again (same id).
                tracing::error!(delivery_id = %id, error = %error, "recording a delivery outcome failed");
                Outcome::LeaseLost
            }
        };
        let label = channel.as_str();
        match kind {
            JobKind::Notification => {
                metrics::counter!("lookout_notifications_total", "channel" => label, "outcome" => outcome_kind.as_str())
                    .increment(1);
            }
            JobKind::Digest => {
                metrics::counter!("lookout_digests_total", "channel" => label, "outcome" => outcome_kind.as_str())
                    .increment(1);
            }
        }
        match (&outcome, outcome_kind) {
            (_, Outcome::Delivered) => {
                tracing::info!(delivery_id = %id, kind = kind.as_str(), channel = label, attempt, "delivered")
            }
            (Err(error), Outcome::Retry) => {
                tracing::warn!(delivery_id = %id, kind = kind.as_str(), channel = label, attempt, error = %error, "delivery failed; retry scheduled")
            }
            (Err(error), Outcome::Dead) => {
                metrics::counter!("lookout_notifications_dead_total", "channel" => label)
                    .increment(1);
                tracing::error!(delivery_id = %id, kind = kind.as_str(), channel = label, attempt, error = %error, "delivery dead");
            }
            (_, Outcome::LeaseLost) => {
                tracing::warn!(delivery_id = %id, kind = kind.as_str(), channel = label, attempt,
                "lease lost before the outcome was recorded; another worker owns it now")
            }
            _ => {}
        }
        (id, outcome_kind)
    }
}

/// The round's clock: the `now` it was given, advanced by the real time elapsed since, so a
/// simulated round (tests) and a live one read time the same way.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Timestamp,
    started: Instant,
}

impl Clock {
    fn new(start: Timestamp) -> Clock {
        Clock {
            start,
            started: Instant::now(),
        }
    }

    fn now(self) -> Timestamp {
        add(self.start, self.started.elapsed())
    }
}

fn add(at: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then a random point in
/// its upper half (so retries of a burst spread out but never come sooner than half the step).
fn backoff(config: &DispatcherConfig, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let step = config
        .backoff_base
        .saturating_mul(1u32 << exp)
        .min(config.backoff_max);
    let jitter: f64 = rand::random::<f64>();
    step.mul_f64(0.5 + 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Deliver for Nothing {
        async fn deliver(&self, _: &Notification) -> Result<(), SendError> {
            Ok(())
        }
        async fn deliver_digest(&self, _: &DigestBatch) -> Result<(), SendError> {
            Ok(())
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn store_clone() -> Store {
        unreachable!("type-level check only")
    }

    #[allow(dead_code)]
    async fn run_future_is_send(store: Store) {
        let dispatcher = Dispatcher::new(store, Arc::new(Nothing), DispatcherConfig::default());
        let fut = dispatcher.run(CancellationToken::new());
        assert_send(&fut);
        let scheduler =
            crate::DigestScheduler::new(store_clone(), Vec::new(), Duration::from_secs(1));
        assert_send(&scheduler.run(CancellationToken::new()));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = DispatcherConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..DispatcherConfig::default()
        };
        for _ in 0..50 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_secs(5) && first <= Duration::from_secs(10));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_secs(20) && third <= Duration::from_secs(40));
            assert!(backoff(&config, 40) <= Duration::from_secs(60));
        }
    }
}
