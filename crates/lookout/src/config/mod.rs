//! Configuration files: `lookout.toml` plus the users and rules files it names.
//!
//! This module owns the file format and the checks across files; each stage crate owns the
//! `Deserialize` struct (and the defaults) of what it runs:
//!
//! | table | struct | crate |
//! |---|---|---|
//! | `[store]`, `[outbox]`, `[dispatcher]`, `[digest]` | `StoreConfig`, `OutboxConfig`, `DispatcherOptions`, `DigestConfig` | `lookout_store` |
//! | `[[sources]]` | `SourceOptions` + `TcpClientConfig`/`TcpServerConfig`/`UdpConfig`/`FileConfig` | `lookout_feed::source` |
//! | `[[areas]]` | `AreaSpec` | `lookout_track::areas` |
//! | `[tracker]` | `TrackerOptions` | `lookout_track::config` |
//! | `[smtp]`, `[webhooks.*]`, `[http_client]`, `[destinations]` | `SmtpConfig`, `WebhookConfig`, `HttpSettings`, `DestinationPolicy` | `lookout_notify` |
//! | users and rules files | `raw` structs into `lookout_notify::model` | here |
//!
//! `main_file` reads one table per function (`table` deserializes it with its spans),
//! `users` and `rules` the other two files, `checks` holds the checks they share;
//! `snapshot` and `export` turn the files into the store's model and back (`lookout
//! import`/`export`).
//! Every problem is collected, not just the first, and each names file, line, entry and
//! field:
//!
//! ```text
//! examples/rules.toml:12: rule "nz-fleet": field areas: unknown area "hauraki"
//! ```
//!
//! Adding an option to a stage is one field in that crate's struct; this module changes only
//! when the option needs something from another file or the environment.
//!
//! Secrets never live in the files: `secret_env`, `password_env` and `url_env` name
//! environment variables, read through an injectable [`EnvSource`] so tests stay parallel-safe.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lookout_feed::source::SourceConfig;
use lookout_notify::model::Model;
use lookout_store::{DigestConfig, DispatcherOptions, OutboxConfig, StoreConfig};
use lookout_track::areas::Area;
use serde::de::DeserializeOwned;

mod checks;
mod export;
mod from_store;
mod main_file;
mod object_checks;
mod problems;
mod raw;
mod rules;
mod snapshot;
mod table;
mod users;

pub use export::{ExportError, export};
pub use from_store::{StoredModel, from_store};
pub use object_checks::{FieldProblem, MAX_VERTICES, check_area, check_rule};
pub use problems::{ConfigError, Problem};
pub use snapshot::{area_definition, snapshot};

use problems::{File, Problems};

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

/// The whole configuration, checked: every stage's typed config, ready for
/// [`crate::setup`] to open resources with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file.
    pub path: PathBuf,
    /// Directory relative paths were resolved against.
    pub base_dir: PathBuf,
    /// The users file (organisations, users).
    pub users_file: PathBuf,
    /// The rules file (vessels, fleets, rules).
    pub rules_file: PathBuf,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[http] listen`: the ops/API address (default `127.0.0.1:9090`).
    pub http_listen: SocketAddr,
    /// `[http] rate_limit`: per API token.
    pub api_rate_limit: crate::api::limit::RateLimit,
    /// `[[sources]]`, file paths resolved against [`Config::base_dir`].
    pub sources: Vec<SourceConfig>,
    /// `[[areas]]`, loaded and validated (ids by the tracker's rules).
    pub areas: Vec<Area>,
    /// `[outbox]`.
    pub outbox: OutboxConfig,
    /// `[dispatcher]`.
    pub dispatcher: DispatcherOptions,
    /// `[digest]` (its `default_schedule` is applied to the rules).
    pub digest: DigestConfig,
    /// `[tracker]`.
    pub tracker: lookout_track::config::TrackerOptions,
    /// Templates, channels and the model (users, rules, vessels, fleets, webhooks).
    pub notify: lookout_notify::Config,
    /// `[cluster]`: several instances over NATS JetStream and PostgreSQL (issue 10).
    pub cluster: Option<crate::cluster::ClusterOptions>,
}

/// Loads and validates `path` and the files it names, reporting every problem.
///
/// # Errors
/// Every problem found, each located.
pub fn load(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let Some(main_file) = read(path.to_path_buf(), &mut p) else {
        return Err(ConfigError(p.0));
    };
    let root = match toml::de::DeTable::parse(&main_file.text) {
        Ok(root) => root,
        Err(err) => {
            p.at(
                &main_file,
                err.span().unwrap_or(0..0),
                "",
                "",
                err.message().trim().to_owned(),
            );
            return Err(ConfigError(p.0));
        }
    };
    let root = toml::Spanned::new(root.span(), toml::de::DeValue::Table(root.into_inner()));
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let main = main_file::main(&mut p, &main_file, root, &base_dir, env);
    let users = main
        .users
        .clone()
        .and_then(|f| read_and_parse::<raw::RawUsersFile>(f, &mut p));
    let rules = main
        .rules
        .clone()
        .and_then(|f| read_and_parse::<raw::RawRulesFile>(f, &mut p));
    // A users or rules file that did not parse would make every reference to it a problem.
    if (main.users.is_some() && users.is_none()) || (main.rules.is_some() && rules.is_none()) {
        return Err(ConfigError(p.0));
    }
    let mut model = Model {
        areas: main.areas.iter().map(|a| a.id.clone()).collect(),
        webhooks: main.webhooks,
        ..Model::default()
    };
    if let Some((file, raw)) = users {
        let cx = users::UsersCx {
            env,
            base_dir: &base_dir,
            smtp_configured: main.smtp.is_some(),
        };
        users::users(&mut p, &file, raw, &cx, &mut model);
    }
    if let Some((file, raw)) = rules {
        rules::rules(&mut p, &file, raw, main.default_schedule, &mut model);
    }
    if !p.is_empty() {
        return Err(ConfigError(p.0));
    }
    Ok(Config {
        path: path.to_path_buf(),
        base_dir,
        users_file: main.users.unwrap_or_default(),
        rules_file: main.rules.unwrap_or_default(),
        store: main.store,
        http_listen: main.http_listen,
        api_rate_limit: main.api_rate_limit,
        sources: main.sources,
        areas: main.areas,
        outbox: main.outbox,
        dispatcher: main.dispatcher,
        digest: main.digest,
        tracker: main.tracker,
        cluster: main.cluster,
        notify: lookout_notify::Config {
            templates_dir: main.templates_dir,
            smtp: main.smtp,
            http_client: main.http_client,
            destinations: main.destinations,
            model,
        },
    })
}

fn read(display: PathBuf, p: &mut Problems) -> Option<File> {
    match std::fs::read_to_string(&display) {
        Ok(text) => Some(File { display, text }),
        Err(err) => {
            p.file(&display, format!("cannot read file: {err}"));
            None
        }
    }
}

/// A users or rules file, read and deserialized whole (syntax, types, unknown keys).
fn read_and_parse<T: DeserializeOwned>(display: PathBuf, p: &mut Problems) -> Option<(File, T)> {
    let file = read(display, p)?;
    match toml::from_str::<T>(&file.text) {
        Ok(parsed) => Some((file, parsed)),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            p.at(&file, span, "", "", err.message().trim().to_owned());
            None
        }
    }
}
