//! `lookout.toml`, one function per table, each deserializing into the struct of the crate
//! that runs it: `[store]`, `[outbox]`, `[dispatcher]`, `[digest]` into `lookout_store`;
//! `[[sources]]` into `lookout_feed`; `[[areas]]` into `lookout_track`; `[smtp]`,
//! `[webhooks.*]`, `[http_client]` into `lookout_notify`. What is left here is what spans
//! files or tables: paths against the config directory, secrets from the environment, the
//! area ids the rules may name, and keys that moved.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lookout_feed::source::{SourceConfig, SourceKind, SourceOptions};
use lookout_notify::channels::{DestinationPolicy, HttpSettings, SmtpSettings};
use lookout_notify::config::{SmtpConfig, WebhookConfig};
use lookout_notify::model::{DigestSchedule, WebhookEndpoint};
use lookout_store::{DigestConfig, DispatcherOptions, OutboxConfig, StoreConfig};
use lookout_track::areas::{self, Area, AreaProblem, AreaSpec, ProblemKind};
use lookout_track::config::TrackerOptions;
use serde::Deserialize;

use super::EnvSource;
use super::checks::At;
use super::problems::{File, Problems};
use super::table::{self, Value, as_str, span_of, split_off, take, typed, typed_with};

/// Keys that were accepted once and are gone, with what to use instead. A config that still
/// has one is a problem saying so, rather than an option silently ignored.
const MOVED: &[(&str, &str, &str)] = &[(
    "dispatcher",
    "workers",
    "no longer used: the dispatcher runs one claim loop and never read it; limit concurrent sends per channel with concurrency = { email = 8, webhook = 8, slack = 8, maildir = 8 } instead",
)];

/// `[http]`: the ops/API listener.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HttpTable {
    /// Default `127.0.0.1:9090`.
    #[serde(deserialize_with = "lookout_core::config::socket_addr")]
    listen: SocketAddr,
    /// Per API token: `{ per_second = 50, burst = 200 }`.
    rate_limit: crate::api::limit::RateLimit,
}

impl Default for HttpTable {
    fn default() -> Self {
        HttpTable {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            rate_limit: crate::api::limit::RateLimit::default(),
        }
    }
}

/// The main file's tables, resolved (the users and rules files come next).
pub(crate) struct Main {
    pub(crate) users: Option<PathBuf>,
    pub(crate) rules: Option<PathBuf>,
    pub(crate) templates_dir: Option<PathBuf>,
    pub(crate) store: StoreConfig,
    pub(crate) http_listen: SocketAddr,
    pub(crate) api_rate_limit: crate::api::limit::RateLimit,
    pub(crate) sources: Vec<SourceConfig>,
    pub(crate) areas: Vec<Area>,
    pub(crate) smtp: Option<SmtpSettings>,
    pub(crate) webhooks: BTreeMap<String, WebhookEndpoint>,
    pub(crate) http_client: HttpSettings,
    pub(crate) destinations: DestinationPolicy,
    pub(crate) outbox: OutboxConfig,
    pub(crate) dispatcher: DispatcherOptions,
    pub(crate) digest: DigestConfig,
    pub(crate) tracker: TrackerOptions,
    pub(crate) default_schedule: Option<DigestSchedule>,
    pub(crate) cluster: Option<crate::cluster::ClusterOptions>,
}

/// Reads every table of the main file; `root` is the whole document.
pub(crate) fn main(
    problems: &mut Problems,
    f: &File,
    root: Value<'_>,
    base_dir: &Path,
    env: &dyn EnvSource,
) -> Main {
    let mut p = Problems::default();
    let main = tables(&mut p, f, root, base_dir, env);
    // Tables are read in dependency order; report in file order.
    p.0.sort_by_key(|problem| problem.line);
    problems.0.append(&mut p.0);
    main
}

