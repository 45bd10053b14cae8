//! One leader at a time for a named role, by a lease in PostgreSQL: the ingest instance that publishes to the log.
//!
//! Several ingest instances read the same feeds for redundancy, but only the leader publishes; the others keep the
//! last stretch of observations and, when one of them takes over, publish it again first (with the same message
//! ids: what the old leader stored is recognised as a duplicate). A partition's order in the log is then one
//! instance's feed order, spliced at the takeover, instead of an interleaving of several instances' progress, which
//! could put a later report of a vessel before an earlier one (the earlier one would be dropped as stale, and a
//! replay or another instance would see a different history).
//!
//! The lease lives on the **database** clock (`leaders.expires_at`, `now()`): an instance is leader while its
//! renewal succeeds; a leader that cannot renew stops publishing by its own clock before the lease can expire in
//! the database ([`Leader::is_leading`]), so two instances never publish at once unless a clock runs more than a
//! sixth of the lease fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::partitions::{LeaseError, bounded};

/// A named leadership lease for one instance.
#[derive(Debug, Clone)]
pub struct Leadership {
    pool: PgPool,
    name: String,
    owner: String,
    lease: Duration,
    statement_timeout: Duration,
    /// Milliseconds an expired lease must have been expired before this owner takes it over.
    patience_ms: Arc<AtomicU64>,
}

impl Leadership {
    /// The lease `name` for `owner` (unique per process, as for the partition leases). Run
    /// [`crate::partitions::migrate`] first: it creates the `leaders` table.
    ///
    /// # Errors
    /// An empty name or owner, or a lease under a second.
    pub fn new(
        pool: PgPool,
        name: impl Into<String>,
        owner: impl Into<String>,
        lease: Duration,
    ) -> Result<Leadership, LeaseError> {
        let (name, owner) = (name.into(), owner.into());
        if name.is_empty() || owner.is_empty() {
            return Err(LeaseError::Config("a leadership needs a name and an owner"));
        }
        if lease < Duration::from_secs(1) {
            return Err(LeaseError::Config("a leadership lease is at least 1s"));
        }
        Ok(Leadership {
            pool,
            name,
            owner,
            lease,
            statement_timeout: Duration::from_secs(5).min(lease / 2),
            patience_ms: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How long another owner's lease must have been expired before this owner takes it over
    /// (default 0). A candidate that is a worse successor (an ingest standby that has not kept
    /// enough of the feed yet) waits, so a better one, trying with no patience, wins; it still
    /// takes over when no better one is there. Renewing one's own lease never waits.
    pub fn set_patience(&self, patience: Duration) {
        let ms = u64::try_from(patience.as_millis()).unwrap_or(u64::MAX);
        self.patience_ms.store(ms, Ordering::Relaxed);
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Takes the lease when it is free or expired, or extends it when this owner holds it; returns the epoch when
    /// this owner leads now (a new epoch on every change of leader), `None` when another instance does.
    ///
    /// # Cancel safety
    ///
    /// One statement.
    pub async fn acquire_or_renew(&self) -> Result<Option<u64>, LeaseError> {
        let epoch: Option<i64> = bounded(
            "acquire or renew the leadership",
            self.statement_timeout,
            sqlx::query_scalar(
                r"INSERT INTO leaders (name, owner, epoch, expires_at)
                  VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                  ON CONFLICT (name) DO UPDATE
                  SET owner = EXCLUDED.owner,
                      epoch = CASE WHEN leaders.owner = EXCLUDED.owner AND leaders.expires_at > now()
                                   THEN leaders.epoch ELSE leaders.epoch + 1 END,
                      expires_at = EXCLUDED.expires_at
                  WHERE leaders.owner = EXCLUDED.owner
                     OR leaders.expires_at <= now() - make_interval(secs => $4)
                  RETURNING epoch",
            )
            .bind(&self.name)
            .bind(&self.owner)
            .bind(self.lease.as_secs_f64())
            .bind(patience_secs(&self.patience_ms))
            .fetch_optional(&self.pool),
        )
        .await?;
        Ok(epoch.map(|e| u64::try_from(e).unwrap_or(0)))
    }

    /// Gives the lease up (graceful shutdown): another instance can take it at its next attempt.
    ///
    /// # Cancel safety
    ///
    /// One statement.
    pub async fn release(&self) -> Result<(), LeaseError> {
        bounded(
            "release the leadership",
            self.statement_timeout,
            sqlx::query("UPDATE leaders SET expires_at = now() WHERE name = $1 AND owner = $2")
                .bind(&self.name)
                .bind(&self.owner)
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }
}

#[allow(clippy::cast_precision_loss)]
fn patience_secs(ms: &AtomicU64) -> f64 {
    ms.load(Ordering::Relaxed) as f64 / 1000.0
}

/// What [`run`] tells the role it guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderState {
    /// The epoch of this instance's leadership, `None` while another instance leads.
    pub epoch: Option<u64>,
    /// Until when this instance may act as leader by its own clock (a renewal's start plus five sixths of the
    /// lease, never later than the database lets the lease expire).
    pub until: Option<Instant>,
}

/// A handle on the leadership [`run`] maintains.
#[derive(Debug, Clone)]
pub struct Leader {
    state: watch::Receiver<LeaderState>,
}

impl Leader {
    /// Whether this instance leads now (its last renewal is fresh enough).
    pub fn is_leading(&self) -> bool {
        let state = *self.state.borrow();
        state.epoch.is_some() && state.until.is_some_and(|until| Instant::now() < until)
    }

    /// The current state.
    pub fn state(&self) -> LeaderState {
        *self.state.borrow()
    }

    /// Resolves when the state changes (or [`run`] ended).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn changed(&mut self) {
        if self.state.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A [`Leader`] handle and the sender [`run`] drives.
pub fn leader() -> (watch::Sender<LeaderState>, Leader) {
    let (tx, rx) = watch::channel(LeaderState {
        epoch: None,
        until: None,
    });
    (tx, Leader { state: rx })
}

/// Tries to lead every third of the lease until `token` is cancelled, then releases the lease if held (an
/// immediate handoff). Spawn it through `sentinel`; nothing else runs on its task, so renewal is never starved.
///
/// # Errors
/// Never: database failures are logged and retried (the leadership lapses by its own clock meanwhile).
pub async fn run(
    leadership: Arc<Leadership>,
    state: watch::Sender<LeaderState>,
    token: sentinel::CancellationToken,
) -> Result<(), LeaseError> {
    let mut interval = tokio::time::interval(leadership.lease() / 3);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let trust = leadership.lease().mul_f64(5.0 / 6.0);
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            _ = interval.tick() => {}
        }
        let sent = Instant::now();
        match leadership.acquire_or_renew().await {
            Ok(epoch) => {
                let was = state.borrow().epoch;
                if epoch != was {
                    match epoch {
                        Some(epoch) => tracing::info!(target: "lookout_cluster::leader",
                            name = %leadership.name, epoch, "leading"),
                        None => tracing::info!(target: "lookout_cluster::leader",
                            name = %leadership.name, "another instance leads"),
                    }
                }
                state.send_replace(LeaderState {
                    epoch,
                    until: epoch.map(|_| sent + trust),
                });
            }
            Err(error) => {
                tracing::warn!(target: "lookout_cluster::leader", name = %leadership.name,
                    error = %sentinel::error_chain(&error), "cannot renew the leadership; retrying");
            }
        }
    }
    if state.borrow().epoch.is_some() {
        state.send_replace(LeaderState {
            epoch: None,
            until: None,
        });
        leadership.release().await?;
    }
    Ok(())
}
