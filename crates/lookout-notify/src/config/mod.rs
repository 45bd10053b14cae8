//! Configuration files: `lookout.toml` plus the users and rules files it names.
//!
//! Two stages, like ripgrep's low/high args: `raw` deserialises each file into plain structs
//! (syntax, types, unknown keys), then `resolve` checks meaning across files and builds the
//! ready [`Config`] (with its [`Model`]). Every problem is collected, not just the first, and
//! each names file, line, entry and field:
//!
//! ```text
//! examples/rules.toml:12: rule "nz-fleet": field areas: unknown area "hauraki"
//! ```
//!
//! Secrets never live in the files: `secret_env`, `password_env` and `url_env` name
//! environment variables, read through an injectable [`EnvSource`] so tests stay parallel-safe.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lookout_core::ChannelKind;

use crate::channels::{HttpSettings, SmtpSettings};
use crate::model::{DigestSchedule, Model};

mod raw;
mod resolve;

/// Where `*_env` settings are read from.
pub trait EnvSource {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// One configuration problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as reached from the main config path.
    pub file: PathBuf,
    /// 1-based line; 0 when unknown (e.g. the file could not be read).
    pub line: usize,
    /// The entry, e.g. `rule "nz-fleet"`; empty at top level.
    pub entry: String,
    /// The field, e.g. `areas`; empty when the whole entry or file is meant.
    pub field: String,
    /// What is wrong, lowercase, naming the offending value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": ")?;
        if !self.entry.is_empty() {
            write!(f, "{}: ", self.entry)?;
        }
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration problem{}:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<Problem>);

impl ConfigError {
    /// The problems, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

/// An AIS input, as configured: the same options and defaults as `lookout_feed`'s
/// `SourceConfig`, so the conversion is field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// Name in metrics, logs and `/connections` (default `source-N`).
    pub name: String,
    /// Longest line accepted, in bytes (default 1024).
    pub max_line: usize,
    /// What kind of source.
    pub kind: SourceKindSpec,
}

/// The kinds of AIS input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SourceKindSpec {
    /// Dial out to a TCP feed, reconnecting with backoff.
    TcpClient {
        /// `host:port`.
        addr: String,
        /// Limit on one dial (default 10 s).
        dial_timeout: Duration,
        /// Redial when no bytes arrive for this long (default 60 s).
        stall_timeout: Duration,
        /// First reconnect delay (default 1 s).
        backoff_initial: Duration,
        /// Longest reconnect delay (default 60 s).
        backoff_max: Duration,
    },
    /// Accept TCP feeds.
    TcpServer {
        /// Address to bind.
        bind: SocketAddr,
        /// Most connections at once (default 64).
        max_connections: usize,
        /// Most connections from one IP (default 4).
        max_per_peer: usize,
        /// Close a connection that completes no line for this long (default 120 s).
        idle_timeout: Duration,
    },
    /// Receive UDP datagrams.
    Udp {
        /// Address to bind.
        bind: SocketAddr,
        /// Most senders tracked at once (default 256).
        max_peers: usize,
        /// Forget a sender silent this long (default 600 s).
        peer_idle: Duration,
    },
    /// Replay a recorded file.
    File {
        /// File to read (resolved against the config directory).
        path: PathBuf,
        /// Times real time; `None` = as fast as possible.
        speed: Option<f64>,
    },
}

/// An area definition as plain data, in the shape of `lookout_track::areas::AreaSpec` (the
/// tracking crate builds the geometry; relative paths resolve against [`Config::base_dir`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AreaSpec {
    /// Every feature of a GeoJSON file is an area, optionally grown by `within_nm`.
    GeoJson {
        /// The file, as written (relative to [`Config::base_dir`]).
        path: String,
        /// When set, each area is "within this many nautical miles of" its polygons.
        within_nm: Option<f64>,
        /// Id override (a file with several features gets `id:INDEX`).
        id: Option<String>,
        /// Name override.
        name: Option<String>,
        /// The (id, name) of each area the file yields, read at load time for validation.
        areas: Vec<(String, String)>,
    },
    /// A circle.
    Circle {
        /// Stable id.
        id: String,
        /// Display name.
        name: String,
        /// Centre latitude.
        lat: f64,
        /// Centre longitude.
        lon: f64,
        /// Radius in nautical miles.
        radius_nm: f64,
    },
}

impl AreaSpec {
    /// The (id, name) of every area this definition yields.
    pub fn area_names(&self) -> Vec<(String, String)> {
        match self {
            AreaSpec::GeoJson { areas, .. } => areas.clone(),
            AreaSpec::Circle { id, name, .. } => vec![(id.clone(), name.clone())],
        }
    }
}

