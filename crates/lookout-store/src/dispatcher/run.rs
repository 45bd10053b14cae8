//! The dispatcher loop: claim, admit (per-destination gate), send, buffer the outcomes, flush
//! them fenced and batched. `run` is the live loop; `round` claims one batch and finishes it
//! (tests, simulated clock).

use super::*;

/// One send in flight (boxed: the loop holds sends of one concrete type).
type SendFut<'a> = std::pin::Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

/// One flush in flight: it resolves to the outcomes it counted.
type FlushFut<'a> = std::pin::Pin<Box<dyn Future<Output = RoundReport> + Send + 'a>>;

/// Flushes `run` keeps in flight at once, each on its own pooled connection. Claims and
/// flushes overlap: a flush records outcomes of rows this dispatcher still leases, which no
/// claim can take while their leases hold, so the order between them does not matter. Two
/// let one flush commit while the next gathers, without queueing on the database.
const MAX_FLUSHES_IN_FLIGHT: usize = 2;

/// The loop's working state.
struct Engine<'a> {
    sends: FuturesUnordered<SendFut<'a>>,
    /// Flushes in flight (`run` only; a round awaits each flush).
    flushes: FuturesUnordered<FlushFut<'a>>,
    /// Outcomes counted by the flushes that ran beside the loop (merged into its report at the end).
    flushed: RoundReport,
    /// Finished sends and given-back claims, waiting for the flush.
    buffer: Vec<Done>,
    /// When the oldest buffered outcome was buffered.
    buffer_since: Option<Instant>,
    destinations: Destinations<Job>,
    leases: &'a Leases,
    clock: Clock,
}

