//! The rules file: vessels, fleets and rules, checked against the users and areas, into the
//! model.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lookout_core::{ChannelKind, EventKind};
use lookout_notify::model::{
    DeliveryMode, DigestSchedule, Fleet, Model, Rule, User, Vessel, VesselSelector,
};

use super::checks::At;
use super::problems::{File, Problems};
use super::raw::{RawFleet, RawRule, RawRulesFile};

/// Adds the vessels, fleets and rules of `raw` to `model` (whose users and areas are known).
pub(crate) fn rules(
    p: &mut Problems,
    f: &File,
    raw: RawRulesFile,
    default_schedule: Option<DigestSchedule>,
    model: &mut Model,
) {
    for vessel in &raw.vessels {
        let v = vessel.get_ref();
        let mmsi = *v.mmsi.get_ref();
        let entry = format!("vessel {mmsi}");
        let mut at = At {
            p,
            f,
            entry: &entry,
        };
        at.mmsi(&v.mmsi);
        if model.vessels.contains_key(&mmsi) {
            at.problem(v.mmsi.span(), "mmsi", format!("duplicate vessel {mmsi}"));
            continue;
        }
        model.vessels.insert(
            mmsi,
            Vessel {
                mmsi,
                name: v.name.clone(),
                tags: v.tags.iter().cloned().collect(),
            },
        );
    }
    for fleet in &raw.fleets {
        if let Some(fleet) = self::fleet(p, f, fleet.get_ref(), model) {
            model.fleets.insert(fleet.id.clone(), fleet);
        }
    }
    let mut seen = BTreeSet::new();
    // The first digest schedule of each owner, and the rule that set it.
    let mut schedules: BTreeMap<String, (DigestSchedule, String)> = BTreeMap::new();
    for rule in &raw.rules {
        let r = rule.get_ref();
        let entry = format!("rule {:?}", r.id.get_ref());
        let mut at = At {
            p,
            f,
            entry: &entry,
        };
        if !at.unique_id(!seen.insert(r.id.get_ref().clone()), &r.id, "rule") {
            continue;
        }
        let rule = self::rule(&mut at, r, default_schedule, model);
        if let DeliveryMode::Digest(schedule) = rule.delivery {
            match schedules.get(&rule.owner) {
                Some((first, first_rule)) if *first != schedule => {
                    let span = r
                        .schedule
                        .as_ref()
                        .map_or_else(|| r.id.span(), |s| s.span());
                    at.problem(span, "schedule", format!("{schedule} differs from {first} of rule {first_rule:?}: all digest rules of user {:?} share one schedule", rule.owner));
                }
                Some(_) => {}
                None => {
                    schedules.insert(rule.owner.clone(), (schedule, rule.id.clone()));
                }
            }
        }
        model.rules.push(rule);
    }
}

fn fleet(p: &mut Problems, f: &File, fl: &RawFleet, model: &Model) -> Option<Fleet> {
    let id = fl.id.get_ref().clone();
    let entry = format!("fleet {id:?}");
    let mut at = At {
        p,
        f,
        entry: &entry,
    };
    if !at.unique_id(model.fleets.contains_key(&id), &fl.id, "fleet") {
        return None;
    }
    at.known_org(model, &fl.org);
    for m in &fl.mmsi {
        at.mmsi(m);
    }
    Some(Fleet {
        org_id: fl.org.get_ref().clone(),
        name: fl.name.clone().unwrap_or_else(|| id.clone()),
        mmsi: fl.mmsi.iter().map(|m| *m.get_ref()).collect(),
        tags: fl.tags.iter().cloned().collect(),
        id,
    })
}

