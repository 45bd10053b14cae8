//! Stage two: check meaning across files and build the ready [`Config`].
//!
//! Every check pushes a located [`Problem`] and carries on, so one run reports everything.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
use lookout_core::{ChannelKind, EventKind};
use serde::de::DeserializeOwned;

use super::raw::{RawMain, RawRulesFile, RawUsersFile, S};
use super::{
    AreaSpec, Config, ConfigError, DigestSettings, DispatcherSettings, EnvSource, OutboxSettings,
    Problem, SourceKindSpec, SourceSpec, geojson_area_names, parse_duration, plausible_email,
};
use crate::channels::{HttpSettings, SmtpSecurity, SmtpSettings};
use crate::model::{
    DeliveryMode, DigestSchedule, Fleet, Model, Organisation, Rule, User, UserChannel, Vessel,
    VesselSelector, WebhookEndpoint,
};

struct File {
    display: PathBuf,
    text: String,
}

impl File {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn at(&mut self, file: &File, span: Range<usize>, entry: &str, field: &str, message: String) {
        self.0.push(Problem {
            file: file.display.clone(),
            line: file.line(&span),
            entry: entry.to_owned(),
            field: field.to_owned(),
            message,
        });
    }

    fn file(&mut self, path: &Path, message: String) {
        self.0.push(Problem {
            file: path.to_path_buf(),
            line: 0,
            entry: String::new(),
            field: String::new(),
            message,
        });
    }
}

fn read_and_parse<T: DeserializeOwned>(
    display: PathBuf,
    problems: &mut Problems,
) -> Option<(File, T)> {
    let text = match std::fs::read_to_string(&display) {
        Ok(text) => text,
        Err(err) => {
            problems.file(&display, format!("cannot read file: {err}"));
            return None;
        }
    };
    let file = File { display, text };
    match toml::from_str::<T>(&file.text) {
        Ok(parsed) => Some((file, parsed)),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let message = err.message().trim().to_owned();
            problems.at(&file, span, "", "", message);
            None
        }
    }
}

fn duration(
    problems: &mut Problems,
    file: &File,
    entry: &str,
    field: &str,
    value: &Option<S<String>>,
    default: Duration,
) -> Duration {
    match value {
        None => default,
        Some(v) => match parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.at(
                    file,
                    v.span(),
                    entry,
                    field,
                    "must be greater than zero".into(),
                );
                default
            }
            Err(msg) => {
                problems.at(file, v.span(), entry, field, msg);
                default
            }
        },
    }
}

pub(super) fn load(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();
    let Some((main_file, main)) = read_and_parse::<RawMain>(path.to_path_buf(), &mut problems)
    else {
        return Err(ConfigError(problems.0));
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let users = match &main.users {
        Some(p) => read_and_parse::<RawUsersFile>(base_dir.join(p.get_ref()), &mut problems),
        None => None,
    };
    let rules = match &main.rules {
        Some(p) => read_and_parse::<RawRulesFile>(base_dir.join(p.get_ref()), &mut problems),
        None => None,
    };
    if !problems.0.is_empty() {
        return Err(ConfigError(problems.0));
    }

    let mut cx = Resolver {
        problems,
        env,
        base_dir: base_dir.clone(),
        model: Model::default(),
    };
    let mut config = cx.main(&main_file, main, path);
    if let Some((file, raw)) = users {
        cx.users(&file, raw, config.smtp.is_some());
    }
    if let Some((file, raw)) = rules {
        cx.rules(&file, raw, config.digest.default_schedule);
    }
    if !cx.problems.0.is_empty() {
        return Err(ConfigError(cx.problems.0));
    }
    config.model = cx.model;
    Ok(config)
}

struct Resolver<'a> {
    problems: Problems,
    env: &'a dyn EnvSource,
    base_dir: PathBuf,
    model: Model,
}

