//! The model's [`Store`] methods: typed objects in, typed objects out, each write (with its
//! audit record) in one transaction, every read and write scoped to one organisation.

use super::conn::{
    AreaRow, AuditRow, ModelConn, RuleRow, SilenceRow, TokenRow, UserRow, VesselRow,
};
use super::upsert::{put_area, put_fleet, put_org, put_rule, put_silence, put_user, put_vessel};
use super::{
    ApiToken, Area, Audit, AuditEntry, Fleet, Organisation, Role, Rule, Silence, Upserted, User,
    Vessel,
};
use crate::error::{DbContext, StoreError};
use crate::store::{Store, in_tx, on_pool};
use jiff::Timestamp;

/// Where a page of a list starts and how long it is: objects after `after` (an id, or an
/// MMSI for vessels, or an audit sequence number), in id order, at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The last id of the previous page; `None` for the first page.
    pub after: Option<String>,
    /// Page size (the caller caps it).
    pub limit: u32,
}

impl Cursor {
    /// The first page of `limit` objects.
    pub fn first(limit: u32) -> Cursor {
        Cursor { after: None, limit }
    }

    fn after_str(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    fn after_num(&self) -> i64 {
        self.after
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(-1)
    }

    fn n(&self) -> i64 {
        i64::from(self.limit)
    }
}

/// A version of the model ([`Store::model_version`]): different after any committed write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelVersion {
    /// Audit records among the newest 1,000 ids.
    pub count: i64,
    /// The highest audit id.
    pub max: i64,
}

/// How many objects of each kind an import created, updated or left unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelCounts {
    /// `(kind, what happened)` → count, e.g. `("rule", Created)`.
    pub counts: std::collections::BTreeMap<(&'static str, Upserted), u64>,
}

impl ModelCounts {
    /// Counts one outcome.
    pub fn add(&mut self, kind: &'static str, what: Upserted) {
        *self.counts.entry((kind, what)).or_default() += 1;
    }

    /// The number of objects created or updated.
    pub fn changed(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((_, w), _)| *w != Upserted::Unchanged)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Declares `Store::$name(&self, obj, audit) -> Upserted`: one upsert and its audit record in
/// one transaction.
macro_rules! put_method {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $f:ident, $op:literal) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// [`StoreError::Conflict`] when the id belongs to another organisation; a database error.
        pub async fn $name(&self, obj: &$ty, audit: &Audit) -> Result<Upserted, StoreError> {
            Ok(in_tx!(self, $op, tx => {
                let now = tx.now_ms().await.ctx($op)?;
                $f(&mut *tx, obj, Some(audit), now).await?
            }))
        }
    };
}

