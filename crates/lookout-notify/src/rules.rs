//! From event to notifications: the rule index and matcher.
//!
//! [`RuleIndex`] maps `(area id, event kind)` to the rules that care, so matching an event
//! costs the number of interested rules, never a scan of all of them. [`RuleIndex::match_event`]
//! returns one [`NewNotification`] per (rule, channel) and a [`Skip`] for every rule that
//! matched but cannot be served (deleted or disabled user, area gone, bad timezone...). Each
//! skip is logged once (target `lookout_notify::rules`) and counted in
//! `lookout_notifications_skipped_total{reason}`; nothing here panics or returns an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{ChannelKind, Event, EventKind, Mmsi, NewNotification};

use crate::model::{Model, Rule};

/// Why a matching rule produced no notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SkipReason {
    /// The owner was deleted.
    UserDeleted,
    /// The owner is disabled.
    UserDisabled,
    /// The owner does not exist.
    UnknownUser,
    /// The event's area is no longer configured.
    AreaGone,
    /// The owner's timezone did not resolve.
    InvalidTimezone,
    /// None of the rule's channels is configured for the owner.
    NoChannel,
}

impl SkipReason {
    /// The label used in logs and `lookout_notifications_skipped_total{reason}`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UserDeleted => "user_deleted",
            SkipReason::UserDisabled => "user_disabled",
            SkipReason::UnknownUser => "unknown_user",
            SkipReason::AreaGone => "area_gone",
            SkipReason::InvalidTimezone => "invalid_timezone",
            SkipReason::NoChannel => "no_channel",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule that matched an event but produced no notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The rule.
    pub rule_id: String,
    /// Its owner.
    pub user_id: String,
    /// Why.
    pub reason: SkipReason,
}

/// What one event produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    /// Notifications to write to the outbox (in the same transaction as the event).
    pub notifications: Vec<NewNotification>,
    /// Rules that matched but were skipped.
    pub skipped: Vec<Skip>,
}

/// What the tracker must watch for in one area, derived from the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaNeeds {
    /// Every distinct gap threshold of the enabled gap rules on the area.
    pub gap_thresholds: BTreeSet<Duration>,
    /// The smallest `min_dwell` of the enabled entered/exited rules on the area (zero when
    /// any such rule has none): the tracker may not wait longer than the most eager rule.
    pub min_dwell: Duration,
    /// Every distinct `min_dwell` (zero included) of those rules.
    pub min_dwells: BTreeSet<Duration>,
}

struct IndexedRule {
    rule: Rule,
    /// `None`: any vessel.
    mmsi: Option<BTreeSet<Mmsi>>,
}

/// Rules indexed by area and event kind. Immutable; rebuild on configuration change.
pub struct RuleIndex {
    model: Arc<Model>,
    rules: Vec<IndexedRule>,
    by_area_kind: HashMap<(String, EventKind), Vec<usize>>,
}

impl fmt::Debug for RuleIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleIndex")
            .field("rules", &self.rules.len())
            .field("keys", &self.by_area_kind.len())
            .finish()
    }
}

impl RuleIndex {
    /// Indexes the enabled rules of `model`.
    pub fn new(model: Arc<Model>) -> RuleIndex {
        let mut rules = Vec::new();
        let mut by_area_kind: HashMap<(String, EventKind), Vec<usize>> = HashMap::new();
        for rule in model.rules.iter().filter(|r| r.enabled) {
            let idx = rules.len();
            let mut areas: Vec<&String> = rule.areas.iter().collect();
            areas.sort();
            areas.dedup();
            for area in areas {
                for kind in &rule.events {
                    by_area_kind
                        .entry((area.clone(), *kind))
                        .or_default()
                        .push(idx);
                }
            }
            rules.push(IndexedRule {
                mmsi: model.resolve_selector(&rule.org_id, &rule.vessels),
                rule: rule.clone(),
            });
        }
        RuleIndex {
            model,
            rules,
            by_area_kind,
        }
    }

