//! `/api/v1/users` (admins write, everyone reads) and `/api/v1/audit` (admins). Channels set
//! through the API: `email` (optionally `to`), `webhook` with an `endpoint` the operator
//! configured (signed with its secret) or with a `url` of the tenant's own (not signed), and
//! `slack` with a `url`. A URL a tenant sets is untrusted: it is checked against the
//! destination policy here (422 naming the channel and the refused class) and again at every
//! send, resolved, by the channel (`lookout_notify::channels::destination`). Such a channel is
//! stored with `origin: "api"`. A Slack `url_env` or a Maildir path would read the operator's
//! environment or disk, so they come only through trusted files. Slack URLs are secrets: only
//! admins read them whole; others, and the audit log, see scheme and host. Deleting a user
//! marks it deleted (history names it).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_store::model::{AuditEntry, Role, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::{Body, Problem};
use super::{ApiState, new_id};

/// A user as written by a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserIn {
    name: String,
    email: String,
    timezone: String,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    channels: Vec<Value>,
    #[serde(default)]
    enabled: Option<bool>,
}

fn checked(s: &ApiState, c: &Caller, id: &str, u: UserIn) -> Result<User, Problem> {
    let mut errors = Vec::new();
    if let Err(m) = lookout_notify::config::check_address(&u.email) {
        errors.push(("email".to_owned(), m));
    }
    if jiff::tz::TimeZone::get(&u.timezone).is_err() {
        errors.push((
            "timezone".to_owned(),
            format!(
                "unknown IANA timezone {:?} (e.g. \"Pacific/Auckland\")",
                u.timezone
            ),
        ));
    }
    let mut kinds: Vec<&str> = Vec::new();
    for (i, ch) in u.channels.iter().enumerate() {
        let field = format!("channels[{i}]");
        let kind = ch.get("kind").and_then(Value::as_str).unwrap_or("");
        let keys: Vec<&str> = ch
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        match kind {
            "email" => {
                if let Some(to) = ch.get("to") {
                    match to.as_str().map(lookout_notify::config::check_address) {
                        Some(Ok(_)) => {}
                        Some(Err(m)) => errors.push((format!("{field}.to"), m)),
                        None => errors.push((format!("{field}.to"), "expected a string".into())),
                    }
                }
                only_keys(
                    &keys,
                    &["kind", "to"],
                    &field,
                    "an email channel has only kind and to",
                    &mut errors,
                );
            }
            "webhook" if ch.get("url").is_some() => {
                tenant_url(s, ch, &field, &mut errors);
                only_keys(
                    &keys,
                    &["kind", "url", "origin"],
                    &field,
                    "a webhook channel has kind and either endpoint or url",
                    &mut errors,
                );
            }
            "webhook" => {
                let endpoint = ch.get("endpoint").and_then(Value::as_str).unwrap_or("");
                if !s.webhooks.contains(endpoint) {
                    errors.push((format!("{field}.endpoint"), format!("unknown webhook {endpoint:?}: name one of the [webhooks.*] the operator configured, or give a url")));
                }
                only_keys(
                    &keys,
                    &["kind", "endpoint", "origin"],
                    &field,
                    "a webhook channel has kind and either endpoint or url",
                    &mut errors,
                );
            }
            "slack" => {
                tenant_url(s, ch, &field, &mut errors);
                only_keys(
                    &keys,
                    &["kind", "url", "origin"],
                    &field,
                    "a slack channel has only kind and url",
                    &mut errors,
                );
            }
            "maildir" => errors.push((
                format!("{field}.kind"),
                "maildir channels are set in the operator's files, not through the API".into(),
            )),
            other => errors.push((
                format!("{field}.kind"),
                format!("unknown channel {other:?}: expected email, webhook or slack"),
            )),
        }
        if kinds.contains(&kind) {
            errors.push((
                format!("{field}.kind"),
                format!("a second {kind} channel: one channel of each kind per user"),
            ));
        }
        kinds.push(kind);
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    // Stored with the mark that makes every send check the URL again (`origin` on input is
    // ignored: only the server says where a channel came from).
    let channels = u
        .channels
        .into_iter()
        .map(|mut ch| {
            if let Some(m) = ch.as_object_mut() {
                m.remove("origin");
                if m.contains_key("url") {
                    m.insert("origin".into(), Value::from("api"));
                }
            }
            ch
        })
        .collect();
    Ok(User {
        id: id.to_owned(),
        org_id: c.org.clone(),
        name: u.name,
        email: u.email,
        timezone: u.timezone,
        locale: u.locale.unwrap_or_else(|| "en".to_owned()),
        channels: Value::Array(channels),
        enabled: u.enabled.unwrap_or(true),
        deleted: false,
    })
}

/// A problem at `field` naming `what` when `keys` holds a key other than `allowed`.
fn only_keys(
    keys: &[&str],
    allowed: &[&str],
    field: &str,
    what: &str,
    errors: &mut Vec<(String, String)>,
) {
    if keys.iter().any(|k| !allowed.contains(k)) {
        errors.push((field.to_owned(), what.to_owned()));
    }
}

/// A tenant's URL: a string the destination policy accepts.
fn tenant_url(s: &ApiState, ch: &Value, field: &str, errors: &mut Vec<(String, String)>) {
    let field = format!("{field}.url");
    match ch.get("url").map(Value::as_str) {
        None => errors.push((field, "missing".into())),
        Some(None) => errors.push((field, "expected a string".into())),
        Some(Some(url)) => {
            if let Err(problem) = s.destinations.check_url(url) {
                errors.push((field, problem.to_string()));
            }
        }
    }
}

/// A user as answered to an admin: everything.
fn out(u: &User) -> Value {
    json!({
        "id": u.id, "name": u.name, "email": u.email, "timezone": u.timezone, "locale": u.locale,
        "channels": u.channels, "enabled": u.enabled, "deleted": u.deleted,
    })
}

/// A user as answered to an editor or viewer, and as written to the audit log: Slack URLs
/// (secrets: whoever has one can post to the channel) cut to scheme and host.
fn out_redacted(u: &User) -> Value {
    let mut v = out(u);
    if let Some(Value::Array(channels)) = v.get_mut("channels") {
        for ch in channels {
            let slack = ch.get("kind").and_then(Value::as_str) == Some("slack");
            if let (true, Some(url)) = (slack, ch.get_mut("url"))
                && let Some(text) = url.as_str()
            {
                *url = Value::from(lookout_notify::channels::redact(text));
            }
        }
    }
    v
}

/// The user as `c` may read it.
fn out_for(c: &Caller, u: &User) -> Value {
    if c.role >= Role::Admin {
        out(u)
    } else {
        out_redacted(u)
    }
}

/// `GET /users`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let cursor = q.store_cursor()?;
    let users = s.store.users(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        users,
        &cursor,
        |u| u.id.clone(),
        |u| out_for(&c, &u),
    )))
}