/// Declares `Store::$name(&self, org, id, audit) -> bool` (true when a row was deleted).
macro_rules! delete_method {
    ($(#[$doc:meta])* $name:ident, $id:ty, $f:ident, $op:literal) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// A database error.
        pub async fn $name(&self, org: &str, id: $id, audit: &Audit) -> Result<bool, StoreError> {
            Ok(in_tx!(self, $op, tx => {
                let now = tx.now_ms().await.ctx($op)?;
                let n = tx.$f(org, id).await.ctx($op)?;
                if n > 0 {
                    tx.audit_insert(Some(org), audit, now).await.ctx($op)?;
                }
                n > 0
            }))
        }
    };
}

impl Store {
    put_method!(
        /// Creates or renames an organisation.
        put_org, Organisation, put_org, "writing an organisation"
    );
    put_method!(
        /// Creates or replaces a user (of `user.org_id`).
        put_user, User, put_user, "writing a user"
    );
    put_method!(
        /// Creates or replaces a vessel of `vessel.org_id`.
        put_vessel, Vessel, put_vessel, "writing a vessel"
    );
    put_method!(
        /// Creates or replaces a fleet and its members.
        put_fleet, Fleet, put_fleet, "writing a fleet"
    );
    put_method!(
        /// Creates or replaces an area of `area.org_id`.
        put_area, Area, put_area, "writing an area"
    );
    put_method!(
        /// Creates or replaces a rule.
        put_rule, Rule, put_rule, "writing a rule"
    );
    put_method!(
        /// Creates or replaces a silence (expire one by setting `ends_at`).
        put_silence, Silence, put_silence, "writing a silence"
    );
    delete_method!(
        /// Deletes a fleet of `org`.
        delete_fleet, &str, fleet_delete, "deleting a fleet"
    );
    delete_method!(
        /// Deletes an area of `org`.
        delete_area, &str, area_delete, "deleting an area"
    );
    delete_method!(
        /// Deletes a rule of `org`.
        delete_rule, &str, rule_delete, "deleting a rule"
    );
    delete_method!(
        /// Deletes a silence of `org`.
        delete_silence, &str, silence_delete, "deleting a silence"
    );

    /// Deletes vessel `mmsi` of `org`; false when `org` has no such vessel.
    ///
    /// # Errors
    /// A database error.
    pub async fn delete_vessel(
        &self,
        org: &str,
        mmsi: u32,
        audit: &Audit,
    ) -> Result<bool, StoreError> {
        const OP: &str = "deleting a vessel";
        Ok(in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let n = tx.vessel_delete(org, i64::from(mmsi)).await.ctx(OP)?;
            if n > 0 {
                tx.audit_insert(Some(org), audit, now).await.ctx(OP)?;
            }
            n > 0
        }))
    }

    /// The organisation `id`.
    ///
    /// # Errors
    /// A database error.
    pub async fn org(&self, id: &str) -> Result<Option<Organisation>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading an organisation")?;
            c.org_get(id).await.ctx("reading an organisation")?
        });
        Ok(row.map(|(id, name)| Organisation { id, name }))
    }

    /// Every organisation, by id.
    ///
    /// # Errors
    /// A database error.
    pub async fn orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing organisations")?;
            c.org_list().await.ctx("listing organisations")?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name)| Organisation { id, name })
            .collect())
    }

    /// User `id` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn user(&self, org: &str, id: &str) -> Result<Option<User>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading a user")?;
            c.user_get(org, id).await.ctx("reading a user")?
        });
        row.map(UserRow::into_user).transpose()
    }

    /// A page of `org`'s users.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn users(&self, org: &str, page: &Cursor) -> Result<Vec<User>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing users")?;
            c.user_list(org, page.after_str(), page.n()).await.ctx("listing users")?
        });
        rows.into_iter().map(UserRow::into_user).collect()
    }

    /// Vessel `mmsi` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn vessel(&self, org: &str, mmsi: u32) -> Result<Option<Vessel>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading a vessel")?;
            c.vessel_get(org, i64::from(mmsi)).await.ctx("reading a vessel")?
        });
        row.map(VesselRow::into_vessel).transpose()
    }

    /// A page of `org`'s vessels, by MMSI (the cursor is an MMSI).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn vessels(&self, org: &str, page: &Cursor) -> Result<Vec<Vessel>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing vessels")?;
            c.vessel_list(org, page.after_num(), page.n()).await.ctx("listing vessels")?
        });
        rows.into_iter().map(VesselRow::into_vessel).collect()
    }

    /// Fleet `id` of `org`, with its members.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn fleet(&self, org: &str, id: &str) -> Result<Option<Fleet>, StoreError> {
        const OP: &str = "reading a fleet";
        let found = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx(OP)?;
            match c.fleet_get(org, id).await.ctx(OP)? {
                Some(row) => Some((row, c.fleet_members(org, id).await.ctx(OP)?)),
                None => None,
            }
        });
        found.map(|(row, m)| row.into_fleet(m)).transpose()
    }

    /// A page of `org`'s fleets, with their members.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn fleets(&self, org: &str, page: &Cursor) -> Result<Vec<Fleet>, StoreError> {
        const OP: &str = "listing fleets";
        let found = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx(OP)?;
            let rows = c.fleet_list(org, page.after_str(), page.n()).await.ctx(OP)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let members = c.fleet_members(org, &row.id).await.ctx(OP)?;
                out.push((row, members));
            }
            out
        });
        found.into_iter().map(|(r, m)| r.into_fleet(m)).collect()
    }

    /// Area `id` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn area(&self, org: &str, id: &str) -> Result<Option<Area>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading an area")?;
            c.area_get(org, id).await.ctx("reading an area")?
        });
        row.map(AreaRow::into_area).transpose()
    }

    /// A page of `org`'s areas.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn areas(&self, org: &str, page: &Cursor) -> Result<Vec<Area>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing areas")?;
            c.area_list(org, page.after_str(), page.n()).await.ctx("listing areas")?
        });
        rows.into_iter().map(AreaRow::into_area).collect()
    }

    /// Rule `id` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn rule(&self, org: &str, id: &str) -> Result<Option<Rule>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading a rule")?;
            c.rule_get(org, id).await.ctx("reading a rule")?
        });
        row.map(RuleRow::into_rule).transpose()
    }

    /// A page of `org`'s rules.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn rules(&self, org: &str, page: &Cursor) -> Result<Vec<Rule>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing rules")?;
            c.rule_list(org, page.after_str(), page.n()).await.ctx("listing rules")?
        });
        rows.into_iter().map(RuleRow::into_rule).collect()
    }

    /// Silence `id` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn silence(&self, org: &str, id: &str) -> Result<Option<Silence>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading a silence")?;
            c.silence_get(org, id).await.ctx("reading a silence")?
        });
        row.map(SilenceRow::into_silence).transpose()
    }

    /// A page of `org`'s silences (expired ones included).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn silences(&self, org: &str, page: &Cursor) -> Result<Vec<Silence>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing silences")?;
            c.silence_list(org, page.after_str(), page.n()).await.ctx("listing silences")?
        });
        rows.into_iter().map(SilenceRow::into_silence).collect()
    }

    /// Every organisation's silences that end after `after` (in force or still to come), by
    /// organisation and id: what routing applies.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn silences_ending_after(
        &self,
        after: Timestamp,
    ) -> Result<Vec<Silence>, StoreError> {
        const OP: &str = "reading the silences in force";
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx(OP)?;
            c.silences_ending_after(after.as_millisecond()).await.ctx(OP)?
        });
        rows.into_iter().map(SilenceRow::into_silence).collect()
    }

    /// The model's version: changes whenever any write to the model commits (every write is
    /// audited in its own transaction and audit records are never removed: the highest id, and
    /// how many of the newest 1,000 ids are committed, so an id that commits after a higher one
    /// still changes it). Two index lookups: cheap enough to poll each second.
    ///
    /// # Errors
    /// A database error.
    pub async fn model_version(&self) -> Result<ModelVersion, StoreError> {
        const OP: &str = "reading the model version";
        let (count, max) = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx(OP)?;
            c.audit_version().await.ctx(OP)?
        });
        Ok(ModelVersion { count, max })
    }

    /// Stores a new API token under the SHA-256 `hash` of its secret (the secret itself is
    /// never stored). `org` is `None` exactly for [`Role::Operator`].
    ///
    /// # Errors
    /// A database error (an unknown organisation, a role that does not fit `org`).
    pub async fn create_token(
        &self,
        id: &str,
        org: Option<&str>,
        role: Role,
        name: &str,
        hash: &str,
        audit: &Audit,
    ) -> Result<ApiToken, StoreError> {
        const OP: &str = "creating an API token";
        let row = in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let row = TokenRow {
                id: id.to_owned(),
                org_id: org.map(str::to_owned),
                role: role.as_str().to_owned(),
                name: name.to_owned(),
                created_at: now,
                revoked_at: None,
            };
            tx.token_insert(&row, hash).await.ctx(OP)?;
            tx.audit_insert(org, audit, now).await.ctx(OP)?;
            row
        });
        row.into_token()
    }

    /// The token whose secret hashes to `hash`, revoked or not (the caller checks).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("looking up an API token")?;
            c.token_by_hash(hash).await.ctx("looking up an API token")?
        });
        row.map(TokenRow::into_token).transpose()
    }

    /// Every token of the instance (operator use), oldest first.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing API tokens")?;
            c.token_list().await.ctx("listing API tokens")?
        });
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    /// Revokes token `id`; false when there is no such live token.
    ///
    /// # Errors
    /// A database error.
    pub async fn revoke_token(&self, id: &str, audit: &Audit) -> Result<bool, StoreError> {
        const OP: &str = "revoking an API token";
        Ok(in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let n = tx.token_revoke(id, now).await.ctx(OP)?;
            if n > 0 {
                tx.audit_insert(None, audit, now).await.ctx(OP)?;
            }
            n > 0
        }))
    }

    /// `org`'s tokens (never their hashes), oldest first.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn org_tokens(&self, org: &str) -> Result<Vec<ApiToken>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("listing API tokens")?;
            c.token_list_org(org).await.ctx("listing API tokens")?
        });
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    /// Revokes token `id` of `org`; false when `org` has no such live token.
    ///
    /// # Errors
    /// A database error.
    pub async fn revoke_org_token(
        &self,
        org: &str,
        id: &str,
        audit: &Audit,
    ) -> Result<bool, StoreError> {
        const OP: &str = "revoking an API token";
        Ok(in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let n = tx.token_revoke_org(org, id, now).await.ctx(OP)?;
            if n > 0 {
                tx.audit_insert(Some(org), audit, now).await.ctx(OP)?;
            }
            n > 0
        }))
    }

    /// A page of `org`'s audit log, oldest first (the cursor is the entry id).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn audit_log(&self, org: &str, page: &Cursor) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut c = pool.acquire().await.ctx("reading the audit log")?;
            c.audit_list(org, page.after_num(), page.n()).await.ctx("reading the audit log")?
        });
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    /// Upserts a whole model (an import) in ONE transaction: organisations, users, vessels,
    /// fleets, areas, rules in that order, one audit record per change by `actor`. Either all
    /// of it is stored or none.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an id belongs to another organisation; a database error.
    pub async fn import_model(
        &self,
        model: &super::ModelSnapshot,
        actor: &str,
    ) -> Result<ModelCounts, StoreError> {
        const OP: &str = "importing the model";
        let audit = |kind: &str, id: &str| {
            Audit::new(actor, &format!("{kind}.import"), &format!("{kind}/{id}"))
        };
        Ok(in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let mut counts = ModelCounts::default();
            for o in &model.orgs {
                counts.add("organisation", put_org(&mut *tx, o, Some(&audit("organisation", &o.id)), now).await?);
            }
            for u in &model.users {
                counts.add("user", put_user(&mut *tx, u, Some(&audit("user", &u.id)), now).await?);
            }
            for v in &model.vessels {
                let a = audit("vessel", &v.mmsi.to_string());
                counts.add("vessel", put_vessel(&mut *tx, v, Some(&a), now).await?);
            }
            for f in &model.fleets {
                counts.add("fleet", put_fleet(&mut *tx, f, Some(&audit("fleet", &f.id)), now).await?);
            }
            for a in &model.areas {
                counts.add("area", put_area(&mut *tx, a, Some(&audit("area", &a.id)), now).await?);
            }
            for r in &model.rules {
                counts.add("rule", put_rule(&mut *tx, r, Some(&audit("rule", &r.id)), now).await?);
            }
            counts
        }))
    }

    /// Everything the files hold, of every organisation (for `lookout export`).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn model_snapshot(&self) -> Result<super::ModelSnapshot, StoreError> {
        const PAGE: u32 = 1000;
        let mut out = super::ModelSnapshot {
            orgs: self.orgs().await?,
            ..super::ModelSnapshot::default()
        };
        for org in out.orgs.clone() {
            let org = org.id.as_str();
            let mut page = Cursor::first(PAGE);
            loop {
                let got = self.users(org, &page).await?;
                page.after = got.last().map(|x| x.id.clone());
                let done = got.len() < PAGE as usize;
                out.users.extend(got);
                if done {
                    break;
                }
            }
            let mut page = Cursor::first(PAGE);
            loop {
                let got = self.vessels(org, &page).await?;
                page.after = got.last().map(|x| x.mmsi.to_string());
                let done = got.len() < PAGE as usize;
                out.vessels.extend(got);
                if done {
                    break;
                }
            }
            let mut page = Cursor::first(PAGE);
            loop {
                let got = self.fleets(org, &page).await?;
                page.after = got.last().map(|x| x.id.clone());
                let done = got.len() < PAGE as usize;
                out.fleets.extend(got);
                if done {
                    break;
                }
            }
            let mut page = Cursor::first(PAGE);
            loop {
                let got = self.areas(org, &page).await?;
                page.after = got.last().map(|x| x.id.clone());
                let done = got.len() < PAGE as usize;
                out.areas.extend(got);
                if done {
                    break;
                }
            }
            let mut page = Cursor::first(PAGE);
            loop {
                let got = self.rules(org, &page).await?;
                page.after = got.last().map(|x| x.id.clone());
                let done = got.len() < PAGE as usize;
                out.rules.extend(got);
                if done {
                    break;
                }
            }
        }
        Ok(out)
    }
}