impl Resolver<'_> {
    fn main(&mut self, f: &File, raw: RawMain, path: &Path) -> Config {
        let p = &mut self.problems;
        let store_url = match &raw.store {
            Some(store) => {
                let url = store.url.get_ref();
                if !(url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"))
                {
                    p.at(
                        f,
                        store.url.span(),
                        "[store]",
                        "url",
                        format!(
                            "unsupported store url {url:?}: expected sqlite:... or postgres://..."
                        ),
                    );
                }
                url.clone()
            }
            None => "sqlite://lookout.db".to_owned(),
        };
        let default_listen = SocketAddr::from(([127, 0, 0, 1], 9090));
        let http_listen = match &raw.http {
            Some(http) => http.listen.get_ref().parse().unwrap_or_else(|e| {
                p.at(
                    f,
                    http.listen.span(),
                    "[http]",
                    "listen",
                    format!("invalid address {:?}: {e}", http.listen.get_ref()),
                );
                default_listen
            }),
            None => default_listen,
        };

        let mut sources = Vec::new();
        for (idx, source) in raw.sources.iter().enumerate() {
            let s = source.get_ref();
            let name = s
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_else(|| format!("source-{}", idx + 1));
            let entry = format!("source {name:?}");
            let secs = Duration::from_secs;
            let count = |p: &mut Problems, v: &Option<S<u32>>, field: &str, default: usize| match v
            {
                Some(v) if *v.get_ref() == 0 => {
                    p.at(f, v.span(), &entry, field, "must be at least 1".into());
                    default
                }
                Some(v) => *v.get_ref() as usize,
                None => default,
            };
            let listen = |p: &mut Problems| -> Option<SocketAddr> {
                let Some(v) = &s.listen else {
                    p.at(f, source.span(), &entry, "listen", "missing".into());
                    return None;
                };
                match v.get_ref().parse() {
                    Ok(a) => Some(a),
                    Err(e) => {
                        p.at(
                            f,
                            v.span(),
                            &entry,
                            "listen",
                            format!("invalid address {:?}: {e}", v.get_ref()),
                        );
                        None
                    }
                }
            };
            let max_line = count(p, &s.max_line, "max_line", 1024);
            let kind = match s.kind.get_ref().as_str() {
                "tcp_client" => {
                    let Some(addr) = &s.addr else {
                        p.at(f, source.span(), &entry, "addr", "missing".into());
                        continue;
                    };
                    SourceKindSpec::TcpClient {
                        addr: addr.get_ref().clone(),
                        dial_timeout: duration(
                            p,
                            f,
                            &entry,
                            "dial_timeout",
                            &s.dial_timeout,
                            secs(10),
                        ),
                        stall_timeout: duration(
                            p,
                            f,
                            &entry,
                            "stall_timeout",
                            &s.stall_timeout,
                            secs(60),
                        ),
                        backoff_initial: duration(
                            p,
                            f,
                            &entry,
                            "backoff_initial",
                            &s.backoff_initial,
                            secs(1),
                        ),
                        backoff_max: duration(
                            p,
                            f,
                            &entry,
                            "backoff_max",
                            &s.backoff_max,
                            secs(60),
                        ),
                    }
                }
                "tcp_server" => {
                    let Some(bind) = listen(p) else { continue };
                    SourceKindSpec::TcpServer {
                        bind,
                        max_connections: count(p, &s.max_connections, "max_connections", 64),
                        max_per_peer: count(p, &s.max_per_peer, "max_per_peer", 4),
                        idle_timeout: duration(
                            p,
                            f,
                            &entry,
                            "idle_timeout",
                            &s.idle_timeout,
                            secs(120),
                        ),
                    }
                }
                "udp" => {
                    let Some(bind) = listen(p) else { continue };
                    SourceKindSpec::Udp {
                        bind,
                        max_peers: count(p, &s.max_peers, "max_peers", 256),
                        peer_idle: duration(p, f, &entry, "peer_idle", &s.peer_idle, secs(600)),
                    }
                }
                "file" => {
                    let Some(rel) = &s.path else {
                        p.at(f, source.span(), &entry, "path", "missing".into());
                        continue;
                    };
                    let path = self.base_dir.join(rel.get_ref());
                    if !path.is_file() {
                        p.at(
                            f,
                            rel.span(),
                            &entry,
                            "path",
                            format!("file {} does not exist", path.display()),
                        );
                    }
                    let speed = s.speed.as_ref().map(|x| {
                        let v = *x.get_ref();
                        if !(v > 0.0 && v.is_finite()) {
                            p.at(f, x.span(), &entry, "speed", format!("speed {v} must be greater than zero (omit it for as fast as possible)"));
                        }
                        v
                    });
                    SourceKindSpec::File { path, speed }
                }
                other => {
                    p.at(
                        f,
                        s.kind.span(),
                        &entry,
                        "kind",
                        format!("unknown source kind {other:?}: expected tcp_client, tcp_server, udp or file"),
                    );
                    continue;
                }
            };
            sources.push(SourceSpec {
                name,
                max_line,
                kind,
            });
        }

        let mut areas = Vec::new();
        let mut area_spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
        for area in &raw.areas {
            let a = area.get_ref();
            let label =
                a.id.as_ref()
                    .map(|i| i.get_ref().clone())
                    .or_else(|| a.path.as_ref().map(|x| x.get_ref().clone()))
                    .unwrap_or_else(|| "?".to_owned());
            let entry = format!("area {label:?}");
            let num = |p: &mut Problems,
                       v: &Option<S<f64>>,
                       field: &str,
                       ok: &dyn Fn(f64) -> bool,
                       what: &str|
             -> f64 {
                match v {
                    Some(v) if ok(*v.get_ref()) => *v.get_ref(),
                    Some(v) => {
                        p.at(
                            f,
                            v.span(),
                            &entry,
                            field,
                            format!("{} {what}", v.get_ref()),
                        );
                        0.0
                    }
                    None => {
                        p.at(f, area.span(), &entry, field, "missing".into());
                        0.0
                    }
                }
            };
            let spec = match a.kind.get_ref().as_str() {
                "geojson" => {
                    let Some(file) = &a.path else {
                        p.at(f, area.span(), &entry, "path", "missing".into());
                        continue;
                    };
                    let within_nm = a.within_nm.as_ref().map(|_| {
                        num(
                            p,
                            &a.within_nm,
                            "within_nm",
                            &|x| x > 0.0 && x.is_finite(),
                            "must be greater than zero",
                        )
                    });
                    let id = a.id.as_ref().map(|i| i.get_ref().clone());
                    let name = a.name.as_ref().map(|n| n.get_ref().clone());
                    match geojson_area_names(
                        &self.base_dir.join(file.get_ref()),
                        id.as_deref(),
                        name.as_deref(),
                    ) {
                        Ok(names) => AreaSpec::GeoJson {
                            path: file.get_ref().clone(),
                            within_nm,
                            id,
                            name,
                            areas: names,
                        },
                        Err(msg) => {
                            p.at(f, file.span(), &entry, "path", msg);
                            continue;
                        }
                    }
                }
                "circle" => {
                    let Some(id) = &a.id else {
                        p.at(f, area.span(), &entry, "id", "missing".into());
                        continue;
                    };
                    let lat = num(
                        p,
                        &a.lat,
                        "lat",
                        &|x| (-90.0..=90.0).contains(&x),
                        "is not a latitude (-90..90)",
                    );
                    let lon = num(
                        p,
                        &a.lon,
                        "lon",
                        &|x| (-180.0..=180.0).contains(&x),
                        "is not a longitude (-180..180)",
                    );
                    let radius_nm = num(
                        p,
                        &a.radius_nm,
                        "radius_nm",
                        &|x| x > 0.0 && x.is_finite(),
                        "must be greater than zero",
                    );
                    AreaSpec::Circle {
                        id: id.get_ref().clone(),
                        name: a
                            .name
                            .as_ref()
                            .map_or_else(|| id.get_ref().clone(), |n| n.get_ref().clone()),
                        lat,
                        lon,
                        radius_nm,
                    }
                }
                other => {
                    p.at(
                        f,
                        a.kind.span(),
                        &entry,
                        "kind",
                        format!("unknown area kind {other:?}: expected geojson or circle"),
                    );
                    continue;
                }
            };
            for (id, _) in spec.area_names() {
                if area_spans.insert(id.clone(), area.span()).is_some() {
                    p.at(
                        f,
                        area.span(),
                        &entry,
                        "id",
                        format!("duplicate area id {id:?}"),
                    );
                }
            }
            areas.push(spec);
        }
        self.model.areas = area_spans.keys().cloned().collect();

        let smtp = raw.smtp.as_ref().map(|smtp| {
            let s = smtp.get_ref();
            let entry = "[smtp]";
            let security = match s.security.as_ref().map(|x| x.get_ref().as_str()) {
                None | Some("starttls") => SmtpSecurity::Starttls,
                Some("tls") => SmtpSecurity::Tls,
                Some("none") => SmtpSecurity::None,
                Some(other) => {
                    let span = s.security.as_ref().map(|x| x.span()).unwrap_or_default();
                    p.at(
                        f,
                        span,
                        entry,
                        "security",
                        format!("unknown security {other:?}: expected none, starttls or tls"),
                    );
                    SmtpSecurity::Starttls
                }
            };
            let port = s.port.as_ref().map_or(
                match security {
                    SmtpSecurity::None => 25,
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::Tls => 465,
                },
                |x| *x.get_ref(),
            );
            let password = s.password_env.as_ref().and_then(|var| {
                let value = self.env.var(var.get_ref());
                if value.is_none() {
                    p.at(
                        f,
                        var.span(),
                        entry,
                        "password_env",
                        format!("environment variable {} is not set", var.get_ref()),
                    );
                }
                value
            });
            if password.is_some() && s.username.is_none() {
                p.at(
                    f,
                    smtp.span(),
                    entry,
                    "username",
                    "missing (password_env is set)".into(),
                );
            }
            let from = s.from.get_ref().clone();
            let address = from
                .rsplit_once('<')
                .map_or(from.as_str(), |(_, a)| a.trim_end_matches('>'))
                .trim();
            if !plausible_email(address) {
                p.at(
                    f,
                    s.from.span(),
                    entry,
                    "from",
                    format!("implausible email address {from:?}"),
                );
            }
            let domain = address
                .rsplit_once('@')
                .map_or("lookout.invalid", |(_, d)| d)
                .to_owned();
            SmtpSettings {
                host: s.host.get_ref().clone(),
                port,
                security,
                username: s.username.as_ref().map(|u| u.get_ref().clone()),
                password,
                from,
                message_id_domain: s
                    .message_id_domain
                    .as_ref()
                    .map_or(domain, |d| d.get_ref().clone()),
                connect_timeout: duration(
                    p,
                    f,
                    entry,
                    "connect_timeout",
                    &s.connect_timeout,
                    Duration::from_secs(10),
                ),
                total_timeout: duration(
                    p,
                    f,
                    entry,
                    "total_timeout",
                    &s.total_timeout,
                    Duration::from_secs(60),
                ),
            }
        });

        for (name, hook) in &raw.webhooks {
            let h = hook.get_ref();
            let entry = format!("webhook {name:?}");
            let url = h.url.get_ref();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                p.at(
                    f,
                    h.url.span(),
                    &entry,
                    "url",
                    format!("invalid url {url:?}: expected http:// or https://"),
                );
            }
            let secret = match &h.secret_env {
                Some(var) => match self.env.var(var.get_ref()) {
                    Some(v) if !v.is_empty() => v.into_bytes(),
                    _ => {
                        p.at(
                            f,
                            var.span(),
                            &entry,
                            "secret_env",
                            format!("environment variable {} is not set", var.get_ref()),
                        );
                        Vec::new()
                    }
                },
                None => {
                    p.at(f, hook.span(), &entry, "secret_env", "missing: every webhook is signed; name the environment variable holding its secret".into());
                    Vec::new()
                }
            };
            self.model.webhooks.insert(
                name.clone(),
                WebhookEndpoint {
                    name: name.clone(),
                    url: url.clone(),
                    secret,
                },
            );
        }

        let http_defaults = HttpSettings::default();
        let http_client = match &raw.http_client {
            Some(h) => HttpSettings {
                connect_timeout: duration(
                    p,
                    f,
                    "[http_client]",
                    "connect_timeout",
                    &h.connect_timeout,
                    http_defaults.connect_timeout,
                ),
                total_timeout: duration(
                    p,
                    f,
                    "[http_client]",
                    "total_timeout",
                    &h.total_timeout,
                    http_defaults.total_timeout,
                ),
            },
            None => http_defaults,
        };
        let outbox = OutboxSettings {
            ttl: raw
                .outbox
                .as_ref()
                .map_or(Duration::from_secs(48 * 3600), |o| {
                    duration(
                        p,
                        f,
                        "[outbox]",
                        "ttl",
                        &o.ttl,
                        Duration::from_secs(48 * 3600),
                    )
                }),
        };
        let mut dispatcher = DispatcherSettings {
            workers: 4,
            batch_size: 32,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            max_attempts: 10,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            concurrency: ChannelKind::ALL.into_iter().map(|k| (k, 8)).collect(),
        };
        if let Some(d) = &raw.dispatcher {
            let entry = "[dispatcher]";
            let positive = |p: &mut Problems, v: &Option<S<u32>>, field: &str, default: u32| match v
            {
                Some(v) if *v.get_ref() == 0 => {
                    p.at(f, v.span(), entry, field, "must be at least 1".into());
                    default
                }
                Some(v) => *v.get_ref(),
                None => default,
            };
            dispatcher.workers = positive(p, &d.workers, "workers", dispatcher.workers);
            dispatcher.batch_size = positive(p, &d.batch_size, "batch_size", dispatcher.batch_size);
            dispatcher.max_attempts =
                positive(p, &d.max_attempts, "max_attempts", dispatcher.max_attempts);
            dispatcher.lease = duration(p, f, entry, "lease", &d.lease, dispatcher.lease);
            dispatcher.poll_interval = duration(
                p,
                f,
                entry,
                "poll_interval",
                &d.poll_interval,
                dispatcher.poll_interval,
            );
            dispatcher.backoff_base = duration(
                p,
                f,
                entry,
                "backoff_base",
                &d.backoff_base,
                dispatcher.backoff_base,
            );
            dispatcher.backoff_max = duration(
                p,
                f,
                entry,
                "backoff_max",
                &d.backoff_max,
                dispatcher.backoff_max,
            );
            for (kind, limit) in &d.concurrency {
                match ChannelKind::parse(kind) {
                    Some(k) if *limit.get_ref() > 0 => {
                        dispatcher.concurrency.insert(k, *limit.get_ref());
                    }
                    Some(_) => p.at(
                        f,
                        limit.span(),
                        entry,
                        &format!("concurrency.{kind}"),
                        "must be at least 1".into(),
                    ),
                    None => p.at(
                        f,
                        limit.span(),
                        entry,
                        "concurrency",
                        format!("unknown channel {kind:?}"),
                    ),
                }
            }
        }
        let digest = match &raw.digest {
            Some(d) => DigestSettings {
                poll_interval: duration(
                    p,
                    f,
                    "[digest]",
                    "poll_interval",
                    &d.poll_interval,
                    Duration::from_secs(30),
                ),
                default_schedule: d.default_schedule.as_ref().and_then(|s| {
                    DigestSchedule::parse(s.get_ref())
                        .map_err(|msg| p.at(f, s.span(), "[digest]", "default_schedule", msg))
                        .ok()
                }),
            },
            None => DigestSettings {
                poll_interval: Duration::from_secs(30),
                default_schedule: None,
            },
        };
        let templates_dir = raw.templates.as_ref().map(|t| {
            let dir = self.base_dir.join(t.get_ref());
            if !dir.is_dir() {
                p.at(
                    f,
                    t.span(),
                    "",
                    "templates",
                    format!("directory {} does not exist", dir.display()),
                );
            }
            dir
        });
        if raw.users.is_none() {
            p.at(
                f,
                0..0,
                "",
                "users",
                "missing: name the users file, e.g. users = \"users.toml\"".into(),
            );
        }
        if raw.rules.is_none() {
            p.at(
                f,
                0..0,
                "",
                "rules",
                "missing: name the rules file, e.g. rules = \"rules.toml\"".into(),
            );
        }
        Config {
            path: path.to_path_buf(),
            base_dir: self.base_dir.clone(),
            store_url,
            http_listen,
            sources,
            areas,
            templates_dir,
            smtp,
            http_client,
            outbox,
            dispatcher,
            digest,
            model: Model::default(),
        }
    }

    fn users(&mut self, f: &File, raw: RawUsersFile, smtp_configured: bool) {
        let p = &mut self.problems;
        for org in &raw.organisations {
            let o = org.get_ref();
            let id = o.id.get_ref().clone();
            if self.model.orgs.contains_key(&id) {
                p.at(
                    f,
                    o.id.span(),
                    &format!("organisation {id:?}"),
                    "id",
                    format!("duplicate organisation id {id:?}"),
                );
                continue;
            }
            self.model.orgs.insert(
                id.clone(),
                Organisation {
                    name: o.name.clone().unwrap_or_else(|| id.clone()),
                    id,
                },
            );
        }
        for user in &raw.users {
            let u = user.get_ref();
            let id = u.id.get_ref().clone();
            let entry = format!("user {id:?}");
            if self.model.users.contains_key(&id) {
                p.at(
                    f,
                    u.id.span(),
                    &entry,
                    "id",
                    format!("duplicate user id {id:?}"),
                );
                continue;
            }
            if !self.model.orgs.contains_key(u.org.get_ref()) {
                p.at(
                    f,
                    u.org.span(),
                    &entry,
                    "org",
                    format!("unknown organisation {:?}", u.org.get_ref()),
                );
            }
            let email = u.email.get_ref().clone();
            if !plausible_email(&email) {
                p.at(
                    f,
                    u.email.span(),
                    &entry,
                    "email",
                    format!("implausible email address {email:?}"),
                );
            }
            let tz_name = u.timezone.get_ref().clone();
            let timezone = match TimeZone::get(&tz_name) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    p.at(
                        f,
                        u.timezone.span(),
                        &entry,
                        "timezone",
                        format!("unknown IANA timezone {tz_name:?} (e.g. \"Pacific/Auckland\")"),
                    );
                    None
                }
            };
            let mut channels: Vec<UserChannel> = Vec::new();
            for channel in &u.channels {
                let c = channel.get_ref();
                let Some(kind) = ChannelKind::parse(c.kind.get_ref()) else {
                    p.at(
                        f,
                        c.kind.span(),
                        &entry,
                        "channels.kind",
                        format!(
                            "unknown channel {:?}: expected email, webhook, slack or maildir",
                            c.kind.get_ref()
                        ),
                    );
                    continue;
                };
                if channels.iter().any(|x| x.kind == kind) {
                    p.at(
                        f,
                        c.kind.span(),
                        &entry,
                        "channels.kind",
                        format!("a second {kind} channel: one channel of each kind per user"),
                    );
                    continue;
                }
                let field = format!("channels.{kind}");
                let destination = match kind {
                    ChannelKind::Email => {
                        if !smtp_configured {
                            p.at(
                                f,
                                c.kind.span(),
                                &entry,
                                &field,
                                "email channel needs an [smtp] section in the main config".into(),
                            );
                        }
                        match &c.to {
                            Some(to) => {
                                if !plausible_email(to.get_ref()) {
                                    p.at(
                                        f,
                                        to.span(),
                                        &entry,
                                        &format!("{field}.to"),
                                        format!("implausible email address {:?}", to.get_ref()),
                                    );
                                }
                                to.get_ref().clone()
                            }
                            None => email.clone(),
                        }
                    }
                    ChannelKind::Webhook => match &c.endpoint {
                        Some(name) => match self.model.webhooks.get(name.get_ref()) {
                            Some(hook) => hook.url.clone(),
                            None => {
                                p.at(f, name.span(), &entry, &format!("{field}.endpoint"), format!("unknown webhook {:?}: define [webhooks.{}] in the main config", name.get_ref(), name.get_ref()));
                                continue;
                            }
                        },
                        None => {
                            p.at(
                                f,
                                channel.span(),
                                &entry,
                                &format!("{field}.endpoint"),
                                "missing".into(),
                            );
                            continue;
                        }
                    },
                    ChannelKind::Slack => match (&c.url, &c.url_env) {
                        (Some(url), None) => url.get_ref().clone(),
                        (None, Some(var)) => match self.env.var(var.get_ref()) {
                            Some(url) => url,
                            None => {
                                p.at(
                                    f,
                                    var.span(),
                                    &entry,
                                    &format!("{field}.url_env"),
                                    format!("environment variable {} is not set", var.get_ref()),
                                );
                                continue;
                            }
                        },
                        _ => {
                            p.at(
                                f,
                                channel.span(),
                                &entry,
                                &field,
                                "set exactly one of url and url_env".into(),
                            );
                            continue;
                        }
                    },
                    ChannelKind::Maildir => match &c.path {
                        Some(path) => self.base_dir.join(path.get_ref()).display().to_string(),
                        None => {
                            p.at(
                                f,
                                channel.span(),
                                &entry,
                                &format!("{field}.path"),
                                "missing".into(),
                            );
                            continue;
                        }
                    },
                };
                channels.push(UserChannel { kind, destination });
            }
            self.model.users.insert(
                id.clone(),
                User {
                    org_id: u.org.get_ref().clone(),
                    name: u.name.clone().unwrap_or_else(|| id.clone()),
                    email,
                    timezone_name: tz_name,
                    timezone,
                    locale: u.locale.clone().unwrap_or_else(|| "en".to_owned()),
                    channels,
                    enabled: u.enabled.unwrap_or(true),
                    deleted: u.deleted.unwrap_or(false),
                    id,
                },
            );
        }
    }

    fn rules(&mut self, f: &File, raw: RawRulesFile, default_schedule: Option<DigestSchedule>) {
        let p = &mut self.problems;
        for vessel in &raw.vessels {
            let v = vessel.get_ref();
            let mmsi = *v.mmsi.get_ref();
            let entry = format!("vessel {mmsi}");
            if !(1..=999_999_999).contains(&mmsi) {
                p.at(
                    f,
                    v.mmsi.span(),
                    &entry,
                    "mmsi",
                    format!("{mmsi} is not a nine-digit MMSI"),
                );
            }
            if self.model.vessels.contains_key(&mmsi) {
                p.at(
                    f,
                    v.mmsi.span(),
                    &entry,
                    "mmsi",
                    format!("duplicate vessel {mmsi}"),
                );
                continue;
            }
            self.model.vessels.insert(
                mmsi,
                Vessel {
                    mmsi,
                    name: v.name.clone(),
                    tags: v.tags.iter().cloned().collect(),
                },
            );
        }
        for fleet in &raw.fleets {
            let fl = fleet.get_ref();
            let id = fl.id.get_ref().clone();
            let entry = format!("fleet {id:?}");
            if self.model.fleets.contains_key(&id) {
                p.at(
                    f,
                    fl.id.span(),
                    &entry,
                    "id",
                    format!("duplicate fleet id {id:?}"),
                );
                continue;
            }
            if !self.model.orgs.contains_key(fl.org.get_ref()) {
                p.at(
                    f,
                    fl.org.span(),
                    &entry,
                    "org",
                    format!("unknown organisation {:?}", fl.org.get_ref()),
                );
            }
            for m in &fl.mmsi {
                if !(1..=999_999_999).contains(m.get_ref()) {
                    p.at(
                        f,
                        m.span(),
                        &entry,
                        "mmsi",
                        format!("{} is not a nine-digit MMSI", m.get_ref()),
                    );
                }
            }
            self.model.fleets.insert(
                id.clone(),
                Fleet {
                    org_id: fl.org.get_ref().clone(),
                    name: fl.name.clone().unwrap_or_else(|| id.clone()),
                    mmsi: fl.mmsi.iter().map(|m| *m.get_ref()).collect(),
                    tags: fl.tags.iter().cloned().collect(),
                    id,
                },
            );
        }
        let mut seen = BTreeSet::new();
        let mut schedules: BTreeMap<String, (DigestSchedule, String)> = BTreeMap::new();
        for rule in &raw.rules {
            let r = rule.get_ref();
            let id = r.id.get_ref().clone();
            let entry = format!("rule {id:?}");
            if !seen.insert(id.clone()) {
                p.at(
                    f,
                    r.id.span(),
                    &entry,
                    "id",
                    format!("duplicate rule id {id:?}"),
                );
                continue;
            }
            let owner = self.model.users.get(r.owner.get_ref());
            if owner.is_none() {
                p.at(
                    f,
                    r.owner.span(),
                    &entry,
                    "owner",
                    format!("unknown user {:?}", r.owner.get_ref()),
                );
            }
            let org_id = owner.map(|u| u.org_id.clone()).unwrap_or_default();

            let mut events = BTreeSet::new();
            for ev in r.events.get_ref() {
                match EventKind::parse(ev.get_ref()) {
                    Some(k) => {
                        events.insert(k);
                    }
                    None => p.at(f, ev.span(), &entry, "events", format!("unknown event kind {:?}: expected entered, exited, gap_started or gap_ended", ev.get_ref())),
                }
            }
            if r.events.get_ref().is_empty() {
                p.at(
                    f,
                    r.events.span(),
                    &entry,
                    "events",
                    "empty: name at least one event kind".into(),
                );
            }
            let is_gap_rule =
                events.contains(&EventKind::GapStarted) || events.contains(&EventKind::GapEnded);

            let n_selectors = [
                r.vessels.is_some(),
                r.mmsi.is_some(),
                r.fleet.is_some(),
                r.tag.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count();
            let vessels = if n_selectors != 1 {
                p.at(f, r.id.span(), &entry, "vessels", "set exactly one of vessels = \"any\", mmsi = [...], fleet = \"...\" or tag = \"...\"".into());
                VesselSelector::Mmsi(BTreeSet::new())
            } else if let Some(v) = &r.vessels {
                if v.get_ref() != "any" {
                    p.at(f, v.span(), &entry, "vessels", format!("unknown selector {:?}: the only word allowed is \"any\" (use mmsi, fleet or tag)", v.get_ref()));
                }
                if is_gap_rule {
                    p.at(
                        f,
                        v.span(),
                        &entry,
                        "vessels",
                        "gap rules may not target any vessel: choose an mmsi list, fleet or tag"
                            .into(),
                    );
                }
                VesselSelector::Any
            } else if let Some(list) = &r.mmsi {
                if list.get_ref().is_empty() {
                    p.at(f, list.span(), &entry, "mmsi", "empty list".into());
                }
                for m in list.get_ref() {
                    if !(1..=999_999_999).contains(m.get_ref()) {
                        p.at(
                            f,
                            m.span(),
                            &entry,
                            "mmsi",
                            format!("{} is not a nine-digit MMSI", m.get_ref()),
                        );
                    }
                }
                VesselSelector::Mmsi(list.get_ref().iter().map(|m| *m.get_ref()).collect())
            } else if let Some(fleet) = &r.fleet {
                match self.model.fleets.get(fleet.get_ref()) {
                    None => p.at(
                        f,
                        fleet.span(),
                        &entry,
                        "fleet",
                        format!("unknown fleet {:?}", fleet.get_ref()),
                    ),
                    Some(fl) if owner.is_some() && fl.org_id != org_id => p.at(
                        f,
                        fleet.span(),
                        &entry,
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
            };

            let mut areas = Vec::new();
            if r.areas.get_ref().is_empty() {
                p.at(
                    f,
                    r.areas.span(),
                    &entry,
                    "areas",
                    "empty: name at least one area".into(),
                );
            }
            for area in r.areas.get_ref() {
                if !self.model.areas.contains(area.get_ref()) {
                    p.at(
                        f,
                        area.span(),
                        &entry,
                        "areas",
                        format!("unknown area {:?}", area.get_ref()),
                    );
                }
                areas.push(area.get_ref().clone());
            }

            let gap_threshold =
                r.gap_threshold
                    .as_ref()
                    .and_then(|g| match parse_duration(g.get_ref()) {
                        Ok(d) if d >= Duration::from_secs(60) => Some(d),
                        Ok(_) => {
                            p.at(
                                f,
                                g.span(),
                                &entry,
                                "gap_threshold",
                                format!("{:?} is too short: at least 1 minute", g.get_ref()),
                            );
                            None
                        }
                        Err(msg) => {
                            p.at(f, g.span(), &entry, "gap_threshold", msg);
                            None
                        }
                    });
            if is_gap_rule && r.gap_threshold.is_none() {
                p.at(
                    f,
                    r.events.span(),
                    &entry,
                    "gap_threshold",
                    "missing: gap events need a threshold, e.g. gap_threshold = \"6h\"".into(),
                );
            }
            let min_dwell = r.min_dwell.as_ref().and_then(|d| {
                parse_duration(d.get_ref())
                    .map_err(|msg| p.at(f, d.span(), &entry, "min_dwell", msg))
                    .ok()
            });

            let delivery = match r.delivery.as_ref().map(|d| d.get_ref().as_str()) {
                None | Some("realtime") => {
                    if let Some(s) = &r.schedule {
                        p.at(
                            f,
                            s.span(),
                            &entry,
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
                            p.at(f, s.span(), &entry, "schedule", msg);
                            DeliveryMode::Realtime
                        }
                    },
                    (None, Some(schedule)) => DeliveryMode::Digest(schedule),
                    (None, None) => {
                        let span = r.delivery.as_ref().map(|d| d.span()).unwrap_or_default();
                        p.at(f, span, &entry, "schedule", "missing: digest rules need a schedule such as \"daily 08:00\" (or set [digest] default_schedule)".into());
                        DeliveryMode::Realtime
                    }
                },
                Some(other) => {
                    let span = r.delivery.as_ref().map(|d| d.span()).unwrap_or_default();
                    p.at(
                        f,
                        span,
                        &entry,
                        "delivery",
                        format!("unknown delivery {other:?}: expected realtime or digest"),
                    );
                    DeliveryMode::Realtime
                }
            };

            if let DeliveryMode::Digest(schedule) = delivery {
                let owner_id = r.owner.get_ref().clone();
                match schedules.get(&owner_id) {
                    Some((first, first_rule)) if *first != schedule => {
                        let span = r
                            .schedule
                            .as_ref()
                            .map_or_else(|| r.id.span(), |s| s.span());
                        p.at(f, span, &entry, "schedule", format!("{schedule} differs from {first} of rule {first_rule:?}: all digest rules of user {owner_id:?} share one schedule"));
                    }
                    Some(_) => {}
                    None => {
                        schedules.insert(owner_id, (schedule, id.clone()));
                    }
                }
            }

            let mut channels = Vec::new();
            if let Some(list) = &r.channels {
                for c in list.get_ref() {
                    match ChannelKind::parse(c.get_ref()) {
                        None => p.at(
                            f,
                            c.span(),
                            &entry,
                            "channels",
                            format!(
                                "unknown channel {:?}: expected email, webhook, slack or maildir",
                                c.get_ref()
                            ),
                        ),
                        Some(kind) => {
                            if let Some(user) = owner
                                && !user.channels.iter().any(|uc| uc.kind == kind)
                            {
                                p.at(
                                    f,
                                    c.span(),
                                    &entry,
                                    "channels",
                                    format!(
                                        "channel {kind} is not configured for user {:?}",
                                        user.id
                                    ),
                                );
                            }
                            channels.push(kind);
                        }
                    }
                }
            }
            if let Some(user) = owner
                && user.channels.is_empty()
            {
                p.at(
                    f,
                    r.owner.span(),
                    &entry,
                    "owner",
                    format!("user {:?} has no channels configured", user.id),
                );
            }

            self.model.rules.push(Rule {
                id,
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
            });
        }
    }
}
