//! The model (issue 12): organisations and what each configures — users, vessels, fleets,
//! areas, rules, silences — plus API tokens and the audit log, on both backends.
//!
//! Invariants:
//! - **Tenant-scoped.** Every function that reads or changes an organisation's objects takes
//!   its `org_id` and every statement filters on it: an object of another organisation is
//!   "not found", never an error that reveals it exists. Ids of users, rules, fleets,
//!   silences and tokens are unique across organisations (notifications and digests name them
//!   alone); a write of such an id owned by another organisation is
//!   [`StoreError::Conflict`](crate::StoreError::Conflict), which the API reports as if the
//!   object did not exist (it never lets a client choose those ids).
//! - **Configuration's own form.** User channels, area definitions and rule definitions are
//!   stored as the JSON of what the configuration files accept (`{ "kind": "webhook",
//!   "endpoint": "demo" }`, not the resolved URL; secrets stay in the environment), so `lookout
//!   export` writes back what `lookout import` read and one validator serves files and the API.
//!   Validation is the caller's: this module stores what it is given.
//! - **Every write can be audited in its own transaction**: the mutating functions take an
//!   [`Audit`] record and write it with the change (or not at all).
//! - **Idempotent upserts.** [`Upserted::Unchanged`] when the stored row already equals the
//!   new one (its `updated_at` is left alone), so importing the same files twice changes nothing.
//!
//! `conn` holds the SQL (written once, compiled for each backend), `rows` the conversions to
//! and from rows, `upsert` the compare-then-write of each kind, `ops` the
//! [`Store`](crate::Store) methods.

mod conn;
mod history;
mod ops;
mod rows;
mod upsert;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use history::{
    Action, AttemptRecord, DigestRecord, EventFilter, EventRecord, NotificationFilter,
    NotificationRecord,
};
pub use ops::{Cursor, ModelCounts, ModelVersion};

/// An organisation (a tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Id, e.g. `demo`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A user of an organisation: who is notified, where and in which time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Id, unique across organisations.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// IANA time zone name, e.g. `Pacific/Auckland`.
    pub timezone: String,
    /// Locale, e.g. `en-NZ`.
    pub locale: String,
    /// The channels as the users file writes them: an array of `{ "kind": ..., ... }`.
    pub channels: serde_json::Value,
    /// A disabled user is skipped at match time.
    pub enabled: bool,
    /// A deleted user is kept (history names it) and skipped at match time.
    pub deleted: bool,
}

/// A vessel an organisation knows by MMSI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vessel {
    /// Owning organisation.
    pub org_id: String,
    /// MMSI (nine digits).
    pub mmsi: u32,
    /// Name, when known.
    pub name: Option<String>,
    /// Tags rules and silences may select by, sorted.
    pub tags: Vec<String>,
}

/// A named set of vessels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    /// Id, unique across organisations.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Members, sorted.
    pub mmsi: Vec<u32>,
    /// Tags, sorted.
    pub tags: Vec<String>,
}

/// An area: its definition as the configuration accepts it, self-contained (no file paths):
/// `{ "kind": "circle", "lat", "lon", "radius_nm" }` or `{ "kind": "geojson", "geometry":
/// <GeoJSON Polygon/MultiPolygon>, "within_nm"?: N }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Owning organisation.
    pub org_id: String,
    /// Id, unique within the organisation (events name it).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The definition (see the type's documentation).
    pub definition: serde_json::Value,
}

/// An alert rule: the rule as the rules file writes it, as JSON (without `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Id, unique across organisations.
    pub id: String,
    /// Owning organisation (its owner's).
    pub org_id: String,
    /// The user it notifies.
    pub owner: String,
    /// A disabled rule matches nothing.
    pub enabled: bool,
    /// `owner`, `areas`, `events`, one vessel selector, `delivery`, ... as in the rules file.
    pub definition: serde_json::Value,
}

