//! The upserts, one per kind, on a connection inside the caller's transaction: compare with
//! the stored row, refuse another organisation's id, write (and audit) only a change.

use super::conn::{AreaRow, FleetRow, ModelConn, RuleRow, SilenceRow, UserRow, VesselRow};
use super::{Area, Audit, Fleet, Organisation, Rule, Silence, Upserted, User, Vessel};
use crate::error::{DbContext, StoreError};

/// What to do with an existing row of the same id: nothing, a conflict, or a write.
fn decide<R: PartialEq>(
    table: &'static str,
    id: &str,
    org: &str,
    existing: Option<(&str, &R)>,
    new: &R,
) -> Result<Upserted, StoreError> {
    match existing {
        Some((owner, _)) if owner != org => Err(StoreError::Conflict {
            table,
            id: id.to_owned(),
        }),
        Some((_, old)) if old == new => Ok(Upserted::Unchanged),
        Some(_) => Ok(Upserted::Updated),
        None => Ok(Upserted::Created),
    }
}

/// The upserts, one per kind, on a connection inside the caller's transaction; each writes
/// `audit` (when given) with the change, and nothing when the row is unchanged.
pub(crate) async fn put_user<C: ModelConn>(
    c: &mut C,
    u: &User,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing a user";
    let row = UserRow::of(u);
    let old = c.user_owner(&u.id).await.ctx(OP)?;
    let what = decide(
        "users",
        &u.id,
        &u.org_id,
        old.as_ref().map(|o| (o.org_id.as_str(), o)),
        &row,
    )?;
    if what != Upserted::Unchanged {
        c.user_put(&row, now).await.ctx(OP)?;
        audit_in(c, &u.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_vessel<C: ModelConn>(
    c: &mut C,
    v: &Vessel,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing a vessel";
    let row = VesselRow::of(v);
    let old = c.vessel_get(&v.org_id, row.mmsi).await.ctx(OP)?;
    let what = decide(
        "vessels",
        "",
        &v.org_id,
        old.as_ref().map(|o| (o.org_id.as_str(), o)),
        &row,
    )?;
    if what != Upserted::Unchanged {
        c.vessel_put(&row, now).await.ctx(OP)?;
        audit_in(c, &v.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_fleet<C: ModelConn>(
    c: &mut C,
    f: &Fleet,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing a fleet";
    let (row, members) = FleetRow::of(f);
    let old = match c.fleet_owner(&f.id).await.ctx(OP)? {
        Some(old) => {
            let old_members = c.fleet_members(&old.org_id, &old.id).await.ctx(OP)?;
            Some((old, old_members))
        }
        None => None,
    };
    let new = (row, members);
    let what = decide(
        "fleets",
        &f.id,
        &f.org_id,
        old.as_ref().map(|o| (o.0.org_id.as_str(), o)),
        &new,
    )?;
    if what != Upserted::Unchanged {
        c.fleet_put(&new.0, &new.1, now).await.ctx(OP)?;
        audit_in(c, &f.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_area<C: ModelConn>(
    c: &mut C,
    a: &Area,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing an area";
    let row = AreaRow::of(a);
    let old = c.area_get(&a.org_id, &a.id).await.ctx(OP)?;
    let what = decide(
        "areas",
        &a.id,
        &a.org_id,
        old.as_ref().map(|o| (o.org_id.as_str(), o)),
        &row,
    )?;
    if what != Upserted::Unchanged {
        c.area_put(&row, now).await.ctx(OP)?;
        audit_in(c, &a.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_rule<C: ModelConn>(
    c: &mut C,
    r: &Rule,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing a rule";
    let row = RuleRow::of(r);
    let old = c.rule_owner(&r.id).await.ctx(OP)?;
    let what = decide(
        "rules",
        &r.id,
        &r.org_id,
        old.as_ref().map(|o| (o.org_id.as_str(), o)),
        &row,
    )?;
    if what != Upserted::Unchanged {
        c.rule_put(&row, now).await.ctx(OP)?;
        audit_in(c, &r.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_silence<C: ModelConn>(
    c: &mut C,
    s: &Silence,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing a silence";
    let row = SilenceRow::of(s);
    let old = c.silence_owner(&s.id).await.ctx(OP)?;
    let what = decide(
        "silences",
        &s.id,
        &s.org_id,
        old.as_ref().map(|o| (o.org_id.as_str(), o)),
        &row,
    )?;
    if what != Upserted::Unchanged {
        c.silence_put(&row, now).await.ctx(OP)?;
        audit_in(c, &s.org_id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn put_org<C: ModelConn>(
    c: &mut C,
    o: &Organisation,
    audit: Option<&Audit>,
    now: i64,
) -> Result<Upserted, StoreError> {
    const OP: &str = "writing an organisation";
    let old = c.org_get(&o.id).await.ctx(OP)?;
    let new = (o.id.clone(), o.name.clone());
    let what = decide(
        "organisations",
        &o.id,
        &o.id,
        old.as_ref().map(|x| (x.0.as_str(), x)),
        &new,
    )?;
    if what != Upserted::Unchanged {
        c.org_put(&o.id, &o.name, now).await.ctx(OP)?;
        audit_in(c, &o.id, audit, now).await?;
    }
    Ok(what)
}

pub(crate) async fn audit_in<C: ModelConn>(
    c: &mut C,
    org: &str,
    audit: Option<&Audit>,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(a) = audit {
        c.audit_insert(Some(org), a, now)
            .await
            .ctx("writing an audit record")?;
    }
    Ok(())
}
