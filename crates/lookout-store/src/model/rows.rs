//! Typed model objects to and from their rows: JSON columns, MMSIs and times as stored.

use super::conn::{AreaRow, AuditRow, FleetRow, RuleRow, SilenceRow, TokenRow, UserRow, VesselRow};
use super::{ApiToken, Area, Audit, AuditEntry, Fleet, Role, Rule, Silence, User, Vessel};
use crate::error::StoreError;
use crate::store::{from_ms, ms};

pub(crate) fn corrupt(table: &'static str, id: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        id: id.to_owned(),
        detail: detail.to_string(),
    }
}

fn json_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse<T: serde::de::DeserializeOwned>(
    table: &'static str,
    id: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, id, format!("bad JSON: {e}")))
}

fn mmsi_of(table: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(table, &value.to_string(), "mmsi out of range"))
}

impl UserRow {
    pub(crate) fn of(u: &User) -> UserRow {
        UserRow {
            id: u.id.clone(),
            org_id: u.org_id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            timezone: u.timezone.clone(),
            locale: u.locale.clone(),
            channels: json_of(&u.channels),
            enabled: u.enabled,
            deleted: u.deleted,
        }
    }

    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            channels: parse("users", &self.id, &self.channels)?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            email: self.email,
            timezone: self.timezone,
            locale: self.locale,
            enabled: self.enabled,
            deleted: self.deleted,
        })
    }
}

impl VesselRow {
    pub(crate) fn of(v: &Vessel) -> VesselRow {
        let mut tags = v.tags.clone();
        tags.sort();
        tags.dedup();
        VesselRow {
            org_id: v.org_id.clone(),
            mmsi: i64::from(v.mmsi),
            name: v.name.clone(),
            tags: json_of(&tags),
        }
    }

    pub(crate) fn into_vessel(self) -> Result<Vessel, StoreError> {
        Ok(Vessel {
            tags: parse("vessels", &self.mmsi.to_string(), &self.tags)?,
            mmsi: mmsi_of("vessels", self.mmsi)?,
            org_id: self.org_id,
            name: self.name,
        })
    }
}

impl FleetRow {
    pub(crate) fn of(f: &Fleet) -> (FleetRow, Vec<i64>) {
        let mut tags = f.tags.clone();
        tags.sort();
        tags.dedup();
        let mut members: Vec<i64> = f.mmsi.iter().map(|m| i64::from(*m)).collect();
        members.sort_unstable();
        members.dedup();
        let row = FleetRow {
            id: f.id.clone(),
            org_id: f.org_id.clone(),
            name: f.name.clone(),
            tags: json_of(&tags),
        };
        (row, members)
    }

    pub(crate) fn into_fleet(self, members: Vec<i64>) -> Result<Fleet, StoreError> {
        Ok(Fleet {
            tags: parse("fleets", &self.id, &self.tags)?,
            mmsi: members
                .into_iter()
                .map(|m| mmsi_of("fleet_members", m))
                .collect::<Result<_, _>>()?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
        })
    }
}

impl AreaRow {
    pub(crate) fn of(a: &Area) -> AreaRow {
        AreaRow {
            org_id: a.org_id.clone(),
            id: a.id.clone(),
            name: a.name.clone(),
            definition: json_of(&a.definition),
        }
    }

    pub(crate) fn into_area(self) -> Result<Area, StoreError> {
        Ok(Area {
            definition: parse("areas", &self.id, &self.definition)?,
            org_id: self.org_id,
            id: self.id,
            name: self.name,
        })
    }
}

impl RuleRow {
    pub(crate) fn of(r: &Rule) -> RuleRow {
        RuleRow {
            id: r.id.clone(),
            org_id: r.org_id.clone(),
            owner: r.owner.clone(),
            enabled: r.enabled,
            definition: json_of(&r.definition),
        }
    }

    pub(crate) fn into_rule(self) -> Result<Rule, StoreError> {
        Ok(Rule {
            definition: parse("rules", &self.id, &self.definition)?,
            id: self.id,
            org_id: self.org_id,
            owner: self.owner,
            enabled: self.enabled,
        })
    }
}

impl SilenceRow {
    pub(crate) fn of(s: &Silence) -> SilenceRow {
        SilenceRow {
            id: s.id.clone(),
            org_id: s.org_id.clone(),
            matchers: json_of(&s.matchers),
            starts_at: ms(s.starts_at),
            ends_at: ms(s.ends_at),
            author: s.author.clone(),
            comment: s.comment.clone(),
        }
    }

    pub(crate) fn into_silence(self) -> Result<Silence, StoreError> {
        Ok(Silence {
            matchers: parse("silences", &self.id, &self.matchers)?,
            starts_at: from_ms("silences", &self.id, self.starts_at)?,
            ends_at: from_ms("silences", &self.id, self.ends_at)?,
            id: self.id,
            org_id: self.org_id,
            author: self.author,
            comment: self.comment,
        })
    }
}

impl TokenRow {
    pub(crate) fn into_token(self) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            role: Role::parse(&self.role)
                .ok_or_else(|| corrupt("api_tokens", &self.id, "unknown role"))?,
            created_at: from_ms("api_tokens", &self.id, self.created_at)?,
            revoked_at: self
                .revoked_at
                .map(|at| from_ms("api_tokens", &self.id, at))
                .transpose()?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
        })
    }
}

impl AuditRow {
    pub(crate) fn into_entry(self) -> Result<AuditEntry, StoreError> {
        let id = self.id.to_string();
        Ok(AuditEntry {
            id: self.id,
            at: from_ms("audit", &id, self.at)?,
            org_id: self.org_id,
            audit: Audit {
                actor: self.actor,
                action: self.action,
                object: self.object,
                detail: parse("audit", &id, &self.detail)?,
            },
        })
    }
}
