//! Rule index: matching by area, kind, vessel and gap threshold; skips counted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{ChannelKind, Delivery, EventKind};
use lookout_notify::model::{
    DeliveryMode, DigestSchedule, Fleet, Model, Rule, User, UserChannel, VesselSelector,
};
use lookout_notify::{RuleIndex, SkipReason};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::event;

fn user(id: &str) -> User {
    let mut u = User::new(id, "acme", &format!("{id}@example.com"), "Pacific/Auckland");
    u.channels
        .push(UserChannel::new(ChannelKind::Email, u.email.clone()));
    u
}

fn rule(id: &str, owner: &str, vessels: VesselSelector, events: &[EventKind]) -> Rule {
    Rule {
        id: id.into(),
        org_id: "acme".into(),
        owner: owner.into(),
        vessels,
        areas: vec!["nz400".into()],
        events: events.iter().copied().collect(),
        gap_threshold: None,
        min_dwell: None,
        delivery: DeliveryMode::Realtime,
        channels: vec![],
        enabled: true,
    }
}

fn model() -> Model {
    let mut m = Model::default();
    m.areas.insert("nz400".into());
    m.areas.insert("hauraki".into());
    m
}

/// Runs `f` with a local metrics recorder; returns its result and the skip counters by reason.
fn counting<T>(f: impl FnOnce() -> T) -> (T, Vec<(String, u64)>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let out = metrics::with_local_recorder(&recorder, f);
    let mut counts = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() == "lookout_notifications_skipped_total"
            && let DebugValue::Counter(n) = value
        {
            let reason = key
                .labels()
                .find(|l| l.key() == "reason")
                .unwrap()
                .value()
                .to_owned();
            counts.push((reason, n));
        }
    }
    (out, counts)
}

#[test]
fn a_deleted_user_among_a_thousand_is_skipped_and_counted() {
    let mut m = model();
    for i in 0..1000 {
        let id = format!("user-{i:04}");
        let mut u = user(&id);
        if i == 500 {
            u.deleted = true;
        }
        m.users.insert(id.clone(), u);
        m.rules.push(rule(
            &format!("rule-{i:04}"),
            &id,
            VesselSelector::Any,
            &[EventKind::Entered],
        ));
    }
    let index = RuleIndex::new(Arc::new(m));
    let e = event(EventKind::Entered, "2025-01-01T00:00:00Z");
    let (outcome, counts) = counting(|| index.match_event(&e));
    assert_eq!(outcome.notifications.len(), 999);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].user_id, "user-0500");
    assert_eq!(outcome.skipped[0].reason, SkipReason::UserDeleted);
    assert_eq!(counts, vec![("user_deleted".to_owned(), 1)]);
    let keys: BTreeSet<_> = outcome
        .notifications
        .iter()
        .map(|n| n.dedupe_key.clone())
        .collect();
    assert_eq!(keys.len(), 999, "dedupe keys are distinct per rule");
    let n = &outcome.notifications[0];
    assert_eq!(
        n.dedupe_key,
        lookout_core::NewNotification::dedupe_key_for(&n.rule_id, ChannelKind::Email, &e)
    );
    assert_eq!(n.delivery, Delivery::Realtime);
    assert_eq!(n.destination, format!("{}@example.com", n.user_id));
}