impl<D: Deliver> Dispatcher<D> {
    /// A dispatcher over `store` sending through `deliver`.
    pub fn new(store: Store, deliver: Arc<D>, config: DispatcherConfig) -> Self {
        let limits = ChannelKind::ALL
            .into_iter()
            .map(|c| {
                let name = format!("dispatcher-{}", c.as_str());
                (c, Limit::new(name, config.channel_cap(c)))
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

    /// Holds a `sentinel` shutdown lock around every send and until its outcome is recorded,
    /// so shutdown waits for in-flight sends and their acknowledgement; a send not yet started
    /// when shutdown begins is released back to the queue instead.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &DispatcherConfig {
        &self.config
    }

    /// Runs until `cancel` fires, then finishes the sends in flight, records their outcomes,
    /// gives back what was claimed but not started, and returns.
    ///
    /// Store errors (database down) are logged and retried after the poll interval: the loop
    /// only ends on cancellation. Registers heartbeat `dispatcher` with `sentinel`; lease
    /// renewal and the TTL sweep run on the task `dispatcher-maintenance`.
    ///
    /// # Cancel safety
    /// Use the token. Dropping the future abandons in-flight sends; their leases lapse and
    /// another round re-delivers them (at least once, same id).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), StoreError> {
        let heartbeat = Heartbeat::register("dispatcher", self.config.heartbeat_tolerance);
        let mut listener = self.listen().await;
        let capacity = self.config.max_in_flight.max(1);
        tracing::info!(owner = %self.config.owner, backend = self.store.backend().as_str(), "dispatcher started");
        // Sweep once before the first claim, so nothing older than the TTL is sent at start-up.
        // Every outcome series exists from the start (at zero), so dashboards and alerts see
        // them before the first delivery.
        for channel in ChannelKind::ALL {
            for outcome in [
                "delivered",
                "retry",
                "dead",
                "released",
                "lease_lost",
                "expired",
            ] {
                metrics::counter!("lookout_notifications_total", "channel" => channel.as_str(), "outcome" => outcome)
                    .increment(0);
            }
        }
        let started_at = db_now(&self.store).await;
        if let Err(error) = sweep(&self.store, self.config.ttl, started_at).await {
            tracing::warn!(error = %error, "ttl sweep failed; retrying later");
        }
        record_gauges(&self.store, started_at).await;
        let leases = Arc::new(Leases::default());
        let stop_maintenance = CancellationToken::new();
        // Dropping `run` (instead of cancelling it) must not leave renewal running for sends
        // that were abandoned: their leases have to lapse.
        let _stop_on_drop = stop_maintenance.clone().drop_guard();
        let maintenance = sentinel::spawn("dispatcher-maintenance", {
            let (store, leases, config, stop) = (
                self.store.clone(),
                Arc::clone(&leases),
                self.config.clone(),
                stop_maintenance.clone(),
            );
            async move {
                maintain(store, leases, config, stop).await;
                Ok::<(), std::convert::Infallible>(())
            }
        });
        let mut engine = Engine {
            sends: FuturesUnordered::new(),
            flushes: FuturesUnordered::new(),
            flushed: RoundReport::default(),
            buffer: Vec::new(),
            buffer_since: None,
            destinations: Destinations::new(),
            leases: &leases,
            clock: Clock::new(db_now(&self.store).await),
        };
        let mut finished = Vec::new();
        let mut claim_due = true;
        // The last claim filled every free slot: more work is probably waiting.
        let mut backlog = false;
        let mut poll = tokio::time::interval(self.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shed_every = (self.config.slow_destination_after / 2).max(Duration::from_millis(10));
        let mut shed_tick = tokio::time::interval(shed_every);
        shed_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report = RoundReport::default();
        loop {
            heartbeat.beat();
            for done in finished.drain(..) {
                self.finished(&mut engine, done, &cancel);
                claim_due |= backlog;
            }
            let stopping = cancel.is_cancelled();
            if stopping {
                self.give_back_parked(&mut engine);
            } else {
                self.shed_slow(&mut engine);
            }
            // Held: sends in flight plus parked claims, a destination's parked ones counted up to
            // its cap (so one receiver's backlog cannot stop claims for the others), and never
            // more than twice `max_in_flight` in all.
            let n_total = engine.sends.len() + engine.destinations.n_parked();
            let held = engine.sends.len()
                + engine
                    .destinations
                    .n_parked_counted(self.config.per_destination_concurrency.max(1));
            let room =
                (capacity - held.min(capacity)).min(2 * capacity - n_total.min(2 * capacity));
            // Claim in batches, not a row per freed slot: wait for half a batch of room
            // (or an idle loop), so each claim and flush carries many rows.
            let min_room = (self.config.batch_size.min(capacity) / 2).max(1);
            let want_claim = claim_due && !stopping && (room >= min_room || n_total == 0);
            let can_flush = engine.flushes.len() < MAX_FLUSHES_IN_FLIGHT;
            if can_flush
                && self.flush_due(&engine, want_claim || (stopping && engine.sends.is_empty()))
            {
                let buffer = std::mem::take(&mut engine.buffer);
                engine.buffer_since = None;
                let flush = self.flush(buffer, engine.leases, engine.clock.now());
                engine.flushes.push(Box::pin(flush));
                continue;
            }
            if stopping
                && engine.sends.is_empty()
                && engine.buffer.is_empty()
                && engine.flushes.is_empty()
            {
                break;
            }
            if want_claim {
                claim_due = false;
                let (now, n_done) = self
                    .alongside(db_now(&self.store), &mut engine, &cancel)
                    .await;
                engine.clock = Clock::new(now);
                let room = room.min(self.config.batch_size.max(1));
                let (claimed, n_claim_done) = self
                    .alongside(self.claim(now, room, &mut report), &mut engine, &cancel)
                    .await;
                match claimed {
                    Ok(jobs) => {
                        backlog = jobs.len() >= room;
                        for job in jobs {
                            engine.leases.add(job.work.kind(), &job.token);
                            self.admit(&mut engine, job, &cancel);
                        }
                    }
                    Err(error) => {
                        backlog = false;
                        tracing::warn!(error = %error, "claiming work failed; retrying after the poll interval");
                    }
                }
                if n_done + n_claim_done > 0 {
                    claim_due |= backlog;
                }
                continue;
            }
            // With every flush slot taken, the buffer waits for a flush to finish (the arm
            // below), not for its interval.
            let flush_at = engine
                .buffer_since
                .filter(|_| can_flush)
                .map(|at| tokio::time::Instant::from_std(at + self.config.flush_interval));
            let listen = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(drop),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = engine.sends.next(), if !engine.sends.is_empty() => finished.push(done),
                Some(counted) = engine.flushes.next(), if !engine.flushes.is_empty() => engine.flushed.merge(&counted),
                () = sleep_until(flush_at) => {}
                _ = shed_tick.tick(), if engine.destinations.n_parked() > 0 => {}
                () = cancel.cancelled(), if !stopping => {
                    tracing::info!(n_in_flight = engine.sends.len(), "dispatcher stopping: finishing sends in flight");
                }
                () = self.store.wake.notified() => claim_due = true,
                _ = poll.tick() => {
                    claim_due = true;
                    if listener.is_none() && self.store.backend() == crate::Backend::Postgres {
                        listener = self.alongside(self.listen(), &mut engine, &cancel).await.0;
                    }
                }
                received = listen => match received {
                    Ok(()) => claim_due = true,
                    Err(error) => {
                        tracing::warn!(error = %error, "postgres LISTEN connection lost; polling until it is back");
                        listener = None;
                        claim_due = true;
                    }
                },
            }
        }
        report.merge(&engine.flushed);
        stop_maintenance.cancel();
        if let Err(error) = maintenance.await {
            tracing::warn!(error = %error, "dispatcher maintenance task failed");
        }
        tracing::info!(owner = %self.config.owner, n_delivered = report.n_delivered, "dispatcher stopped");
        Ok(())
    }

    /// One round at `now`: expire, claim up to `batch_size` jobs (realtime notifications
    /// first, then digests), deliver them all (per-channel and per-destination limits, leases
    /// renewed), record the outcomes. [`Dispatcher::run`] instead keeps sends in flight and
    /// claims as slots free up; tests drive rounds with a simulated clock.
    pub async fn round(&self, now: Timestamp) -> Result<RoundReport, StoreError> {
        let cancel = CancellationToken::new();
        let mut report = RoundReport {
            n_expired: sweep(&self.store, self.config.ttl, now).await?,
            ..RoundReport::default()
        };
        let leases = Leases::default();
        let mut engine = Engine {
            sends: FuturesUnordered::new(),
            flushes: FuturesUnordered::new(),
            flushed: RoundReport::default(),
            buffer: Vec::new(),
            buffer_since: None,
            destinations: Destinations::new(),
            leases: &leases,
            clock: Clock::new(now),
        };
        let jobs = self
            .claim(now, self.config.batch_size.max(1), &mut report)
            .await?;
        report.n_claimed += jobs.len();
        for job in jobs {
            leases.add(job.work.kind(), &job.token);
            self.admit(&mut engine, job, &cancel);
        }
        let every = (self.config.lease / 3).max(Duration::from_millis(50));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut finished = Vec::new();
        loop {
            for done in finished.drain(..) {
                self.finished(&mut engine, done, &cancel);
            }
            self.shed_slow(&mut engine);
            if engine.buffer.len() >= self.config.flush_max.max(1)
                || (engine.sends.is_empty() && !engine.buffer.is_empty())
            {
                let buffer = std::mem::take(&mut engine.buffer);
                let flush = self.flush(buffer, &leases, engine.clock.now());
                let (counted, _) = self.alongside(flush, &mut engine, &cancel).await;
                report.merge(&counted);
                continue;
            }
            if engine.sends.is_empty() && engine.destinations.n_parked() == 0 {
                break;
            }
            tokio::select! {
                Some(done) = engine.sends.next(), if !engine.sends.is_empty() => finished.push(done),
                _ = renew.tick() => {
                    let clock = engine.clock;
                    let renewal = renew_held(&self.store, &leases, self.config.lease, || async move { clock.now() });
                    self.alongside(renewal, &mut engine, &cancel).await;
                }
                () = tokio::time::sleep(self.config.slow_destination_after / 2) => {}
            }
        }
        Ok(report)
    }

    /// Awaits `fut` (a claim, flush or renewal) while still driving the sends and flushes in
    /// flight, and handles each send that finishes meanwhile at once: its outcome is buffered
    /// and its destination's next parked job starts. A database round trip therefore never drains the
    /// send pipeline (with the bookkeeping deferred until the statement returned, every
    /// destination ran dry once per claim and flush). Returns `fut`'s output and how many sends
    /// finished.
    async fn alongside<'a, T>(
        &'a self,
        fut: impl Future<Output = T>,
        engine: &mut Engine<'a>,
        cancel: &'a CancellationToken,
    ) -> (T, usize) {
        let mut fut = std::pin::pin!(fut);
        let mut n_finished = 0;
        loop {
            tokio::select! {
                out = &mut fut => return (out, n_finished),
                Some(done) = engine.sends.next(), if !engine.sends.is_empty() => {
                    n_finished += 1;
                    self.finished(engine, done, cancel);
                }
                Some(counted) = engine.flushes.next(), if !engine.flushes.is_empty() => {
                    engine.flushed.merge(&counted);
                }
            }
        }
    }