fn rule(
    at: &mut At<'_>,
    r: &RawRule,
    default_schedule: Option<DigestSchedule>,
    model: &Model,
) -> Rule {
    let owner = model.users.get(r.owner.get_ref());
    if owner.is_none() {
        at.problem(
            r.owner.span(),
            "owner",
            format!("unknown user {:?}", r.owner.get_ref()),
        );
    }
    let org_id = owner.map(|u| u.org_id.clone()).unwrap_or_default();
    let events = self::events(at, r);
    let is_gap_rule =
        events.contains(&EventKind::GapStarted) || events.contains(&EventKind::GapEnded);
    let vessels = selector(at, r, is_gap_rule, owner, &org_id, model);
    let areas = self::areas(at, r, model);
    let gap_threshold = r.gap_threshold.as_ref().and_then(|g| {
        let d = at.duration("gap_threshold", g)?;
        if d < Duration::from_secs(60) {
            at.problem(
                g.span(),
                "gap_threshold",
                format!("{:?} is too short: at least 1 minute", g.get_ref()),
            );
            return None;
        }
        Some(d)
    });
    if is_gap_rule && r.gap_threshold.is_none() {
        at.problem(
            r.events.span(),
            "gap_threshold",
            "missing: gap events need a threshold, e.g. gap_threshold = \"6h\"".into(),
        );
    }
    let min_dwell = r
        .min_dwell
        .as_ref()
        .and_then(|d| at.duration("min_dwell", d));
    let delivery = self::delivery(at, r, default_schedule);
    let channels = self::channels(at, r, owner);
    Rule {
        id: r.id.get_ref().clone(),
        org_id,
        owner: r.owner.get_ref().clone(),
        vessels,
        areas,
        events,
        gap_threshold,
        min_dwell,
        delivery,
        channels,
        enabled: r.enabled.unwrap_or(true),
    }
}

fn events(at: &mut At<'_>, r: &RawRule) -> BTreeSet<EventKind> {
    let mut events = BTreeSet::new();
    for ev in r.events.get_ref() {
        match EventKind::parse(ev.get_ref()) {
            Some(k) => {
                events.insert(k);
            }
            None => at.problem(
                ev.span(),
                "events",
                format!(
                    "unknown event kind {:?}: expected entered, exited, gap_started or gap_ended",
                    ev.get_ref()
                ),
            ),
        }
    }
    if r.events.get_ref().is_empty() {
        at.problem(
            r.events.span(),
            "events",
            "empty: name at least one event kind".into(),
        );
    }
    events
}