#[test]
fn matching_respects_area_kind_vessel_and_threshold() {
    let mut m = model();
    m.users.insert("a".into(), user("a"));
    m.fleets.insert(
        "f".into(),
        Fleet {
            id: "f".into(),
            org_id: "acme".into(),
            name: "F".into(),
            mmsi: [512_000_001].into(),
            tags: BTreeSet::new(),
        },
    );
    m.rules.push(rule(
        "any-entered",
        "a",
        VesselSelector::Any,
        &[EventKind::Entered],
    ));
    m.rules.push(rule(
        "other-vessel",
        "a",
        VesselSelector::Mmsi([1].into()),
        &[EventKind::Entered],
    ));
    m.rules.push(rule(
        "fleet",
        "a",
        VesselSelector::Fleet("f".into()),
        &[EventKind::Entered, EventKind::GapStarted],
    ));
    let mut six = rule(
        "gap-6h",
        "a",
        VesselSelector::Mmsi([512_000_001].into()),
        &[EventKind::GapStarted],
    );
    six.gap_threshold = Some(Duration::from_secs(6 * 3600));
    let mut one = rule(
        "gap-1h",
        "a",
        VesselSelector::Mmsi([512_000_001].into()),
        &[EventKind::GapStarted],
    );
    one.gap_threshold = Some(Duration::from_secs(3600));
    one.min_dwell = Some(Duration::from_secs(60));
    let mut elsewhere = rule("elsewhere", "a", VesselSelector::Any, &[EventKind::Entered]);
    elsewhere.areas = vec!["hauraki".into()];
    let mut disabled = rule("disabled", "a", VesselSelector::Any, &[EventKind::Entered]);
    disabled.enabled = false;
    let mut digest = rule("digest", "a", VesselSelector::Any, &[EventKind::Exited]);
    digest.delivery = DeliveryMode::Digest(DigestSchedule::parse("daily 08:00").unwrap());
    digest.min_dwell = Some(Duration::from_secs(300));
    m.rules.extend([six, one, elsewhere, disabled, digest]);
    let index = RuleIndex::new(Arc::new(m));

    let rules_for = |kind| {
        let o = index.match_event(&event(kind, "2025-01-01T00:00:00Z"));
        assert!(o.skipped.is_empty());
        o.notifications
            .into_iter()
            .map(|n| n.rule_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(rules_for(EventKind::Entered), ["any-entered", "fleet"]);
    // The helper's gap events carry a 6 h threshold: the 1 h rule stays quiet.
    assert_eq!(rules_for(EventKind::GapStarted), ["gap-6h"]);
    assert!(rules_for(EventKind::GapEnded).is_empty());
    // Entered/exited carry the dwell that confirmed them: the 5 min digest rule takes only
    // the exit confirmed after 5 min, not the immediate one.
    assert!(rules_for(EventKind::Exited).is_empty());
    let mut after_dwell = event(EventKind::Exited, "2025-01-01T00:00:00Z");
    after_dwell.threshold_seconds = Some(300);
    let exited = index.match_event(&after_dwell);
    assert_eq!(exited.notifications.len(), 1);
    assert_eq!(exited.notifications[0].rule_id, "digest");
    assert_eq!(exited.notifications[0].delivery, Delivery::Digest);

    let needs = index.area_needs();
    let nz = &needs["nz400"];
    assert_eq!(
        nz.gap_thresholds,
        [Duration::from_secs(3600), Duration::from_secs(6 * 3600)].into()
    );
    assert_eq!(nz.min_dwell, Duration::ZERO);
    assert_eq!(
        nz.min_dwells,
        [Duration::ZERO, Duration::from_secs(300)].into()
    );
    assert!(needs["hauraki"].gap_thresholds.is_empty());
}

#[test]
fn unservable_rules_are_skipped_with_their_reason() {
    let mut m = model();
    let mut disabled = user("disabled");
    disabled.enabled = false;
    let mut bad_tz = user("bad-tz");
    bad_tz.timezone_name = "Mars/Olympus".into();
    bad_tz.timezone = None;
    let mut no_channel = user("no-channel");
    no_channel.channels.clear();
    for u in [disabled, bad_tz, no_channel, user("ok")] {
        m.users.insert(u.id.clone(), u);
    }
    for owner in ["disabled", "bad-tz", "no-channel", "ghost", "ok"] {
        m.rules.push(rule(
            &format!("r-{owner}"),
            owner,
            VesselSelector::Any,
            &[EventKind::Entered],
        ));
    }
    let mut gone = rule("r-gone", "ok", VesselSelector::Any, &[EventKind::Entered]);
    gone.areas = vec!["removed-area".into()];
    m.rules.push(gone);
    let index = RuleIndex::new(Arc::new(m));

    let e = event(EventKind::Entered, "2025-01-01T00:00:00Z");
    let (outcome, mut counts) = counting(|| index.match_event(&e));
    assert_eq!(outcome.notifications.len(), 1);
    let reasons: Vec<_> = outcome
        .skipped
        .iter()
        .map(|s| (s.rule_id.as_str(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("r-disabled", SkipReason::UserDisabled),
            ("r-bad-tz", SkipReason::InvalidTimezone),
            ("r-no-channel", SkipReason::NoChannel),
            ("r-ghost", SkipReason::UnknownUser),
        ]
    );
    counts.sort();
    assert_eq!(counts.len(), 4);

    let mut e = e;
    e.area_id = "removed-area".into();
    let outcome = index.match_event(&e);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].reason, SkipReason::AreaGone);
}
