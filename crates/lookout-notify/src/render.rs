//! Rendering: minijinja templates per event kind and channel, in the recipient's timezone.
//!
//! Template names are `<kind>.<part>` where kind is an event kind or `digest` and part is one of
//! `subject.txt`, `text.txt`, `html.html` (HTML-autoescaped), `slack.json` and `webhook.json`
//! (JSON-autoescaped: `{{ value }}` writes a JSON literal). Defaults are embedded in the binary;
//! a templates directory may override any of them globally (`<dir>/<name>`), per organisation
//! (`<dir>/orgs/<org>/<name>`) or per rule (`<dir>/rules/<rule>/<name>`); the most specific
//! wins.
//!
//! A template that fails to parse or render, or panics, fails only the message being rendered:
//! the caller gets a [`RenderError`] naming the template (the router turns it into
//! `SendError::Permanent`).

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use lookout_core::{ChannelKind, DigestBatch, Event, EventKind, Notification};
use minijinja::Environment;
use minijinja::value::{Serde, Value};
use serde_json::json;

use crate::model::User;

/// Why a message could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}: {message}")]
pub struct RenderError {
    /// The template that failed (its registered name, e.g. `rules/r1/entered.subject.txt`).
    pub template: String,
    /// What went wrong (the minijinja error or the panic text).
    pub message: String,
}

/// A problem found while loading a templates directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TemplateProblem {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// One rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Email subject (also the Slack/webhook summary line).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (email and Maildir only).
    pub html: Option<String>,
    /// JSON body (Slack and webhook only).
    pub json: Option<String>,
}

const PARTS: [&str; 5] = [
    "subject.txt",
    "text.txt",
    "html.html",
    "slack.json",
    "webhook.json",
];

macro_rules! embedded {
    ($($kind:literal),*) => {
        &[$(
            (concat!($kind, ".subject.txt"), include_str!(concat!("../templates/", $kind, ".subject.txt"))),
            (concat!($kind, ".text.txt"), include_str!(concat!("../templates/", $kind, ".text.txt"))),
            (concat!($kind, ".html.html"), include_str!(concat!("../templates/", $kind, ".html.html"))),
            (concat!($kind, ".slack.json"), include_str!(concat!("../templates/", $kind, ".slack.json"))),
            (concat!($kind, ".webhook.json"), include_str!(concat!("../templates/", $kind, ".webhook.json"))),
        )*]
    };
}

/// Instructions one render may execute (a 1,000-item digest uses well under a tenth).
const FUEL_PER_RENDER: u64 = 5_000_000;

/// The shipped default templates: (name, source).
pub const DEFAULT_TEMPLATES: &[(&str, &str)] =
    embedded!("entered", "exited", "gap_started", "gap_ended", "digest");

/// Renders notifications and digests. Cheap to share behind an `Arc`.
pub struct Renderer {
    env: Environment<'static>,
    /// Registered names that failed to parse, with the error.
    broken: HashMap<String, String>,
    /// Override scopes registered so far (`dir`, `orgs/<org>`, `rules/<rule>`).
    scopes: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::with_defaults()
    }
}

impl Renderer {
    /// A renderer with only the shipped templates.
    pub fn with_defaults() -> Renderer {
        let mut env = Environment::new();
        env.add_filter("slack_escape", slack_escape);
        // Bounds the work of one render, so a runaway override (a huge loop) fails its own
        // message instead of stalling a dispatcher worker.
        env.set_fuel(Some(FUEL_PER_RENDER));
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut broken = HashMap::new();
        for (name, source) in DEFAULT_TEMPLATES {
            let registered = format!("default/{name}");
            if let Err(err) = env.add_template_owned(registered.clone(), (*source).to_owned()) {
                broken.insert(registered, err.to_string());
            }
        }
        Renderer {
            env,
            broken,
            scopes: std::collections::BTreeSet::new(),
        }
    }