fn tables(
    p: &mut Problems,
    f: &File,
    mut root: Value<'_>,
    base_dir: &Path,
    env: &dyn EnvSource,
) -> Main {
    moved_keys(p, f, &mut root);
    let mut t = |key: &str| take(&mut root, key);
    let (users, rules, templates) = (t("users"), t("rules"), t("templates"));
    let (store, http, sources, areas) = (t("store"), t("http"), t("sources"), t("areas"));
    let (smtp, webhooks, http_client) = (t("smtp"), t("webhooks"), t("http_client"));
    let (outbox, dispatcher, digest) = (t("outbox"), t("dispatcher"), t("digest"));
    let (tracker, cluster, destinations) = (t("tracker"), t("cluster"), t("destinations"));
    for (key, value) in table::entries(&root).unwrap_or_default() {
        p.at(f, value.span(), "", &key, format!("unknown key `{key}`: expected users, rules, templates, store, http, sources, areas, smtp, webhooks, http_client, destinations, outbox, dispatcher, digest, tracker or cluster"));
    }
    let (digest, default_schedule) = self::digest(p, f, digest);
    let store = self::store(p, f, store.as_ref(), env);
    let cluster = cluster.and_then(|v| self::cluster(p, f, &v, &store));
    let http_table: HttpTable = or_default(p, f, "[http]", http.as_ref());
    Main {
        users: file_name(p, f, users.as_ref(), "users", base_dir),
        rules: file_name(p, f, rules.as_ref(), "rules", base_dir),
        templates_dir: self::templates(p, f, templates.as_ref(), base_dir),
        store,
        http_listen: http_table.listen,
        api_rate_limit: http_table.rate_limit,
        sources: self::sources(p, f, sources.as_ref(), base_dir),
        areas: self::areas(p, f, areas.as_ref(), base_dir),
        smtp: smtp.and_then(|v| self::smtp(p, f, &v, env)),
        webhooks: self::webhooks(p, f, webhooks.as_ref(), env),
        http_client: or_default(p, f, "[http_client]", http_client.as_ref()),
        destinations: or_default(p, f, "[destinations]", destinations.as_ref()),
        outbox: or_default(p, f, "[outbox]", outbox.as_ref()),
        dispatcher: or_default(p, f, "[dispatcher]", dispatcher.as_ref()),
        digest,
        tracker: or_default(p, f, "[tracker]", tracker.as_ref()),
        default_schedule,
        cluster,
    }
}

/// `[cluster]`: the options, each problem at its key, and PostgreSQL required (the partition
/// leases and checkpoints live there).
fn cluster(
    p: &mut Problems,
    f: &File,
    value: &Value<'_>,
    store: &StoreConfig,
) -> Option<crate::cluster::ClusterOptions> {
    let entry = "[cluster]";
    let options: crate::cluster::ClusterOptions = typed(p, f, entry, value)?;
    let mut ok = true;
    for (field, problem) in options.problems() {
        let span = span_of(value, field).unwrap_or_else(|| value.span());
        p.at(f, span, entry, field, problem);
        ok = false;
    }
    if !store.url.starts_with("postgres") {
        p.at(
            f,
            value.span(),
            entry,
            "",
            "needs a PostgreSQL store ([store] url = \"postgres://…\"): the partition leases and checkpoints live there".to_owned(),
        );
        ok = false;
    }
    ok.then_some(options)
}

/// `[store]`, with `url_env` read from the environment into `url` (exactly one of the two).
/// The variable's value is never echoed: a PostgreSQL URL carries a password.
fn store(
    p: &mut Problems,
    f: &File,
    value: Option<&Value<'_>>,
    env: &dyn EnvSource,
) -> StoreConfig {
    let mut config: StoreConfig = or_default(p, f, "[store]", value);
    let (Some(var), Some(value)) = (config.url_env.clone(), value) else {
        return config;
    };
    let span = span_of(value, "url_env").unwrap_or_else(|| value.span());
    let mut at = At {
        p,
        f,
        entry: "[store]",
    };
    if let Some(url_span) = span_of(value, "url") {
        at.problem(url_span, "url", "set one of url and url_env".into());
        return config;
    }
    if let Some(url) = at.env_var(env, "url_env", &var, span.clone(), true) {
        if lookout_store::is_store_url(&url) {
            config.url = url;
        } else {
            at.problem(
                span,
                "url_env",
                format!("environment variable {var} does not hold a store url: expected sqlite:... or postgres://..."),
            );
        }
    }
    config
}

/// A table into `T`, or `T::default()` when absent (or broken: the problem is reported).
fn or_default<T: serde::de::DeserializeOwned + Default>(
    p: &mut Problems,
    f: &File,
    entry: &str,
    value: Option<&Value<'_>>,
) -> T {
    value
        .and_then(|v| typed(p, f, entry, v))
        .unwrap_or_default()
}