/// The (id, name) of each feature of a GeoJSON file, with the same rules as the tracker:
/// the feature's `id`, else `properties.id`, else the file stem (`stem:INDEX` when the file
/// has several features); an `id` override replaces it (`id:INDEX` for several).
pub fn geojson_area_names(
    path: &Path,
    id_override: Option<&str>,
    name_override: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    use serde_json::Value;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let root: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid json: {e}", path.display()))?;
    let features: Vec<&Value> = match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => root
            .get("features")
            .and_then(Value::as_array)
            .map(|f| f.iter().collect())
            .ok_or_else(|| {
                format!(
                    "{}: FeatureCollection without a \"features\" array",
                    path.display()
                )
            })?,
        _ => vec![&root],
    };
    if features.is_empty() {
        return Err(format!("{} has no features", path.display()));
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let many = features.len() > 1;
    Ok(features
        .iter()
        .enumerate()
        .map(|(idx, feature)| {
            let props = feature.get("properties");
            let own = feature
                .get("id")
                .and_then(id_of)
                .or_else(|| props.and_then(|p| p.get("id")).and_then(id_of))
                .unwrap_or_else(|| {
                    if many {
                        format!("{stem}:{idx}")
                    } else {
                        stem.clone()
                    }
                });
            let id = match id_override {
                Some(id) if many => format!("{id}:{idx}"),
                Some(id) => id.to_owned(),
                None => own,
            };
            let name = name_override.map(str::to_owned).unwrap_or_else(|| {
                props
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .map_or_else(|| id.clone(), str::to_owned)
            });
            (id, name)
        })
        .collect())
}

/// Outbox settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// Notifications older than this become `expired` (default 48 h).
    pub ttl: Duration,
}

/// Dispatcher settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherSettings {
    /// Concurrent workers (default 4).
    pub workers: u32,
    /// Notifications claimed per batch (default 32).
    pub batch_size: u32,
    /// Lease length (default 60 s).
    pub lease: Duration,
    /// Polling fallback interval (default 5 s).
    pub poll_interval: Duration,
    /// Attempts before a transient failure becomes dead (default 10).
    pub max_attempts: u32,
    /// First retry delay (default 10 s).
    pub backoff_base: Duration,
    /// Largest retry delay (default 1 h).
    pub backoff_max: Duration,
    /// Concurrent sends per channel (default 8 each).
    pub concurrency: BTreeMap<ChannelKind, u32>,
}

/// Digest scheduler settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSettings {
    /// How often the scheduler looks for due digests (default 30 s).
    pub poll_interval: Duration,
    /// Schedule for digest rules that name none.
    pub default_schedule: Option<DigestSchedule>,
}

/// The whole resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file.
    pub path: PathBuf,
    /// Directory relative paths were resolved against.
    pub base_dir: PathBuf,
    /// Store URL (`sqlite:...` or `postgres://...`); default `sqlite://lookout.db`.
    pub store_url: String,
    /// Ops/API listen address; default `127.0.0.1:9090`.
    pub http_listen: SocketAddr,
    /// AIS inputs.
    pub sources: Vec<SourceSpec>,
    /// Area definitions.
    pub areas: Vec<AreaSpec>,
    /// Template overrides directory.
    pub templates_dir: Option<PathBuf>,
    /// SMTP, when email is configured.
    pub smtp: Option<SmtpSettings>,
    /// Webhook/Slack HTTP client settings.
    pub http_client: HttpSettings,
    /// Outbox settings.
    pub outbox: OutboxSettings,
    /// Dispatcher settings.
    pub dispatcher: DispatcherSettings,
    /// Digest settings.
    pub digest: DigestSettings,
    /// Organisations, users, rules, vessels, fleets, webhooks.
    pub model: Model,
}

impl Config {
    /// The shipped templates plus the overrides of `templates_dir`, with every problem found
    /// there: unreadable, misnamed or unparsable files, and templates that fail to render
    /// sample data ([`crate::render::Renderer::self_test`]).
    ///
    /// [`load`] does not include these: `lookout check` should print them and fail, while
    /// `lookout run` should log them and go on, since a broken template fails only the
    /// notifications that use it.
    pub fn renderer(&self) -> (crate::render::Renderer, Vec<crate::render::TemplateProblem>) {
        let mut renderer = crate::render::Renderer::with_defaults();
        let mut problems = match &self.templates_dir {
            Some(dir) => renderer.load_dir(dir),
            None => Vec::new(),
        };
        problems.extend(renderer.self_test().into_iter().map(|err| {
            crate::render::TemplateProblem {
                path: err.template,
                message: err.message,
            }
        }));
        (renderer, problems)
    }
}

/// Loads and validates `path` and the files it names, reporting every problem.
pub fn load(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
    resolve::load(path, env)
}

/// Parses a duration such as `90s`, `5m`, `6h`, `2d`, `1h30m` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration {s:?}: expected e.g. \"30s\", \"5m\", \"6h\", \"1d\", \"1h 30m\"")
    };
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = compact.as_str();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(factor)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_secs(total))
}

/// True when `s` looks like a deliverable email address (one `@`, a dotted domain, no spaces).
pub fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}