    /// The model this index was built from.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Per area, the gap thresholds and dwell times the tracker must implement.
    pub fn area_needs(&self) -> BTreeMap<String, AreaNeeds> {
        let mut needs: BTreeMap<String, AreaNeeds> = BTreeMap::new();
        for indexed in &self.rules {
            let rule = &indexed.rule;
            for area in &rule.areas {
                let entry = needs.entry(area.clone()).or_default();
                if rule
                    .events
                    .iter()
                    .any(|k| matches!(k, EventKind::GapStarted | EventKind::GapEnded))
                    && let Some(threshold) = rule.gap_threshold
                {
                    entry.gap_thresholds.insert(threshold);
                }
                if rule
                    .events
                    .iter()
                    .any(|k| matches!(k, EventKind::Entered | EventKind::Exited))
                {
                    entry.min_dwells.insert(rule.min_dwell.unwrap_or_default());
                }
            }
        }
        for entry in needs.values_mut() {
            entry.min_dwell = entry.min_dwells.first().copied().unwrap_or_default();
        }
        needs
    }

    /// Finds every rule interested in `event` and turns each into notifications or a skip.
    pub fn match_event(&self, event: &Event) -> MatchOutcome {
        let mut outcome = MatchOutcome::default();
        let Some(candidates) = self.by_area_kind.get(&(event.area_id.clone(), event.kind)) else {
            return outcome;
        };
        let area_exists = self.model.areas.contains(&event.area_id);
        for &idx in candidates {
            let Some(indexed) = self.rules.get(idx) else {
                continue;
            };
            let rule = &indexed.rule;
            if let Some(set) = &indexed.mmsi
                && !set.contains(&event.mmsi)
            {
                continue;
            }
            if matches!(event.kind, EventKind::GapStarted | EventKind::GapEnded) {
                let wanted = rule.gap_threshold.map(|d| d.as_secs());
                if wanted.is_none() || wanted != event.threshold_seconds {
                    continue;
                }
            } else {
                // The tracker emits one entered/exited per distinct dwell of the area's rules,
                // carrying the dwell in `threshold_seconds` (absent for no dwell): a rule takes
                // only the event of its own dwell.
                let wanted = rule.min_dwell.unwrap_or_default().as_secs();
                if event.threshold_seconds.unwrap_or(0) != wanted {
                    continue;
                }
            }
            match self.notifications_for(rule, event, area_exists) {
                Ok(mut notes) => outcome.notifications.append(&mut notes),
                Err(reason) => {
                    let skip = Skip {
                        rule_id: rule.id.clone(),
                        user_id: rule.owner.clone(),
                        reason,
                    };
                    tracing::warn!(
                        rule_id = %skip.rule_id,
                        user_id = %skip.user_id,
                        reason = skip.reason.as_str(),
                        mmsi = event.mmsi,
                        area_id = %event.area_id,
                        kind = %event.kind,
                        "notification skipped"
                    );
                    metrics::counter!(
                        "lookout_notifications_skipped_total",
                        "reason" => skip.reason.as_str()
                    )
                    .increment(1);
                    outcome.skipped.push(skip);
                }
            }
        }
        outcome
    }

    fn notifications_for(
        &self,
        rule: &Rule,
        event: &Event,
        area_exists: bool,
    ) -> Result<Vec<NewNotification>, SkipReason> {
        let user = self
            .model
            .users
            .get(&rule.owner)
            .ok_or(SkipReason::UnknownUser)?;
        if user.deleted {
            return Err(SkipReason::UserDeleted);
        }
        if !user.enabled {
            return Err(SkipReason::UserDisabled);
        }
        if !area_exists {
            return Err(SkipReason::AreaGone);
        }
        if user.timezone.is_none() {
            return Err(SkipReason::InvalidTimezone);
        }
        let wanted = |kind: ChannelKind| rule.channels.is_empty() || rule.channels.contains(&kind);
        let notes: Vec<NewNotification> = user
            .channels
            .iter()
            .filter(|c| wanted(c.kind))
            .map(|c| NewNotification {
                silence_id: None,
                dedupe_key: NewNotification::dedupe_key_for(&rule.id, c.kind, event),
                org_id: user.org_id.clone(),
                user_id: user.id.clone(),
                rule_id: rule.id.clone(),
                channel: c.kind,
                destination: c.destination.clone(),
                delivery: rule.delivery.as_delivery(),
                event: event.clone(),
            })
            .collect();
        if notes.is_empty() {
            return Err(SkipReason::NoChannel);
        }
        Ok(notes)
    }
}