/// Reports (and removes) every key of [`MOVED`].
fn moved_keys(p: &mut Problems, f: &File, root: &mut Value<'_>) {
    let toml::de::DeValue::Table(top) = root.get_mut() else {
        return;
    };
    for (table, key, hint) in MOVED {
        if let Some(value) = top.get_mut(*table)
            && let Some(old) = take(value, key)
        {
            p.at(
                f,
                old.span(),
                &format!("[{table}]"),
                key,
                (*hint).to_owned(),
            );
        }
    }
}

/// `users = "users.toml"` / `rules = "rules.toml"`: required, relative to the config.
fn file_name(
    p: &mut Problems,
    f: &File,
    value: Option<&Value<'_>>,
    key: &str,
    base_dir: &Path,
) -> Option<PathBuf> {
    let Some(value) = value else {
        p.at(
            f,
            0..0,
            "",
            key,
            format!("missing: name the {key} file, e.g. {key} = \"{key}.toml\""),
        );
        return None;
    };
    typed::<String>(p, f, "", value).map(|name| base_dir.join(name))
}

fn templates(
    p: &mut Problems,
    f: &File,
    value: Option<&Value<'_>>,
    base_dir: &Path,
) -> Option<PathBuf> {
    let value = value?;
    let dir = base_dir.join(typed::<String>(p, f, "", value)?);
    if !dir.is_dir() {
        p.at(
            f,
            value.span(),
            "",
            "templates",
            format!("directory {} does not exist", dir.display()),
        );
    }
    Some(dir)
}

/// `[[sources]]`: a `kind`, the [`SourceOptions`] and that kind's own options.
fn sources(
    p: &mut Problems,
    f: &File,
    value: Option<&Value<'_>>,
    base_dir: &Path,
) -> Vec<SourceConfig> {
    let mut sources = Vec::new();
    for (idx, source) in array(p, f, "sources", value).iter().enumerate() {
        let mut rest = source.clone();
        let common = split_off(&mut rest, SourceOptions::FIELDS);
        let label = as_str_key(&common, "name").unwrap_or_else(|| format!("source-{}", idx + 1));
        let entry = format!("source {label:?}");
        let options = typed::<SourceOptions>(p, f, &entry, &common);
        let Some(kind_value) = take(&mut rest, "kind") else {
            p.at(f, source.span(), &entry, "kind", "missing".into());
            continue;
        };
        let Some(kind_name) = typed::<String>(p, f, &entry, &kind_value) else {
            continue;
        };
        let fallback = Some(("kind", kind_value.span()));
        let kind = typed_with(p, f, &entry, &rest, fallback, |d| {
            SourceKind::deserialize_kind(&kind_name, d)
        });
        let (Some(options), Some(mut kind)) = (options, kind) else {
            continue;
        };
        if let SourceKind::File(file) = &mut kind {
            file.path = base_dir.join(&file.path);
            if !file.path.is_file() {
                let span = span_of(source, "path").unwrap_or_else(|| source.span());
                p.at(
                    f,
                    span,
                    &entry,
                    "path",
                    format!("file {} does not exist", file.path.display()),
                );
            }
        }
        sources.push(SourceConfig::from_options(options, kind, || label.clone()));
    }
    sources
}

/// `[[areas]]`: each definition loaded by the tracker's own loader (the one set of id rules),
/// its problems located at the definition.
fn areas(p: &mut Problems, f: &File, value: Option<&Value<'_>>, base_dir: &Path) -> Vec<Area> {
    let mut areas: Vec<Area> = Vec::new();
    let mut ids = BTreeSet::new();
    for area in array(p, f, "areas", value) {
        let label = as_str_key(area, "id")
            .or_else(|| as_str_key(area, "path"))
            .unwrap_or_else(|| "?".to_owned());
        let entry = format!("area {label:?}");
        let Some(spec) = typed::<AreaSpec>(p, f, &entry, area) else {
            continue;
        };
        match areas::load_specs(std::slice::from_ref(&spec), base_dir) {
            Ok(loaded) => {
                for a in loaded {
                    if !ids.insert(a.id.clone()) {
                        p.at(
                            f,
                            area.span(),
                            &entry,
                            "id",
                            format!("duplicate area id {:?}", a.id),
                        );
                    }
                    areas.push(a);
                }
            }
            Err(errors) => {
                for problem in errors.problems() {
                    let field = area_field(problem);
                    let span = span_of(area, field).unwrap_or_else(|| area.span());
                    p.at(f, span, &entry, field, problem.to_string());
                }
            }
        }
    }
    areas
}