    /// Registers a template function `test_panic(message)` that panics (feature `test-util`),
    /// so tests can prove a panicking template fails only its own notification.
    #[cfg(feature = "test-util")]
    pub fn register_test_panic(&mut self) {
        self.env
            .add_function("test_panic", |message: String| -> String {
                panic!("{message}")
            });
    }

    /// Adds (or replaces) an override. `scope` is `""` (global), `orgs/<org>` or `rules/<rule>`.
    ///
    /// A template that does not parse is remembered as broken: rendering with it fails only
    /// the messages that would use it. The parse error is also returned.
    pub fn add_override(
        &mut self,
        scope: &str,
        name: &str,
        source: &str,
    ) -> Result<(), RenderError> {
        let scope = if scope.is_empty() { "dir" } else { scope };
        let registered = format!("{scope}/{name}");
        self.scopes.insert(scope.to_owned());
        match self
            .env
            .add_template_owned(registered.clone(), source.to_owned())
        {
            Ok(()) => {
                self.broken.remove(&registered);
                Ok(())
            }
            Err(err) => {
                let message = format!("{err:#}");
                self.broken.insert(registered.clone(), message.clone());
                Err(RenderError {
                    template: registered,
                    message,
                })
            }
        }
    }

    /// Loads overrides from a templates directory (see the module docs for the layout).
    ///
    /// Returns every problem found (unreadable or unparsable files, unknown names); the
    /// renderer is usable regardless.
    pub fn load_dir(&mut self, dir: &Path) -> Vec<TemplateProblem> {
        let mut problems = Vec::new();
        self.load_scope(dir, "", &mut problems);
        for sub in ["orgs", "rules"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let scope = format!("{sub}/{}", entry.file_name().to_string_lossy());
                    self.load_scope(&entry.path(), &scope, &mut problems);
                }
            }
        }
        problems
    }

    fn load_scope(&mut self, dir: &Path, scope: &str, problems: &mut Vec<TemplateProblem>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                problems.push(TemplateProblem {
                    path: dir.display().to_string(),
                    message: format!("cannot read templates directory: {err}"),
                });
                return;
            }
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.is_file()) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !is_known_name(&name) {
                problems.push(TemplateProblem {
                    path: path.display().to_string(),
                    message: format!(
                        "unknown template name {name:?}: expected <kind>.<part> with kind one of entered, exited, gap_started, gap_ended, digest and part one of {}",
                        PARTS.join(", ")
                    ),
                });
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(source) => {
                    if let Err(err) = self.add_override(scope, &name, &source) {
                        problems.push(TemplateProblem {
                            path: path.display().to_string(),
                            message: err.message,
                        });
                    }
                }
                Err(err) => problems.push(TemplateProblem {
                    path: path.display().to_string(),
                    message: format!("cannot read template: {err}"),
                }),
            }
        }
    }

    /// The most specific registered name for `name`.
    fn resolve(&self, name: &str, org_id: &str, rule_id: Option<&str>) -> String {
        let mut chain = Vec::with_capacity(4);
        if let Some(rule) = rule_id {
            chain.push(format!("rules/{rule}/{name}"));
        }
        chain.push(format!("orgs/{org_id}/{name}"));
        chain.push(format!("dir/{name}"));
        for candidate in chain {
            if self.broken.contains_key(&candidate) || self.env.get_template(&candidate).is_ok() {
                return candidate;
            }
        }
        format!("default/{name}")
    }

    fn render_one(&self, registered: &str, ctx: &Value) -> Result<String, RenderError> {
        if let Some(message) = self.broken.get(registered) {
            return Err(RenderError {
                template: registered.to_owned(),
                message: message.clone(),
            });
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.env
                .get_template(registered)
                .and_then(|t| t.render(ctx.clone()))
        }));
        match result {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(err)) => Err(RenderError {
                template: registered.to_owned(),
                message: format!("{err:#}"),
            }),
            Err(panic) => Err(RenderError {
                template: registered.to_owned(),
                message: format!(
                    "template panicked: {}",
                    sentinel::panic_text(panic.as_ref())
                ),
            }),
        }
    }

    fn render_parts(
        &self,
        prefix: &str,
        org_id: &str,
        rule_id: Option<&str>,
        channel: ChannelKind,
        mut ctx: serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let name = |part: &str| self.resolve(&format!("{prefix}.{part}"), org_id, rule_id);
        let subject_name = name("subject.txt");
        let subject = self.render_one(&subject_name, &Value::from(Serde(&ctx)))?;
        let subject = subject.lines().next().unwrap_or_default().trim().to_owned();
        if let Some(map) = ctx.as_object_mut() {
            map.insert("subject".into(), json!(subject));
        }
        let value = Value::from(Serde(&ctx));
        let text = self.render_one(&name("text.txt"), &value)?;
        let (html, json) = match channel {
            ChannelKind::Email | ChannelKind::Maildir => {
                (Some(self.render_one(&name("html.html"), &value)?), None)
            }
            ChannelKind::Slack => (None, Some(self.render_json(&name("slack.json"), &value)?)),
            ChannelKind::Webhook => (None, Some(self.render_json(&name("webhook.json"), &value)?)),
        };
        Ok(Rendered {
            subject,
            text,
            html,
            json,
        })
    }

    fn render_json(&self, registered: &str, ctx: &Value) -> Result<String, RenderError> {
        let body = self.render_one(registered, ctx)?;
        match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(parsed) => Ok(parsed.to_string()),
            Err(err) => Err(RenderError {
                template: registered.to_owned(),
                message: format!("rendered text is not valid json: {err}"),
            }),
        }
    }

    /// Renders every kind on every channel, and a digest, with sample data through each
    /// override scope, returning each distinct failure (what `lookout check` reports, so a
    /// template that references an unknown variable is found before the first real event).
    /// Templates that failed to parse are left out: [`Renderer::add_override`] and
    /// [`Renderer::load_dir`] already reported them.
    pub fn self_test(&self) -> Vec<RenderError> {
        use lookout_core::{Delivery, NewNotification};
        let mut user = User::new("sample-user", "sample-org", "sample@example.com", "UTC");
        user.name = "Sample User".to_owned();
        let sample = |kind: EventKind, id: &str, org: &str, rule: &str, channel: ChannelKind| {
            let at = Timestamp::from_second(1_735_642_800).unwrap_or(Timestamp::UNIX_EPOCH);
            let gap = matches!(kind, EventKind::GapStarted | EventKind::GapEnded);
            let event = Event {
                kind,
                mmsi: 512_000_001,
                vessel_name: Some("SAMPLE".to_owned()),
                area_id: "sample-area".to_owned(),
                area_name: "Sample Area".to_owned(),
                at,
                lat: -41.0,
                lon: 174.0,
                last_seen: gap.then(|| at - jiff::SignedDuration::from_hours(6)),
                gap_seconds: gap.then_some(6 * 3600),
                threshold_seconds: gap.then_some(6 * 3600),
            };
            Notification {
                id: id.to_owned(),
                attempt: 1,
                created_at: at,
                new: NewNotification {
                    silence_id: None,
                    dedupe_key: String::new(),
                    org_id: org.to_owned(),
                    user_id: user.id.clone(),
                    rule_id: rule.to_owned(),
                    channel,
                    destination: String::new(),
                    delivery: Delivery::Realtime,
                    event,
                },
            }
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut errors = Vec::new();
        let mut scopes: Vec<(String, String)> = vec![("sample-org".into(), "sample-rule".into())];
        for scope in &self.scopes {
            if let Some(org) = scope.strip_prefix("orgs/") {
                scopes.push((org.to_owned(), "sample-rule".into()));
            } else if let Some(rule) = scope.strip_prefix("rules/") {
                scopes.push(("sample-org".into(), rule.to_owned()));
            }
        }
        let channels = [ChannelKind::Email, ChannelKind::Slack, ChannelKind::Webhook];
        for (org, rule) in &scopes {
            for channel in channels {
                let mut results = Vec::new();
                for kind in EventKind::ALL {
                    let n = sample(kind, "sample-notification", org, rule, channel);
                    results.push(self.render_notification(&n, &user).map(|_| ()));
                }
                let mut digest_user = user.clone();
                digest_user.org_id.clone_from(org);
                let digest = DigestBatch {
                    id: "sample-digest".to_owned(),
                    user_id: user.id.clone(),
                    channel,
                    destination: String::new(),
                    period_start: Timestamp::UNIX_EPOCH,
                    period_end: Timestamp::UNIX_EPOCH,
                    items: vec![
                        sample(EventKind::Entered, "n1", org, rule, channel),
                        sample(EventKind::GapStarted, "n2", org, rule, channel),
                    ],
                };
                results.push(self.render_digest(&digest, &digest_user).map(|_| ()));
                for err in results.into_iter().filter_map(Result::err) {
                    if !self.broken.contains_key(&err.template) && seen.insert(err.template.clone())
                    {
                        errors.push(err);
                    }
                }
            }
        }
        errors
    }

    /// Renders one realtime notification for `user` on the notification's channel.
    pub fn render_notification(
        &self,
        notification: &Notification,
        user: &User,
    ) -> Result<Rendered, RenderError> {
        let tz = user_tz(user)?;
        let new = &notification.new;
        let mut ctx = event_context(&new.event, &tz);
        if let Some(map) = ctx.as_object_mut() {
            map.insert("notification_id".into(), json!(notification.id));
            map.insert("rule_id".into(), json!(new.rule_id));
            map.insert("user_id".into(), json!(new.user_id));
            map.insert("org_id".into(), json!(new.org_id));
            map.insert("user".into(), user_context(user));
        }
        self.render_parts(
            new.event.kind.as_str(),
            &new.org_id,
            Some(&new.rule_id),
            new.channel,
            ctx,
        )
    }

    /// Renders one digest for `user`, with a summary table of its items.
    pub fn render_digest(
        &self,
        digest: &DigestBatch,
        user: &User,
    ) -> Result<Rendered, RenderError> {
        let tz = user_tz(user)?;
        let mut counts: BTreeMap<EventKind, usize> = BTreeMap::new();
        let mut items = Vec::with_capacity(digest.items.len());
        let mut lines = Vec::with_capacity(digest.items.len());
        for item in &digest.items {
            let event = &item.new.event;
            *counts.entry(event.kind).or_default() += 1;
            let mut ctx = event_context(event, &tz);
            if let Some(map) = ctx.as_object_mut() {
                map.insert("notification_id".into(), json!(item.id));
                map.insert("rule_id".into(), json!(item.new.rule_id));
            }
            lines.push(format!(
                "{} | {} | {} | {}",
                local_time(event.at, &tz),
                event.display_name(),
                event.kind,
                event.area_name
            ));
            items.push(ctx);
        }
        let summary: Vec<_> = counts
            .iter()
            .map(|(kind, count)| json!({"kind": kind.as_str(), "count": count}))
            .collect();
        let ctx = json!({
            "digest_id": digest.id,
            "user_id": digest.user_id,
            "user": user_context(user),
            "count": digest.items.len(),
            "period_start": local_time(digest.period_start, &tz),
            "period_end": local_time(digest.period_end, &tz),
            "period_start_utc": digest.period_start.to_string(),
            "period_end_utc": digest.period_end.to_string(),
            "summary": summary,
            "items": items,
            "lines": lines,
        });
        self.render_parts("digest", &user.org_id, None, digest.channel, ctx)
    }
}

