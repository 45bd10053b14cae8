//! The dispatcher: claims batches from the outbox, delivers each item in isolation through a
//! [`Deliver`], and records the outcomes under the lease in batched, fenced flushes, with
//! lease renewal and the TTL sweep on a task of their own. Wakes on new work (PostgreSQL
//! `LISTEN`, an in-process signal) and polls as a fallback.
//!
//! Time: every lease, `available_at` and TTL cut-off comes from the database clock
//! ([`Store::db_now`], read once per claim round and advanced by the monotonic clock in
//! between), never from the process clock, so instances with skewed clocks agree.
//!
//! Isolation: concurrency is capped per channel and per destination, and a destination that
//! hangs or fails has its claims given back without taking a slot (see `destination.rs`).

mod destination;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jiff::{SignedDuration, Timestamp};
use lookout_core::{ChannelKind, Deliver, DigestBatch, Notification, SendError};
use sentinel::{CancellationToken, Heartbeat, Limit, Permit, Shutdown, ShutdownLock};
use sqlx::postgres::PgListener;
use tracing::Instrument;

use crate::error::StoreError;
use crate::outbox::JobKind;
use crate::outcome::{Finish, Transition};
use crate::store::{PG_CHANNEL, Pool, Store};
use destination::{Destinations, Gate, Health};

/// Dispatcher settings. `Default` gives production values, sized for throughput: in flight
/// ≈ rate × latency (25,000/s × 10 ms ≈ 256).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// Lease owner name (host/process), shown in `lease_owner`.
    pub owner: String,
    /// Most notifications (and, separately, digests) claimed per claim (default 256).
    pub batch_size: usize,
    /// Most claimed items held at once, in flight or waiting for their destination (default 1024).
    pub max_in_flight: usize,
    /// Lease length; every lease held is renewed every third of it by a task of its own.
    pub lease: Duration,
    /// Longest wait between rounds when no wake-up arrives; also the TTL sweep's period.
    pub poll_interval: Duration,
    /// Attempts (claims) after which a transient failure becomes `dead`.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Age after which undelivered notifications become `expired` (default 48 h; digest items
    /// get [`crate::LONGEST_DIGEST_PERIOD`] and a day on top).
    pub ttl: Duration,
    /// Concurrent sends per channel; a channel missing here gets `per_channel_concurrency`
    /// (the default names every channel).
    /// Defaults: webhook 1024, slack 256, email 32, maildir 64.
    pub channel_concurrency: BTreeMap<ChannelKind, usize>,
    /// Fallback for a channel missing from `channel_concurrency` (a test or library user that
    /// builds the map by hand).
    pub per_channel_concurrency: usize,
    /// Concurrent sends per destination (one webhook or Slack URL, mailbox or Maildir), so one
    /// receiver cannot take a whole channel's slots (default 128).
    pub per_destination_concurrency: usize,
    /// A destination with sends in flight and none finished for this long is slow: its claims
    /// waiting for a slot are given back instead of held (default 1 s).
    pub slow_destination_after: Duration,
    /// How long a claim given back for a slow destination waits before it is claimable again
    /// (default 1 s; longer, up to `breaker_cooldown`, while the destination stays stuck).
    pub defer_delay: Duration,
    /// Consecutive transient failures (timeouts, 5xx, refused) that open a destination's circuit
    /// breaker (default 5).
    pub breaker_failures: u32,
    /// How long an open breaker holds its destination's notifications back before one probe
    /// (default 30 s).
    pub breaker_cooldown: Duration,
    /// Most outcomes buffered before they are flushed in one fenced statement (default 256):
    /// a crash re-sends at most this many, with the same ids.
    pub flush_max: usize,
    /// Longest an outcome waits in the buffer before the flush (default 20 ms).
    pub flush_interval: Duration,
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
            batch_size: 256,
            max_in_flight: 1024,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            max_attempts: 8,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            ttl: Duration::from_secs(48 * 3600),
            channel_concurrency: BTreeMap::from([
                (ChannelKind::Webhook, 1024),
                (ChannelKind::Slack, 256),
                (ChannelKind::Email, 32),
                (ChannelKind::Maildir, 64),
            ]),
            per_channel_concurrency: 64,
            per_destination_concurrency: 128,
            slow_destination_after: Duration::from_secs(1),
            defer_delay: Duration::from_secs(1),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            flush_max: 256,
            flush_interval: Duration::from_millis(20),
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

    fn channel_cap(&self, channel: ChannelKind) -> usize {
        self.channel_concurrency
            .get(&channel)
            .copied()
            .unwrap_or(self.per_channel_concurrency)
            .max(1)
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
    /// Dead-lettered (permanent failure, panic, attempts exhausted, undecodable).
    pub n_dead: usize,
    /// Given back untouched (shutdown began, or their destination was open or slow).
    pub n_released: usize,
    /// Results rejected because the lease was lost (another worker holds it now).
    pub n_lease_lost: usize,
    /// Expired by the TTL sweep.
    pub n_expired: usize,
}

