//! The users and rules files as written, deserialised whole into plain structs with byte spans.
//!
//! Only TOML syntax, types and unknown keys are checked here; meaning is checked in
//! [`super::users`] and [`super::rules`]. (The main file is read table by table into the stage
//! crates' own structs instead, see [`super::main_file`].)

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsersFile {
    #[serde(default)]
    pub(crate) organisations: Vec<S<RawOrg>>,
    #[serde(default)]
    pub(crate) users: Vec<S<RawUser>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrg {
    pub(crate) id: S<String>,
    pub(crate) name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub(crate) id: S<String>,
    pub(crate) org: S<String>,
    pub(crate) name: Option<String>,
    pub(crate) email: S<String>,
    pub(crate) timezone: S<String>,
    pub(crate) locale: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) deleted: Option<bool>,
    #[serde(default)]
    pub(crate) channels: Vec<S<RawChannel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannel {
    pub(crate) kind: S<String>,
    /// email: address to use instead of the user's.
    pub(crate) to: Option<S<String>>,
    /// webhook: name of a `[webhooks.<name>]` endpoint.
    pub(crate) endpoint: Option<S<String>>,
    /// slack: incoming-webhook URL; webhook (set through the API only): the tenant's URL.
    pub(crate) url: Option<S<String>>,
    /// slack: environment variable holding the incoming-webhook URL.
    pub(crate) url_env: Option<S<String>>,
    /// maildir: directory.
    pub(crate) path: Option<S<String>>,
    /// `"api"`: a tenant set this channel through the API, so its URL is checked against the
    /// destination policy (export writes it, so a round trip keeps the check).
    pub(crate) origin: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRulesFile {
    #[serde(default)]
    pub(crate) vessels: Vec<S<RawVessel>>,
    #[serde(default)]
    pub(crate) fleets: Vec<S<RawFleet>>,
    #[serde(default)]
    pub(crate) rules: Vec<S<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVessel {
    pub(crate) mmsi: S<u32>,
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    pub(crate) id: S<String>,
    pub(crate) org: S<String>,
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) mmsi: Vec<S<u32>>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) id: S<String>,
    pub(crate) owner: S<String>,
    /// `"any"`.
    pub(crate) vessels: Option<S<String>>,
    pub(crate) mmsi: Option<S<Vec<S<u32>>>>,
    pub(crate) fleet: Option<S<String>>,
    pub(crate) tag: Option<S<String>>,
    pub(crate) areas: S<Vec<S<String>>>,
    pub(crate) events: S<Vec<S<String>>>,
    pub(crate) gap_threshold: Option<S<String>>,
    pub(crate) min_dwell: Option<S<String>>,
    /// `realtime` (default) or `digest`.
    pub(crate) delivery: Option<S<String>>,
    /// Digest schedule, e.g. `daily 08:00`.
    pub(crate) schedule: Option<S<String>>,
    pub(crate) channels: Option<S<Vec<S<String>>>>,
    pub(crate) enabled: Option<bool>,
}