/// What a silence mutes. Every non-empty list must match (a notification is silenced when its
/// vessel is listed *and* its area is listed, ...); an empty list matches anything. A silence
/// with every list empty mutes the whole organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Matchers {
    /// MMSIs.
    pub vessels: Vec<u32>,
    /// Fleet ids (the vessel is a member).
    pub fleets: Vec<String>,
    /// Vessel tags (the vessel carries one).
    pub tags: Vec<String>,
    /// Area ids.
    pub areas: Vec<String>,
    /// Rule ids.
    pub rules: Vec<String>,
    /// Event kinds: `entered`, `exited`, `gap_started`, `gap_ended`.
    pub kinds: Vec<String>,
}

/// What a notification is about, as a silence sees it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The vessel.
    pub mmsi: u32,
    /// Fleets the vessel is a member of.
    pub fleets: &'a [String],
    /// The vessel's tags.
    pub tags: &'a [String],
    /// The area.
    pub area: &'a str,
    /// The rule.
    pub rule: &'a str,
    /// The event kind (`entered`, ...).
    pub kind: &'a str,
}

impl Matchers {
    /// True when `subject` matches every non-empty list.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let any = |list: &[String], values: &[String]| {
            list.is_empty() || list.iter().any(|l| values.contains(l))
        };
        let one = |list: &[String], value: &str| list.is_empty() || list.iter().any(|l| l == value);
        (self.vessels.is_empty() || self.vessels.contains(&s.mmsi))
            && any(&self.fleets, s.fleets)
            && any(&self.tags, s.tags)
            && one(&self.areas, s.area)
            && one(&self.rules, s.rule)
            && one(&self.kinds, s.kind)
    }
}

/// A silence: notifications matching [`Matchers`] between `starts_at` and `ends_at` are
/// recorded as silenced instead of sent (applied by routing; expired silences match nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Id, unique across organisations.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// What it mutes.
    pub matchers: Matchers,
    /// From.
    pub starts_at: Timestamp,
    /// Until (exclusive).
    pub ends_at: Timestamp,
    /// Who created it.
    pub author: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// True when the silence is in force at `at` and matches `subject`.
    pub fn silences(&self, at: Timestamp, subject: &Subject<'_>) -> bool {
        self.starts_at <= at && at < self.ends_at && self.matchers.matches(subject)
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read the organisation's objects.
    Viewer,
    /// Also change rules, areas, vessels, fleets and silences, and requeue notifications.
    Editor,
    /// Also manage users and tokens.
    Admin,
    /// Instance-wide facts; no organisation.
    Operator,
}

impl Role {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "viewer" => Role::Viewer,
            "editor" => Role::Editor,
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            _ => return None,
        })
    }
}

/// An API token as listed: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Id (shown by `lookout token list`, used to revoke).
    pub id: String,
    /// The organisation it acts for; `None` for an operator token.
    pub org_id: Option<String>,
    /// What it may do.
    pub role: Role,
    /// A label.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<Timestamp>,
}

/// One write, for the audit log: who did what to which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// Who: `token:<id>`, `import`, `cli`.
    pub actor: String,
    /// What: `rule.create`, `silence.delete`, ...
    pub action: String,
    /// Which object: `rule/<id>`.
    pub object: String,
    /// Details (JSON), e.g. the new object.
    pub detail: serde_json::Value,
}

impl Audit {
    /// An audit record with no detail.
    pub fn new(actor: &str, action: &str, object: &str) -> Audit {
        Audit {
            actor: actor.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            detail: serde_json::Value::Null,
        }
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (database clock).
    pub at: Timestamp,
    /// The organisation whose object changed (`None`: instance-wide, e.g. an operator token).
    pub org_id: Option<String>,
    /// The record.
    #[serde(flatten)]
    pub audit: Audit,
}

/// Every object the configuration files hold, of one or more organisations (what `lookout
/// import` writes and `lookout export` reads).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSnapshot {
    /// Organisations.
    pub orgs: Vec<Organisation>,
    /// Users.
    pub users: Vec<User>,
    /// Vessels.
    pub vessels: Vec<Vessel>,
    /// Fleets.
    pub fleets: Vec<Fleet>,
    /// Areas.
    pub areas: Vec<Area>,
    /// Rules.
    pub rules: Vec<Rule>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Upserted {
    /// The object is new.
    Created,
    /// The object existed and changed.
    Updated,
    /// The object existed exactly so; nothing was written.
    Unchanged,
}