/// Exactly one of `vessels = "any"`, `mmsi`, `fleet` (of the owner's organisation) or `tag`.
fn selector(
    at: &mut At<'_>,
    r: &RawRule,
    is_gap_rule: bool,
    owner: Option<&User>,
    org_id: &str,
    model: &Model,
) -> VesselSelector {
    let n_selectors = [
        r.vessels.is_some(),
        r.mmsi.is_some(),
        r.fleet.is_some(),
        r.tag.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if n_selectors != 1 {
        at.problem(
            r.id.span(),
            "vessels",
            "set exactly one of vessels = \"any\", mmsi = [...], fleet = \"...\" or tag = \"...\""
                .into(),
        );
        return VesselSelector::Mmsi(BTreeSet::new());
    }
    if let Some(v) = &r.vessels {
        if v.get_ref() != "any" {
            at.problem(v.span(), "vessels", format!("unknown selector {:?}: the only word allowed is \"any\" (use mmsi, fleet or tag)", v.get_ref()));
        }
        if is_gap_rule {
            at.problem(
                v.span(),
                "vessels",
                "gap rules may not target any vessel: choose an mmsi list, fleet or tag".into(),
            );
        }
        VesselSelector::Any
    } else if let Some(list) = &r.mmsi {
        if list.get_ref().is_empty() {
            at.problem(list.span(), "mmsi", "empty list".into());
        }
        for m in list.get_ref() {
            at.mmsi(m);
        }
        VesselSelector::Mmsi(list.get_ref().iter().map(|m| *m.get_ref()).collect())
    } else if let Some(fleet) = &r.fleet {
        match model.fleets.get(fleet.get_ref()) {
            None => at.problem(
                fleet.span(),
                "fleet",
                format!("unknown fleet {:?}", fleet.get_ref()),
            ),
            Some(fl) if owner.is_some() && fl.org_id != org_id => at.problem(
                fleet.span(),
                "fleet",
                format!(
                    "fleet {:?} belongs to organisation {:?}, not the owner's {org_id:?}",
                    fleet.get_ref(),
                    fl.org_id
                ),
            ),
            Some(_) => {}
        }
        VesselSelector::Fleet(fleet.get_ref().clone())
    } else if let Some(tag) = &r.tag {
        VesselSelector::Tag(tag.get_ref().clone())
    } else {
        VesselSelector::Mmsi(BTreeSet::new())
    }
}

fn areas(at: &mut At<'_>, r: &RawRule, model: &Model) -> Vec<String> {
    if r.areas.get_ref().is_empty() {
        at.problem(
            r.areas.span(),
            "areas",
            "empty: name at least one area".into(),
        );
    }
    let mut areas = Vec::new();
    for area in r.areas.get_ref() {
        if !model.areas.contains(area.get_ref()) {
            at.problem(
                area.span(),
                "areas",
                format!("unknown area {:?}", area.get_ref()),
            );
        }
        areas.push(area.get_ref().clone());
    }
    areas
}

fn delivery(
    at: &mut At<'_>,
    r: &RawRule,
    default_schedule: Option<DigestSchedule>,
) -> DeliveryMode {
    let delivery_span = r.delivery.as_ref().map(|d| d.span()).unwrap_or_default();
    match r.delivery.as_ref().map(|d| d.get_ref().as_str()) {
        None | Some("realtime") => {
            if let Some(s) = &r.schedule {
                at.problem(
                    s.span(),
                    "schedule",
                    "only digest rules have a schedule: set delivery = \"digest\"".into(),
                );
            }
            DeliveryMode::Realtime
        }
        Some("digest") => match (&r.schedule, default_schedule) {
            (Some(s), _) => match DigestSchedule::parse(s.get_ref()) {
                Ok(schedule) => DeliveryMode::Digest(schedule),
                Err(msg) => {
                    at.problem(s.span(), "schedule", msg);
                    DeliveryMode::Realtime
                }
            },
            (None, Some(schedule)) => DeliveryMode::Digest(schedule),
            (None, None) => {
                at.problem(delivery_span, "schedule", "missing: digest rules need a schedule such as \"daily 08:00\" (or set [digest] default_schedule)".into());
                DeliveryMode::Realtime
            }
        },
        Some(other) => {
            at.problem(
                delivery_span,
                "delivery",
                format!("unknown delivery {other:?}: expected realtime or digest"),
            );
            DeliveryMode::Realtime
        }
    }
}

/// The rule's channels, each configured for its owner; an owner without any is a problem.
fn channels(at: &mut At<'_>, r: &RawRule, owner: Option<&User>) -> Vec<ChannelKind> {
    let mut channels = Vec::new();
    for c in r.channels.iter().flat_map(|list| list.get_ref()) {
        let Some(kind) = ChannelKind::parse(c.get_ref()) else {
            at.problem(
                c.span(),
                "channels",
                format!(
                    "unknown channel {:?}: expected email, webhook, slack or maildir",
                    c.get_ref()
                ),
            );
            continue;
        };
        if let Some(user) = owner
            && !user.channels.iter().any(|uc| uc.kind == kind)
        {
            at.problem(
                c.span(),
                "channels",
                format!("channel {kind} is not configured for user {:?}", user.id),
            );
        }
        channels.push(kind);
    }
    if let Some(user) = owner
        && user.channels.is_empty()
    {
        at.problem(
            r.owner.span(),
            "owner",
            format!("user {:?} has no channels configured", user.id),
        );
    }
    channels
}