/// `GET /users/{id}`.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let user = s.store.user(&c.org, &id).await?;
    user.map(|u| Json(out_for(&c, &u)))
        .ok_or_else(|| Problem::not_found("user"))
}

/// `POST /users`.
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<UserIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Admin, "creating a user")?;
    let user = checked(&s, &c, &new_id("user"), body)?;
    let audit = c.audit(
        "user.create",
        &format!("user/{}", user.id),
        out_redacted(&user),
    );
    s.store.put_user(&user, &audit).await?;
    Ok((StatusCode::CREATED, Json(out(&user))))
}

/// `PUT /users/{id}`.
pub(super) async fn replace(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Body(body): Body<UserIn>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Admin, "changing a user")?;
    if s.store.user(&c.org, &id).await?.is_none() {
        return Err(Problem::not_found("user"));
    }
    let user = checked(&s, &c, &id, body)?;
    let audit = c.audit("user.update", &format!("user/{id}"), out_redacted(&user));
    s.store.put_user(&user, &audit).await?;
    Ok(Json(out(&user)))
}

/// `DELETE /users/{id}`: marks the user deleted.
pub(super) async fn delete(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Admin, "deleting a user")?;
    let Some(mut user) = s.store.user(&c.org, &id).await? else {
        return Err(Problem::not_found("user"));
    };
    user.deleted = true;
    let audit = c.audit("user.delete", &format!("user/{id}"), Value::Null);
    s.store.put_user(&user, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /audit`: the organisation's audit log, oldest first.
pub(super) async fn audit(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<AuditEntry>>, Problem> {
    c.require(Role::Admin, "reading the audit log")?;
    let cursor = q.store_cursor()?;
    let entries = s.store.audit_log(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        entries,
        &cursor,
        |e| e.id.to_string(),
        |e| e,
    )))
}
