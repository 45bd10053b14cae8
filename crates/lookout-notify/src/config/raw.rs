//! Stage one: the files as written, deserialised into plain structs with byte spans.
//!
//! Only TOML syntax, types and unknown keys are checked here; meaning is checked in
//! [`super::resolve`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMain {
    pub(crate) store: Option<RawStore>,
    pub(crate) http: Option<RawHttp>,
    #[serde(default)]
    pub(crate) sources: Vec<S<RawSource>>,
    #[serde(default)]
    pub(crate) areas: Vec<S<RawArea>>,
    pub(crate) users: Option<S<String>>,
    pub(crate) rules: Option<S<String>>,
    pub(crate) templates: Option<S<String>>,
    pub(crate) smtp: Option<S<RawSmtp>>,
    #[serde(default)]
    pub(crate) webhooks: BTreeMap<String, S<RawWebhook>>,
    pub(crate) http_client: Option<RawHttpClient>,
    pub(crate) outbox: Option<RawOutbox>,
    pub(crate) dispatcher: Option<RawDispatcher>,
    pub(crate) digest: Option<RawDigest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) url: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) listen: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    pub(crate) kind: S<String>,
    pub(crate) name: Option<S<String>>,
    /// Longest line accepted, bytes.
    pub(crate) max_line: Option<S<u32>>,
    /// tcp_client: `host:port` to dial.
    pub(crate) addr: Option<S<String>>,
    pub(crate) dial_timeout: Option<S<String>>,
    pub(crate) stall_timeout: Option<S<String>>,
    pub(crate) backoff_initial: Option<S<String>>,
    pub(crate) backoff_max: Option<S<String>>,
    /// tcp_server, udp: local address to bind.
    pub(crate) listen: Option<S<String>>,
    pub(crate) max_connections: Option<S<u32>>,
    pub(crate) max_per_peer: Option<S<u32>>,
    pub(crate) idle_timeout: Option<S<String>>,
    pub(crate) max_peers: Option<S<u32>>,
    pub(crate) peer_idle: Option<S<String>>,
    /// file: path to replay.
    pub(crate) path: Option<S<String>>,
    /// file: replay speed factor; absent means as fast as possible.
    pub(crate) speed: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArea {
    /// `geojson` or `circle` (same shape as `lookout_track::areas::AreaSpec`).
    pub(crate) kind: S<String>,
    /// geojson: id override (a file with several features gets `id:INDEX`); circle: the id.
    pub(crate) id: Option<S<String>>,
    pub(crate) name: Option<S<String>>,
    /// geojson: the file.
    pub(crate) path: Option<S<String>>,
    /// geojson: "within this many nautical miles of" the polygons.
    pub(crate) within_nm: Option<S<f64>>,
    pub(crate) lat: Option<S<f64>>,
    pub(crate) lon: Option<S<f64>>,
    pub(crate) radius_nm: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub(crate) host: S<String>,
    pub(crate) port: Option<S<u16>>,
    pub(crate) security: Option<S<String>>,
    pub(crate) username: Option<S<String>>,
    pub(crate) password_env: Option<S<String>>,
    pub(crate) from: S<String>,
    pub(crate) message_id_domain: Option<S<String>>,
    pub(crate) connect_timeout: Option<S<String>>,
    pub(crate) total_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub(crate) url: S<String>,
    pub(crate) secret_env: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpClient {
    pub(crate) connect_timeout: Option<S<String>>,
    pub(crate) total_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutbox {
    pub(crate) ttl: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDispatcher {
    pub(crate) workers: Option<S<u32>>,
    pub(crate) batch_size: Option<S<u32>>,
    pub(crate) lease: Option<S<String>>,
    pub(crate) poll_interval: Option<S<String>>,
    pub(crate) max_attempts: Option<S<u32>>,
    pub(crate) backoff_base: Option<S<String>>,
    pub(crate) backoff_max: Option<S<String>>,
    #[serde(default)]
    pub(crate) concurrency: BTreeMap<String, S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDigest {
    pub(crate) poll_interval: Option<S<String>>,
    pub(crate) default_schedule: Option<S<String>>,
}

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
    /// slack: incoming-webhook URL.
    pub(crate) url: Option<S<String>>,
    /// slack: environment variable holding the incoming-webhook URL.
    pub(crate) url_env: Option<S<String>>,
    /// maildir: directory.
    pub(crate) path: Option<S<String>>,
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
