//! `/api/v1/rules`: the organisation's alert rules, as the rules file writes them (plus `id`
//! and `enabled`), checked by the rules file's own checks against the organisation's users,
//! fleets and areas. Ids are chosen by the server (`rule_…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_store::model::{Role, Rule};
use serde_json::{Value, json};

use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::{Body, Problem};
use super::{ApiState, new_id, org_model};

fn out(r: Rule) -> Value {
    let mut v = r.definition;
    v["id"] = json!(r.id);
    v["enabled"] = json!(r.enabled);
    v["owner"] = json!(r.owner);
    v
}

/// The stored rule for `body`, checked.
async fn checked(s: &ApiState, c: &Caller, id: &str, body: Value) -> Result<Rule, Problem> {
    let Value::Object(mut fields) = body else {
        return Err(Problem::field("", "expected a JSON object"));
    };
    if let Some(given) = fields.remove("id")
        && given != json!(id)
    {
        return Err(Problem::field(
            "id",
            "is chosen by the server; leave it out",
        ));
    }
    let enabled = match fields.remove("enabled") {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(Problem::field("enabled", "expected true or false")),
    };
    let definition = Value::Object(fields);
    let model = org_model(&s.store, &c.org).await?;
    crate::config::check_rule(id, &definition, &model).map_err(Problem::invalid)?;
    let owner = definition["owner"].as_str().unwrap_or_default().to_owned();
    Ok(Rule {
        id: id.to_owned(),
        org_id: c.org.clone(),
        owner,
        enabled,
        definition,
    })
}

/// `GET /rules`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let cursor = q.store_cursor()?;
    let rules = s.store.rules(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        rules,
        &cursor,
        |r| r.id.clone(),
        out,
    )))
}

/// `GET /rules/{id}`.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let rule = s.store.rule(&c.org, &id).await?;
    rule.map(|r| Json(out(r)))
        .ok_or_else(|| Problem::not_found("rule"))
}

/// `POST /rules`.
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<Value>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Editor, "creating a rule")?;
    let rule = checked(&s, &c, &new_id("rule"), body).await?;
    let audit = c.audit(
        "rule.create",
        &format!("rule/{}", rule.id),
        out(rule.clone()),
    );
    s.store.put_rule(&rule, &audit).await?;
    Ok((StatusCode::CREATED, Json(out(rule))))
}

/// `PUT /rules/{id}`.
pub(super) async fn replace(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Editor, "changing a rule")?;
    if s.store.rule(&c.org, &id).await?.is_none() {
        return Err(Problem::not_found("rule"));
    }
    let rule = checked(&s, &c, &id, body).await?;
    let audit = c.audit("rule.update", &format!("rule/{id}"), out(rule.clone()));
    s.store.put_rule(&rule, &audit).await?;
    Ok(Json(out(rule)))
}

/// `DELETE /rules/{id}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Editor, "deleting a rule")?;
    let audit = c.audit("rule.delete", &format!("rule/{id}"), Value::Null);
    if s.store.delete_rule(&c.org, &id, &audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("rule"))
    }
}
