//! Isolation between receivers: per destination, a concurrency cap, slowness detection and a
//! circuit breaker, so one hanging or failing endpoint cannot hold the slots everybody shares.
//!
//! A destination is one channel address (a webhook or Slack URL, a mailbox, a Maildir path).
//! Claimed work for a destination whose cap is reached waits ("parked") without taking a send
//! slot; once the destination is *slow* (sends in flight and none finished for
//! `slow_destination_after`) or its breaker is *open*, its claims are given back to the queue
//! (attempt not counted) instead, so the dispatcher claims past its backlog to other
//! destinations. A healthy destination never sees its cap bind below `per_destination_concurrency`.
//!
//! Breaker: `breaker_failures` consecutive transient failures (timeouts, 5xx, refused
//! connections) open it for `breaker_cooldown`; then one probe goes through (half-open); its
//! success closes the breaker, its failure opens it again. Every transition is logged once and
//! counted in `lookout_destination_breaker_transitions_total{channel,to}`; the number of open
//! destinations is the gauge `lookout_destinations_open`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lookout_core::ChannelKind;
use sentinel::{Limit, Permit};

use super::DispatcherConfig;

/// How a finished send reflects on its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Health {
    /// It answered and accepted.
    Ok,
    /// Timeout, refused connection, 5xx, 429: counts towards opening the breaker.
    Failed,
    /// Neither (a permanent 4xx answer, a release before sending).
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What may happen to a claimed job now.
pub(super) enum Gate {
    /// Send now, holding this destination permit.
    Go(Permit),
    /// The cap is reached: park it until a send to this destination finishes.
    Wait,
    /// Give it back to the queue, claimable again after this delay.
    Defer(Duration),
}

/// The state of one destination.
pub(super) struct Destination<J> {
    channel: ChannelKind,
    /// Redacted name for logs (no URL path: Slack URLs are secrets).
    label: String,
    limit: Limit,
    breaker: Breaker,
    /// Sends in flight to it.
    in_flight: usize,
    /// Last time a send to it finished, or it went from idle to busy.
    last_progress: Instant,
    /// Claimed jobs waiting for its cap.
    pub(super) parked: VecDeque<J>,
}

/// Every destination seen recently.
pub(super) struct Destinations<J> {
    map: HashMap<String, Destination<J>>,
    n_open: usize,
}

/// Scheme, host and port of a URL; the domain of an address; a path as is.
pub(super) fn redact(destination: &str) -> String {
    if let Some((scheme, rest)) = destination.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        return format!("{scheme}://{host}");
    }
    match destination.rsplit_once('@') {
        Some((_, domain)) => format!("*@{domain}"),
        None => destination.to_owned(),
    }
}

impl<J> Destinations<J> {
    pub(super) fn new() -> Self {
        Destinations {
            map: HashMap::new(),
            n_open: 0,
        }
    }

    /// Claimed jobs parked across all destinations.
    pub(super) fn n_parked(&self) -> usize {
        self.map.values().map(|d| d.parked.len()).sum()
    }