/// The configuration key an area problem is about.
fn area_field(problem: &AreaProblem) -> &'static str {
    match (&problem.kind, problem.source.as_str()) {
        (ProblemKind::BadDistance(_), "config") => "radius_nm",
        (ProblemKind::BadDistance(_), _) => "within_nm",
        (ProblemKind::BadCoordinate { lat, .. }, "config") if lat.abs() > 90.0 => "lat",
        (ProblemKind::BadCoordinate { .. }, "config") => "lon",
        (_, "config") => "id",
        _ => "path",
    }
}

fn smtp(
    p: &mut Problems,
    f: &File,
    value: &Value<'_>,
    env: &dyn EnvSource,
) -> Option<SmtpSettings> {
    let entry = "[smtp]";
    let smtp: SmtpConfig = typed(p, f, entry, value)?;
    let mut at = At { p, f, entry };
    let password = smtp.password_env.as_ref().and_then(|var| {
        let span = span_of(value, "password_env").unwrap_or_else(|| value.span());
        at.env_var(env, "password_env", var, span, false)
    });
    if password.is_some() && smtp.username.is_none() {
        at.problem(
            value.span(),
            "username",
            "missing (password_env is set)".into(),
        );
    }
    Some(smtp.into_settings(password))
}

fn webhooks(
    p: &mut Problems,
    f: &File,
    value: Option<&Value<'_>>,
    env: &dyn EnvSource,
) -> BTreeMap<String, WebhookEndpoint> {
    let mut webhooks = BTreeMap::new();
    let Some(value) = value else {
        return webhooks;
    };
    let Some(entries) = table::entries(value) else {
        p.at(
            f,
            value.span(),
            "",
            "webhooks",
            "expected a table of [webhooks.<name>]".into(),
        );
        return webhooks;
    };
    for (name, hook) in entries {
        let entry = format!("webhook {name:?}");
        let Some(config) = typed::<WebhookConfig>(p, f, &entry, hook) else {
            continue;
        };
        let mut at = At {
            p,
            f,
            entry: &entry,
        };
        let secret = match &config.secret_env {
            Some(var) => {
                let span = span_of(hook, "secret_env").unwrap_or_else(|| hook.span());
                at.env_var(env, "secret_env", var, span, true)
            }
            None => {
                at.problem(hook.span(), "secret_env", "missing: every webhook is signed; name the environment variable holding its secret".into());
                None
            }
        };
        webhooks.insert(
            name.clone(),
            WebhookEndpoint {
                name,
                url: config.url,
                secret: secret.map(String::into_bytes).unwrap_or_default(),
            },
        );
    }
    webhooks
}

/// `[digest]`: the scheduler's table, and `default_schedule`, a rules setting.
fn digest(
    p: &mut Problems,
    f: &File,
    value: Option<Value<'_>>,
) -> (DigestConfig, Option<DigestSchedule>) {
    let Some(mut value) = value else {
        return (DigestConfig::default(), None);
    };
    let entry = "[digest]";
    let default_schedule = take(&mut value, "default_schedule").and_then(|s| {
        let fallback = Some(("default_schedule", s.span()));
        typed_with(p, f, entry, &s, fallback, |d| {
            let text = String::deserialize(d)?;
            DigestSchedule::parse(&text).map_err(serde::de::Error::custom)
        })
    });
    (or_default(p, f, entry, Some(&value)), default_schedule)
}

/// The elements of an array of tables (`[[sources]]`); a problem when it is something else.
fn array<'a, 'i>(
    p: &mut Problems,
    f: &File,
    key: &str,
    value: Option<&'a Value<'i>>,
) -> &'a [Value<'i>] {
    let Some(value) = value else {
        return &[];
    };
    table::elements(value).unwrap_or_else(|| {
        p.at(
            f,
            value.span(),
            "",
            key,
            format!("expected an array of tables: [[{key}]]"),
        );
        &[]
    })
}

/// The string value of `key` in a table, when it is a string.
fn as_str_key(value: &Value<'_>, key: &str) -> Option<String> {
    match value.get_ref() {
        toml::de::DeValue::Table(t) => t.get(key).and_then(as_str).map(str::to_owned),
        _ => None,
    }
}