    fn flush_due(&self, engine: &Engine<'_>, fold_in: bool) -> bool {
        if engine.buffer.is_empty() {
            return false;
        }
        fold_in
            || engine.buffer.len() >= self.config.flush_max.max(1)
            || engine
                .buffer_since
                .is_some_and(|at| at.elapsed() >= self.config.flush_interval)
    }

    fn buffer(&self, engine: &mut Engine<'_>, done: Done) {
        engine.buffer_since.get_or_insert_with(Instant::now);
        engine.buffer.push(done);
    }

    /// Gives a claimed job back to the queue, claimable again after `delay`.
    fn give_back(&self, engine: &mut Engine<'_>, job: Job, delay: Duration) {
        let at = add(engine.clock.now(), delay);
        let done = Done::of(job, Transition::Release { at }, Health::Neutral, None);
        self.buffer(engine, done);
    }

    fn give_back_parked(&self, engine: &mut Engine<'_>) {
        for job in engine.destinations.drain_parked() {
            self.give_back(engine, job, Duration::ZERO);
        }
    }

    fn shed_slow(&self, engine: &mut Engine<'_>) {
        for (job, delay) in engine.destinations.shed(&self.config, Instant::now()) {
            tracing::debug!(notification_id = %job.work.id(), delay_ms = delay.as_millis(), "destination slow or open; claim given back");
            self.give_back(engine, job, delay);
        }
    }