impl RoundReport {
    /// Adds `other`'s counts to these.
    fn merge(&mut self, other: &RoundReport) {
        self.n_claimed += other.n_claimed;
        self.n_delivered += other.n_delivered;
        self.n_retry += other.n_retry;
        self.n_dead += other.n_dead;
        self.n_released += other.n_released;
        self.n_lease_lost += other.n_lease_lost;
        self.n_expired += other.n_expired;
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.n_delivered += 1,
            Outcome::Retry => self.n_retry += 1,
            Outcome::Dead => self.n_dead += 1,
            Outcome::Released => self.n_released += 1,
            Outcome::LeaseLost => self.n_lease_lost += 1,
        }
    }
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

    fn of(transition: &Transition) -> Outcome {
        match transition {
            Transition::Delivered => Outcome::Delivered,
            Transition::Retry { .. } => Outcome::Retry,
            Transition::Dead { .. } => Outcome::Dead,
            Transition::Release { .. } => Outcome::Released,
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
    fn destination(&self) -> &str {
        match self {
            Work::One(n) => &n.new.destination,
            Work::Digest(d, _) => &d.destination,
        }
    }
    fn attempt(&self) -> u32 {
        match self {
            Work::One(n) => n.attempt,
            Work::Digest(_, attempt) => *attempt,
        }
    }
    fn rule_id(&self) -> &str {
        match self {
            Work::One(n) => &n.new.rule_id,
            Work::Digest(..) => "",
        }
    }
    fn user_id(&self) -> &str {
        match self {
            Work::One(n) => &n.new.user_id,
            Work::Digest(d, _) => &d.user_id,
        }
    }
}

/// Claimed work with the fencing token of its claim.
struct Job {
    token: Arc<str>,
    work: Work,
}

/// A job whose outcome is decided, waiting for the next flush.
struct Done {
    kind: JobKind,
    id: String,
    token: Arc<str>,
    channel: ChannelKind,
    attempt: u32,
    rule_id: String,
    user_id: String,
    destination: String,
    transition: Transition,
    health: Health,
    /// The failure text for the log line (already in `transition` for the row).
    error: Option<String>,
    /// Held until the outcome is recorded, so shutdown waits for the flush.
    _lock: Option<ShutdownLock>,
}

impl Done {
    fn of(job: Job, transition: Transition, health: Health, lock: Option<ShutdownLock>) -> Done {
        Done {
            kind: job.work.kind(),
            id: job.work.id().to_owned(),
            channel: job.work.channel(),
            attempt: job.work.attempt(),
            rule_id: job.work.rule_id().to_owned(),
            user_id: job.work.user_id().to_owned(),
            destination: job.work.destination().to_owned(),
            token: job.token,
            transition,
            health,
            error: None,
            _lock: lock,
        }
    }
}

/// The leases this dispatcher holds, by kind and token (not by id: re-claiming one's own
/// lapsed lease gives a new token, and both are renewed while rows are held under them).
#[derive(Debug, Default)]
struct Leases {
    held: Mutex<HashMap<(JobKind, Arc<str>), usize>>,
}

impl Leases {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(JobKind, Arc<str>), usize>> {
        match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn add(&self, kind: JobKind, token: &Arc<str>) {
        *self.map().entry((kind, Arc::clone(token))).or_default() += 1;
    }

    fn remove(&self, kind: JobKind, token: &Arc<str>) {
        let mut map = self.map();
        let key = (kind, Arc::clone(token));
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }

    fn tokens(&self, kind: JobKind) -> Vec<String> {
        self.map()
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.to_string())
            .collect()
    }
}

/// Renews every lease held, every third of the lease, on its own task: nothing the dispatcher
/// loop awaits (claims, flushes, LISTEN) can starve it. `now` reads the clock to renew from.
async fn renew_held<C, F>(store: &Store, leases: &Leases, lease: Duration, now: C)
where
    C: Fn() -> F,
    F: Future<Output = Timestamp>,
{
    for kind in [JobKind::Notification, JobKind::Digest] {
        let tokens = leases.tokens(kind);
        if tokens.is_empty() {
            continue;
        }
        let now = now().await;
        match store
            .renew_tokens(kind, &tokens, add(now, lease), now)
            .await
        {
            Ok(n) => tracing::trace!(n_renewed = n, kind = kind.as_str(), "leases renewed"),
            Err(error) => {
                tracing::warn!(error = %error, "renewing leases failed; they may lapse and be re-delivered")
            }
        }
    }
}

/// The TTL sweep, counted and logged. Returns how many rows expired.
async fn sweep(store: &Store, ttl: Duration, now: Timestamp) -> Result<usize, StoreError> {
    let expired = store.expire(now, ttl).await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let mut by_channel: HashMap<ChannelKind, u64> = HashMap::new();
    for (id, channel) in expired.notifications.iter().chain(&expired.digests) {
        tracing::debug!(notification_id = %id, channel = %channel, "expired");
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
        ttl_s = ttl.as_secs(),
        "expired undelivered notifications older than the ttl"
    );
    Ok(expired.len())
}

async fn record_gauges(store: &Store, now: Timestamp) {
    match store.outbox_stats().await {
        Ok(stats) => {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("lookout_outbox_pending").set(stats.n_pending as f64);
            let age = stats
                .oldest_created_at
                .map(|at| now.duration_since(at).as_secs_f64().max(0.0))
                .unwrap_or(0.0);
            metrics::gauge!("lookout_outbox_oldest_pending_age_seconds").set(age);
        }
        Err(error) => tracing::warn!(error = %error, "reading outbox statistics failed"),
    }
}

/// The database clock, or the process clock when the database does not answer (the next
/// statement will fail anyway).
async fn db_now(store: &Store) -> Timestamp {
    match store.db_now().await {
        Ok(now) => now,
        Err(error) => {
            tracing::debug!(error = %error, "reading the database clock failed");
            Timestamp::now()
        }
    }
}

/// The maintenance task: renewal every third of the lease, the TTL sweep and the gauges every
/// poll interval, all on the database clock, until `stop`.
async fn maintain(
    store: Store,
    leases: Arc<Leases>,
    config: DispatcherConfig,
    stop: CancellationToken,
) {
    let every = (config.lease / 3).max(Duration::from_millis(50));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + config.poll_interval,
        config.poll_interval,
    );
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = renew.tick() => renew_held(&store, &leases, config.lease, || db_now(&store)).await,
            _ = sweep_tick.tick() => {
                let now = db_now(&store).await;
                if let Err(error) = sweep(&store, config.ttl, now).await {
                    tracing::warn!(error = %error, "ttl sweep failed; retrying later");
                }
                record_gauges(&store, now).await;
            }
        }
    }
}

/// The round's clock: the `now` it was given (the database clock in `run`), advanced by the
/// monotonic time elapsed since, so a simulated round (tests) and a live one read time alike.
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

/// The delay before retry `attempt + 1`: the one place the retry policy lives.
fn retry_delay(config: &DispatcherConfig, attempt: u32) -> Duration {
    // Attempts live in the database, so the delay is sentinel's pure, stateless one: the n-th
    // retry waits up to `backoff_base · 2ⁿ` (capped at `backoff_max`), with full jitter.
    sentinel::Backoff::exponential(config.backoff_base, config.backoff_max)
        .delay(attempt.saturating_sub(1))
}

/// Claims, delivers and records outcomes; generic over the channel implementation.
pub struct Dispatcher<D> {
    store: Store,
    deliver: Arc<D>,
    config: DispatcherConfig,
    limits: HashMap<ChannelKind, Limit>,
    shutdown: Option<Shutdown>,
}

impl<D> std::fmt::Debug for Dispatcher<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