    /// Parked jobs counted against the claim room: at most `cap` per destination, so one
    /// destination's backlog waiting for its cap does not stop claims for the others.
    pub(super) fn n_parked_counted(&self, cap: usize) -> usize {
        self.map.values().map(|d| d.parked.len().min(cap)).sum()
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Destination<J>> {
        self.map.get_mut(key)
    }

    fn entry(
        &mut self,
        key: &str,
        channel: ChannelKind,
        config: &DispatcherConfig,
    ) -> &mut Destination<J> {
        if !self.map.contains_key(key) {
            self.map.insert(
                key.to_owned(),
                Destination {
                    channel,
                    label: redact(key),
                    limit: Limit::new("dispatcher-destination", config.per_destination_concurrency),
                    breaker: Breaker::Closed { failures: 0 },
                    in_flight: 0,
                    last_progress: Instant::now(),
                    parked: VecDeque::new(),
                },
            );
        }
        // Just inserted if it was missing.
        match self.map.get_mut(key) {
            Some(d) => d,
            None => unreachable!("inserted above"),
        }
    }

    /// Takes every parked job of destinations that are slow or open, with the delay to give
    /// each back for.
    pub(super) fn shed(&mut self, config: &DispatcherConfig, now: Instant) -> Vec<(J, Duration)> {
        let mut out = Vec::new();
        for d in self.map.values_mut() {
            if d.parked.is_empty() {
                continue;
            }
            let delay = match d.breaker {
                Breaker::Open { until } => {
                    Some(until.saturating_duration_since(now).max(config.defer_delay))
                }
                _ if d.is_slow(config, now) => Some(d.defer_for(config, now)),
                _ => None,
            };
            if let Some(delay) = delay {
                out.extend(d.parked.drain(..).map(|j| (j, delay)));
            }
        }
        out
    }

    /// Takes every parked job (shutdown).
    pub(super) fn drain_parked(&mut self) -> Vec<J> {
        self.map
            .values_mut()
            .flat_map(|d| d.parked.drain(..))
            .collect()
    }

    /// Records a finished send and updates the breaker; logs and counts a transition.
    pub(super) fn finished(
        &mut self,
        key: &str,
        health: Health,
        config: &DispatcherConfig,
        now: Instant,
    ) {
        let Some(d) = self.map.get_mut(key) else {
            return;
        };
        d.in_flight = d.in_flight.saturating_sub(1);
        d.last_progress = now;
        let before = d.breaker;
        d.breaker = match (d.breaker, health) {
            (Breaker::HalfOpen { .. }, Health::Ok) | (Breaker::Closed { .. }, Health::Ok) => {
                Breaker::Closed { failures: 0 }
            }
            (Breaker::HalfOpen { .. }, Health::Failed) => Breaker::Open {
                until: now + config.breaker_cooldown,
            },
            (Breaker::HalfOpen { .. }, Health::Neutral) => Breaker::HalfOpen { probing: false },
            (Breaker::Closed { failures }, Health::Failed) => {
                let failures = failures.saturating_add(1);
                if failures >= config.breaker_failures.max(1) {
                    Breaker::Open {
                        until: now + config.breaker_cooldown,
                    }
                } else {
                    Breaker::Closed { failures }
                }
            }
            (b, _) => b,
        };
        self.transition(key, before);
        // Forget idle, healthy destinations so the map stays bounded by the active ones.
        if let Some(d) = self.map.get(key)
            && d.in_flight == 0
            && d.parked.is_empty()
            && d.breaker == (Breaker::Closed { failures: 0 })
        {
            self.map.remove(key);
        }
    }

    fn transition(&mut self, key: &str, before: Breaker) {
        let Some(d) = self.map.get(key) else {
            return;
        };
        let name = |b: Breaker| match b {
            Breaker::Closed { .. } => "closed",
            Breaker::Open { .. } => "open",
            Breaker::HalfOpen { .. } => "half_open",
        };
        let (from, to) = (name(before), name(d.breaker));
        if from == to {
            return;
        }
        if to == "open" {
            self.n_open += 1;
        } else if from == "open" {
            self.n_open = self.n_open.saturating_sub(1);
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("lookout_destinations_open").set(self.n_open as f64);
        metrics::counter!("lookout_destination_breaker_transitions_total", "channel" => d.channel.as_str(), "to" => to)
            .increment(1);
        if to == "open" {
            tracing::warn!(channel = %d.channel, destination = %d.label, from, "destination circuit breaker opened; its notifications wait without taking a slot");
        } else {
            tracing::info!(channel = %d.channel, destination = %d.label, from, to, "destination circuit breaker changed");
        }
    }

    /// What may happen to a job for `key` now; `Go` counts it in flight.
    pub(super) fn gate(
        &mut self,
        key: &str,
        channel: ChannelKind,
        config: &DispatcherConfig,
        now: Instant,
    ) -> Gate {
        let d = self.entry(key, channel, config);
        let before = d.breaker;
        if let Breaker::Open { until } = d.breaker {
            if now < until {
                return Gate::Defer(until - now);
            }
            d.breaker = Breaker::HalfOpen { probing: false };
        }
        let gate = match d.breaker {
            Breaker::HalfOpen { probing: true } => Gate::Defer(config.defer_delay),
            _ => match d.limit.try_acquire() {
                Some(permit) => {
                    if d.in_flight == 0 {
                        d.last_progress = now;
                    }
                    d.in_flight += 1;
                    if let Breaker::HalfOpen { .. } = d.breaker {
                        d.breaker = Breaker::HalfOpen { probing: true };
                    }
                    Gate::Go(permit)
                }
                None if d.is_slow(config, now) => Gate::Defer(d.defer_for(config, now)),
                None => Gate::Wait,
            },
        };
        self.transition(key, before);
        gate
    }
}

impl<J> Destination<J> {
    /// How long to give a claim back for while slow: `defer_delay`, or as long as the
    /// destination has been stuck if that is longer (a hanging receiver's claims then come
    /// back about when its sends time out, instead of cycling every `defer_delay`).
    fn defer_for(&self, config: &DispatcherConfig, now: Instant) -> Duration {
        config
            .defer_delay
            .max(now.saturating_duration_since(self.last_progress))
            .min(config.breaker_cooldown.max(config.defer_delay))
    }

    /// Sends in flight and none finished for `slow_destination_after`.
    fn is_slow(&self, config: &DispatcherConfig, now: Instant) -> bool {
        self.in_flight > 0
            && now.saturating_duration_since(self.last_progress) >= config.slow_destination_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_no_secret_path() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com"
        );
        assert_eq!(redact("http://u:p@127.0.0.1:9/x?y"), "http://127.0.0.1:9");
        assert_eq!(redact("ops@example.com"), "*@example.com");
        assert_eq!(redact("/var/mail/ops"), "/var/mail/ops");
    }

    #[test]
    fn breaker_opens_after_failures_probes_once_and_closes() {
        let config = DispatcherConfig {
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(30),
            per_destination_concurrency: 4,
            ..DispatcherConfig::default()
        };
        let mut d: Destinations<()> = Destinations::new();
        let t = Instant::now();
        for _ in 0..3 {
            let Gate::Go(p) = d.gate("http://h/x", ChannelKind::Webhook, &config, t) else {
                panic!("closed breaker lets sends through")
            };
            drop(p);
            d.finished("http://h/x", Health::Failed, &config, t);
        }
        assert!(
            matches!(d.gate("http://h/x", ChannelKind::Webhook, &config, t), Gate::Defer(delay) if delay == Duration::from_secs(30))
        );
        // After the cooldown exactly one probe goes through.
        let later = t + Duration::from_secs(31);
        let Gate::Go(probe) = d.gate("http://h/x", ChannelKind::Webhook, &config, later) else {
            panic!("half-open probes")
        };
        assert!(matches!(
            d.gate("http://h/x", ChannelKind::Webhook, &config, later),
            Gate::Defer(_)
        ));
        drop(probe);
        d.finished("http://h/x", Health::Ok, &config, later);
        assert!(matches!(
            d.gate("http://h/x", ChannelKind::Webhook, &config, later),
            Gate::Go(_)
        ));
    }
}