    /// Starts, parks or gives back a claimed job, by its destination's gate.
    fn admit<'a>(&'a self, engine: &mut Engine<'a>, job: Job, cancel: &'a CancellationToken) {
        let channel = job.work.channel();
        let key = job.work.destination().to_owned();
        match engine
            .destinations
            .gate(&key, channel, &self.config, Instant::now())
        {
            Gate::Go(permit) => self.start(engine, job, permit, cancel),
            Gate::Wait => match engine.destinations.get_mut(&key) {
                Some(d) => d.parked.push_back(job),
                None => self.give_back(engine, job, self.config.defer_delay),
            },
            Gate::Defer(delay) => self.give_back(engine, job, delay),
        }
    }

    /// Starts `job`'s send under the destination's `permit`, on the engine's clock.
    fn start<'a>(
        &'a self,
        engine: &mut Engine<'a>,
        job: Job,
        permit: Permit,
        cancel: &'a CancellationToken,
    ) {
        let clock = engine.clock;
        engine
            .sends
            .push(Box::pin(self.send(job, permit, clock, cancel)));
    }

    /// Bookkeeping for a finished send: the destination's breaker, its parked jobs, the buffer.
    fn finished<'a>(&'a self, engine: &mut Engine<'a>, done: Done, cancel: &'a CancellationToken) {
        let key = done.destination.clone();
        let channel = done.channel;
        // Every send went through the gate (counted in flight there).
        engine
            .destinations
            .finished(&key, done.health, &self.config, Instant::now());
        self.buffer(engine, done);
        // Start what waited for this destination, while its gate lets it.
        while let Some(job) = engine
            .destinations
            .get_mut(&key)
            .and_then(|d| d.parked.pop_front())
        {
            match engine
                .destinations
                .gate(&key, channel, &self.config, Instant::now())
            {
                Gate::Go(permit) => self.start(engine, job, permit, cancel),
                Gate::Wait => {
                    if let Some(d) = engine.destinations.get_mut(&key) {
                        d.parked.push_front(job);
                    }
                    break;
                }
                Gate::Defer(delay) => self.give_back(engine, job, delay),
            }
        }
    }

    /// Sends one job: waits for its channel's permit (or shutdown), delivers under isolation and
    /// the overall timeout, and decides the transition. Records nothing: the loop flushes.
    async fn send(
        &self,
        job: Job,
        destination_permit: Permit,
        clock: Clock,
        cancel: &CancellationToken,
    ) -> Done {
        let channel = job.work.channel();
        let attempt = job.work.attempt();
        let channel_permit = match self.limits.get(&channel) {
            Some(limit) => tokio::select! {
                biased;
                () = cancel.cancelled() => None,
                permit = limit.acquire() => Some(Some(permit)),
            },
            None => Some(None),
        };
        let lock = match &self.shutdown {
            Some(shutdown) => shutdown.lock("dispatcher send").ok().map(Some),
            None => Some(None),
        };
        let (Some(_channel_permit), Some(lock)) = (channel_permit, lock) else {
            drop(destination_permit);
            return Done::of(
                job,
                Transition::Release { at: clock.now() },
                Health::Neutral,
                None,
            );
        };
        if cancel.is_cancelled() {
            drop(destination_permit);
            return Done::of(
                job,
                Transition::Release { at: clock.now() },
                Health::Neutral,
                lock,
            );
        }
        let span = tracing::info_span!(
            "deliver",
            notification_id = %job.work.id(),
            rule_id = %job.work.rule_id(),
            user_id = %job.work.user_id(),
            kind = job.work.kind().as_str(),
            channel = %channel,
            attempt,
        );
        let result = if attempt > self.config.max_attempts {
            // Claimed again after its leases lapsed too often (a worker died on it each time).
            Err(SendError::Permanent(format!(
                "gave up after {} attempts whose leases lapsed without a result",
                attempt - 1
            )))
        } else {
            let started = Instant::now();
            let send = async {
                match &job.work {
                    Work::One(n) => self.deliver.deliver(n).await,
                    Work::Digest(d, _) => self.deliver.deliver_digest(d).await,
                }
            };
            let timed = sentinel::timeout("dispatcher-send", self.config.delivery_timeout, send);
            let result = sentinel::isolate(timed).instrument(span).await;
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
        drop(destination_permit);
        let now = clock.now();
        let (transition, health, error) = match result {
            Ok(()) => (Transition::Delivered, Health::Ok, None),
            Err(SendError::Permanent(reason)) => (
                Transition::Dead {
                    reason: reason.clone(),
                },
                Health::Neutral,
                Some(reason),
            ),
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => {
                if attempt >= self.config.max_attempts {
                    let reason = format!("gave up after {attempt} attempts: {reason}");
                    (
                        Transition::Dead {
                            reason: reason.clone(),
                        },
                        Health::Failed,
                        Some(reason),
                    )
                } else {
                    let delay =
                        retry_delay(&self.config, attempt).max(retry_after.unwrap_or_default());
                    (
                        Transition::Retry {
                            at: add(now, delay),
                            error: reason.clone(),
                        },
                        Health::Failed,
                        Some(reason),
                    )
                }
            }
        };
        let mut done = Done::of(job, transition, health, lock);
        done.error = error;
        done
    }

    /// Records a buffer of outcomes: realtime notifications in one fenced statement, digests
    /// one by one (their items follow them). Logs and releases the leases; returns the
    /// outcomes counted.
    async fn flush(&self, buffer: Vec<Done>, leases: &Leases, now: Timestamp) -> RoundReport {
        let mut report = RoundReport::default();
        let finishes: Vec<Finish> = buffer
            .iter()
            .filter(|d| d.kind == JobKind::Notification)
            .map(|d| Finish {
                id: d.id.clone(),
                token: d.token.to_string(),
                transition: d.transition.clone(),
            })
            .collect();
        let applied = match self.store.finish_notifications(&finishes, now).await {
            Ok(applied) => applied,
            Err(error) => {
                // The leases lapse and these are delivered again (same ids).
                tracing::error!(error = %error, n_outcomes = finishes.len(), "recording delivery outcomes failed");
                Default::default()
            }
        };
        for done in buffer {
            let ok = match done.kind {
                JobKind::Notification => applied.contains(&done.id),
                JobKind::Digest => self.finish_digest(&done, now).await,
            };
            let outcome = if ok {
                Outcome::of(&done.transition)
            } else {
                Outcome::LeaseLost
            };
            report.count(outcome);
            leases.remove(done.kind, &done.token);
            log_outcome(&done, outcome);
        }
        report
    }

    async fn finish_digest(&self, done: &Done, now: Timestamp) -> bool {
        let (kind, id, token) = (JobKind::Digest, done.id.as_str(), &*done.token);
        let recorded = match &done.transition {
            Transition::Delivered => self.store.mark_delivered(kind, id, token, now).await,
            Transition::Dead { reason } => self.store.mark_dead(kind, id, token, reason, now).await,
            Transition::Retry { at, error } => {
                self.store
                    .mark_retry(kind, id, token, *at, error, now)
                    .await
            }
            Transition::Release { at } => self.store.release(kind, id, token, *at).await,
        };
        recorded.unwrap_or_else(|error| {
            tracing::error!(digest_id = %id, error = %error, "recording a digest outcome failed");
            false
        })
    }

    /// Claims up to `room` jobs: realtime notifications first, then digests. A digest claim
    /// that fails does not lose the notifications already claimed.
    async fn claim(
        &self,
        now: Timestamp,
        room: usize,
        report: &mut RoundReport,
    ) -> Result<Vec<Job>, StoreError> {
        let owner = self.config.owner.as_str();
        let mut jobs = Vec::new();
        let claimed = self
            .store
            .claim_notifications(owner, room, self.config.lease, now)
            .await?;
        count_undecodable(JobKind::Notification, &claimed.undecodable, report);
        let token: Arc<str> = claimed.lease.token.into();
        for n in claimed.notifications {
            jobs.push(Job {
                token: Arc::clone(&token),
                work: Work::One(Box::new(n)),
            });
        }
        let room = room.saturating_sub(jobs.len());
        if room > 0 {
            match self
                .store
                .claim_digests(owner, room, self.config.lease, now)
                .await
            {
                Ok(claimed) => {
                    count_undecodable(JobKind::Digest, &claimed.undecodable, report);
                    let token: Arc<str> = claimed.lease.token.into();
                    for (d, attempt) in claimed.digests.into_iter().zip(claimed.attempts) {
                        jobs.push(Job {
                            token: Arc::clone(&token),
                            work: Work::Digest(Box::new(d), attempt),
                        });
                    }
                }
                Err(error) if jobs.is_empty() => return Err(error),
                Err(error) => {
                    tracing::warn!(error = %error, "claiming digests failed; delivering the notifications claimed");
                }
            }
        }
        Ok(jobs)
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
        match sentinel::timeout("dispatcher-listen", Duration::from_secs(10), attempt).await {
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
}

fn count_undecodable(kind: JobKind, undecodable: &[(String, String)], report: &mut RoundReport) {
    for _ in undecodable {
        report.n_dead += 1;
        let name = match kind {
            JobKind::Notification => "lookout_notifications_total",
            JobKind::Digest => "lookout_digests_total",
        };
        metrics::counter!(name, "channel" => "unknown", "outcome" => "dead").increment(1);
    }
}

fn log_outcome(done: &Done, outcome: Outcome) {
    let label = done.channel.as_str();
    let name = match done.kind {
        JobKind::Notification => "lookout_notifications_total",
        JobKind::Digest => "lookout_digests_total",
    };
    metrics::counter!(name, "channel" => label, "outcome" => outcome.as_str()).increment(1);
    let (id, rule_id, user_id, kind, attempt) = (
        done.id.as_str(),
        done.rule_id.as_str(),
        done.user_id.as_str(),
        done.kind.as_str(),
        done.attempt,
    );
    let error = done.error.as_deref().unwrap_or("");
    match outcome {
        Outcome::Delivered => {
            tracing::info!(
                notification_id = id,
                rule_id,
                user_id,
                kind,
                channel = label,
                attempt,
                "delivered"
            );
        }
        Outcome::Retry => {
            tracing::warn!(
                notification_id = id,
                rule_id,
                user_id,
                kind,
                channel = label,
                attempt,
                error,
                "delivery failed; retry scheduled"
            );
        }
        Outcome::Dead => {
            metrics::counter!("lookout_notifications_dead_total", "channel" => label).increment(1);
            tracing::error!(
                notification_id = id,
                rule_id,
                user_id,
                kind,
                channel = label,
                attempt,
                error,
                "delivery dead"
            );
        }
        Outcome::Released => {
            tracing::debug!(
                notification_id = id,
                rule_id,
                user_id,
                kind,
                channel = label,
                "claim given back unsent"
            );
        }
        Outcome::LeaseLost => {
            tracing::warn!(
                notification_id = id,
                rule_id,
                user_id,
                kind,
                channel = label,
                attempt,
                "lease lost before the outcome was recorded; another worker owns it now"
            );
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
