//! The users file: organisations, users and each user's channels, into the model.

use std::path::Path;

use jiff::tz::TimeZone;
use lookout_core::ChannelKind;
use lookout_notify::model::{Model, Organisation, User, UserChannel};

use super::EnvSource;
use super::checks::At;
use super::problems::{File, Problems};
use super::raw::{RawChannel, RawUser, RawUsersFile, S};

/// What the users file needs to know of the main file.
pub(crate) struct UsersCx<'a> {
    pub(crate) env: &'a dyn EnvSource,
    pub(crate) base_dir: &'a Path,
    pub(crate) smtp_configured: bool,
}

/// Adds the organisations and users of `raw` to `model`.
pub(crate) fn users(
    p: &mut Problems,
    f: &File,
    raw: RawUsersFile,
    cx: &UsersCx<'_>,
    model: &mut Model,
) {
    for org in &raw.organisations {
        let o = org.get_ref();
        let id = o.id.get_ref().clone();
        let entry = format!("organisation {id:?}");
        let mut at = At {
            p,
            f,
            entry: &entry,
        };
        if !at.unique_id(model.orgs.contains_key(&id), &o.id, "organisation") {
            continue;
        }
        model.orgs.insert(
            id.clone(),
            Organisation {
                name: o.name.clone().unwrap_or_else(|| id.clone()),
                id,
            },
        );
    }
    for user in &raw.users {
        if let Some(user) = self::user(p, f, user.get_ref(), cx, model) {
            model.users.insert(user.id.clone(), user);
        }
    }
}

fn user(p: &mut Problems, f: &File, u: &RawUser, cx: &UsersCx<'_>, model: &Model) -> Option<User> {
    let id = u.id.get_ref().clone();
    let entry = format!("user {id:?}");
    let mut at = At {
        p,
        f,
        entry: &entry,
    };
    if !at.unique_id(model.users.contains_key(&id), &u.id, "user") {
        return None;
    }
    at.known_org(model, &u.org);
    at.email("email", &u.email);
    let tz_name = u.timezone.get_ref().clone();
    let timezone = TimeZone::get(&tz_name)
        .map_err(|_| {
            at.problem(
                u.timezone.span(),
                "timezone",
                format!("unknown IANA timezone {tz_name:?} (e.g. \"Pacific/Auckland\")"),
            );
        })
        .ok();
    let mut channels: Vec<UserChannel> = Vec::new();
    for channel in &u.channels {
        let Some(kind) = channel_kind(&mut at, &channel.get_ref().kind, &channels) else {
            continue;
        };
        if let Some(channel) = self::destination(&mut at, kind, channel, u, cx, model) {
            channels.push(channel);
        }
    }
    Some(User {
        org_id: u.org.get_ref().clone(),
        name: u.name.clone().unwrap_or_else(|| id.clone()),
        email: u.email.get_ref().clone(),
        timezone_name: tz_name,
        timezone,
        locale: u.locale.clone().unwrap_or_else(|| "en".to_owned()),
        channels,
        enabled: u.enabled.unwrap_or(true),
        deleted: u.deleted.unwrap_or(false),
        id,
    })
}

/// The channel kind, when known and not yet used by this user (one channel of each kind).
fn channel_kind(at: &mut At<'_>, kind: &S<String>, so_far: &[UserChannel]) -> Option<ChannelKind> {
    let Some(parsed) = ChannelKind::parse(kind.get_ref()) else {
        at.problem(
            kind.span(),
            "channels.kind",
            format!(
                "unknown channel {:?}: expected email, webhook, slack or maildir",
                kind.get_ref()
            ),
        );
        return None;
    };
    if so_far.iter().any(|x| x.kind == parsed) {
        at.problem(
            kind.span(),
            "channels.kind",
            format!("a second {parsed} channel: one channel of each kind per user"),
        );
        return None;
    }
    Some(parsed)
}

/// Whether a tenant set the channel (`origin = "api"`).
fn set_by_tenant(at: &mut At<'_>, c: &RawChannel, field: &str) -> bool {
    match &c.origin {
        None => false,
        Some(o) if o.get_ref() == "api" => true,
        Some(o) => {
            at.problem(
                o.span(),
                &format!("{field}.origin"),
                format!(
                    "unknown origin {:?}: \"api\" (set through the API) or none",
                    o.get_ref()
                ),
            );
            false
        }
    }
}

/// The channel with where it delivers: an address, a webhook URL, a Slack URL or a Maildir
/// path, and who set it.
fn destination(
    at: &mut At<'_>,
    kind: ChannelKind,
    channel: &S<RawChannel>,
    u: &RawUser,
    cx: &UsersCx<'_>,
    model: &Model,
) -> Option<UserChannel> {
    let c = channel.get_ref();
    let field = format!("channels.{kind}");
    let tenant = set_by_tenant(at, c, &field);
    let operator = |d: String| UserChannel::new(kind, d);
    match kind {
        ChannelKind::Email => {
            if !cx.smtp_configured {
                at.problem(
                    c.kind.span(),
                    &field,
                    "email channel needs an [smtp] section in the main config".into(),
                );
            }
            match &c.to {
                Some(to) => {
                    at.email(&format!("{field}.to"), to);
                    Some(operator(to.get_ref().clone()))
                }
                None => Some(operator(u.email.get_ref().clone())),
            }
        }
        ChannelKind::Webhook if c.url.is_some() => {
            let url = c.url.as_ref()?;
            if !tenant || c.endpoint.is_some() {
                at.problem(
                    url.span(),
                    &format!("{field}.url"),
                    "a webhook url is a tenant's (set through the API); in a file, name an endpoint"
                        .into(),
                );
                return None;
            }
            Some(UserChannel::tenant(kind, url.get_ref().clone()))
        }
        ChannelKind::Webhook => {
            let Some(name) = &c.endpoint else {
                at.problem(
                    channel.span(),
                    &format!("{field}.endpoint"),
                    "missing".into(),
                );
                return None;
            };
            let hook = model.webhooks.get(name.get_ref());
            if hook.is_none() {
                at.problem(
                    name.span(),
                    &format!("{field}.endpoint"),
                    format!(
                        "unknown webhook {:?}: define [webhooks.{}] in the main config",
                        name.get_ref(),
                        name.get_ref()
                    ),
                );
            }
            hook.map(|h| operator(h.url.clone()))
        }
        ChannelKind::Slack => match (&c.url, &c.url_env) {
            (Some(url), None) if tenant => Some(UserChannel::tenant(kind, url.get_ref().clone())),
            (Some(url), None) => Some(operator(url.get_ref().clone())),
            (None, Some(var)) => at
                .env_var(
                    cx.env,
                    &format!("{field}.url_env"),
                    var.get_ref(),
                    var.span(),
                    false,
                )
                .map(operator),
            _ => {
                at.problem(
                    channel.span(),
                    &field,
                    "set exactly one of url and url_env".into(),
                );
                None
            }
        },
        ChannelKind::Maildir => match &c.path {
            Some(path) => Some(operator(
                cx.base_dir.join(path.get_ref()).display().to_string(),
            )),
            None => {
                at.problem(channel.span(), &format!("{field}.path"), "missing".into());
                None
            }
        },
    }
}