/// Escapes `&`, `<` and `>` as Slack's mrkdwn requires (so a vessel name cannot inject a link
/// or mention).
fn slack_escape(value: String) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn is_known_name(name: &str) -> bool {
    let Some((kind, part)) = name.split_once('.') else {
        return false;
    };
    (kind == "digest" || EventKind::parse(kind).is_some()) && PARTS.contains(&part)
}

fn user_tz(user: &User) -> Result<TimeZone, RenderError> {
    user.timezone.clone().ok_or_else(|| RenderError {
        template: "-".into(),
        message: format!(
            "user {:?} has invalid timezone {:?}",
            user.id, user.timezone_name
        ),
    })
}

fn user_context(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "timezone": user.timezone_name,
        "locale": user.locale,
    })
}

/// Formats `at` in `tz` as `01/01/2025 00:00 NZDT` (day/month/year, 24 h, abbreviation).
pub fn local_time(at: Timestamp, tz: &TimeZone) -> String {
    let zoned = at.to_zoned(tz.clone());
    jiff::fmt::strtime::format("%d/%m/%Y %H:%M %Z", &zoned).unwrap_or_else(|_| zoned.to_string())
}

/// Humanises a duration: `6 hours`, `1 day 2 hours`, `1 hour 30 minutes`, `45 seconds`.
///
/// At most the two largest units, smaller ones truncated.
pub fn humanise_seconds(total: u64) -> String {
    let units = [
        (total / 86_400, "day"),
        ((total % 86_400) / 3_600, "hour"),
        ((total % 3_600) / 60, "minute"),
        (total % 60, "second"),
    ];
    let Some(first) = units.iter().position(|(n, _)| *n > 0) else {
        return "0 seconds".to_owned();
    };
    units[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ")
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn event_context(event: &Event, tz: &TimeZone) -> serde_json::Value {
    json!({
        "kind": event.kind.as_str(),
        "vessel": event.display_name(),
        "vessel_name": event.vessel_name,
        "mmsi": event.mmsi,
        "area": event.area_name,
        "area_id": event.area_id,
        "at": local_time(event.at, tz),
        "at_utc": event.at.to_string(),
        "lat": round4(event.lat),
        "lon": round4(event.lon),
        "last_seen": event.last_seen.map(|t| local_time(t, tz)),
        "last_seen_utc": event.last_seen.map(|t| t.to_string()),
        "gap": event.gap_seconds.map(humanise_seconds),
        "gap_seconds": event.gap_seconds,
        "threshold": event.threshold_seconds.map(humanise_seconds),
        "threshold_seconds": event.threshold_seconds,
        "timezone": tz.iana_name().unwrap_or("UTC"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanises_durations() {
        let check = |secs: u64, want: &str| assert_eq!(humanise_seconds(secs), want, "{secs}");
        check(6 * 3600, "6 hours");
        check(26 * 3600, "1 day 2 hours");
        check(26 * 3600 + 59 * 60, "1 day 2 hours");
        check(86_400 + 60, "1 day");
        check(3600 + 1800, "1 hour 30 minutes");
        check(3600, "1 hour");
        check(45, "45 seconds");
        check(0, "0 seconds");
    }

    #[test]
    fn every_default_template_parses_and_names_are_known() {
        let r = Renderer::with_defaults();
        assert!(r.broken.is_empty(), "{:?}", r.broken);
        assert!(r.self_test().is_empty(), "{:?}", r.self_test());
        for (name, _) in DEFAULT_TEMPLATES {
            assert!(is_known_name(name), "{name}");
        }
        assert_eq!(DEFAULT_TEMPLATES.len(), 25);
    }
}

#[cfg(test)]
mod fuel_tests {
    use super::*;

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let mut r = Renderer::with_defaults();
        r.add_override(
            "rules/loop",
            "entered.subject.txt",
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        let out = r.render_one("rules/loop/entered.subject.txt", &Value::from(()));
        let err = out.unwrap_err();
        assert!(err.message.contains("fuel"), "{}", err.message);
    }
}
