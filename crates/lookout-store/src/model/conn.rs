//! The model's SQL, written once in [`model_conn!`] and compiled for `SqliteConnection` and
//! `PgConnection` (the same runtime SQL serves both: `$n` parameters, `ON CONFLICT`, JSON as
//! TEXT). Every statement on an organisation's object filters on `org_id`; lookups by id alone
//! (`*_owner`) exist only to tell an upsert that the id belongs to someone else.

/// One row of `users`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) timezone: String,
    pub(crate) locale: String,
    pub(crate) channels: String,
    pub(crate) enabled: bool,
    pub(crate) deleted: bool,
}

/// One row of `vessels`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct VesselRow {
    pub(crate) org_id: String,
    pub(crate) mmsi: i64,
    pub(crate) name: Option<String>,
    pub(crate) tags: String,
}

/// One row of `fleets` with its members (`members`: JSON array, filled by a second query).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct FleetRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) name: String,
    pub(crate) tags: String,
}

/// One row of `areas`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct AreaRow {
    pub(crate) org_id: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) definition: String,
}

/// One row of `rules`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct RuleRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) owner: String,
    pub(crate) enabled: bool,
    pub(crate) definition: String,
}

/// One row of `silences`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct SilenceRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) matchers: String,
    pub(crate) starts_at: i64,
    pub(crate) ends_at: i64,
    pub(crate) author: String,
    pub(crate) comment: String,
}

/// One row of `api_tokens` (without the hash).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) id: String,
    pub(crate) org_id: Option<String>,
    pub(crate) role: String,
    pub(crate) name: String,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

/// One row of `audit`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub(crate) id: i64,
    pub(crate) at: i64,
    pub(crate) org_id: Option<String>,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) object: String,
    pub(crate) detail: String,
}

/// The model's statements on one connection (or transaction).
pub(crate) trait ModelConn {
    async fn now_ms(&mut self) -> sqlx::Result<i64>;

    async fn org_get(&mut self, id: &str) -> sqlx::Result<Option<(String, String)>>;
    async fn org_put(&mut self, id: &str, name: &str, now: i64) -> sqlx::Result<()>;
    async fn org_list(&mut self) -> sqlx::Result<Vec<(String, String)>>;

    async fn user_owner(&mut self, id: &str) -> sqlx::Result<Option<UserRow>>;
    async fn user_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<UserRow>>;
    async fn user_put(&mut self, u: &UserRow, now: i64) -> sqlx::Result<()>;
    async fn user_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<UserRow>>;

    async fn vessel_get(&mut self, org: &str, mmsi: i64) -> sqlx::Result<Option<VesselRow>>;
    async fn vessel_put(&mut self, v: &VesselRow, now: i64) -> sqlx::Result<()>;
    async fn vessel_list(&mut self, org: &str, after: i64, n: i64) -> sqlx::Result<Vec<VesselRow>>;
    async fn vessel_delete(&mut self, org: &str, mmsi: i64) -> sqlx::Result<u64>;

    async fn fleet_owner(&mut self, id: &str) -> sqlx::Result<Option<FleetRow>>;
    async fn fleet_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<FleetRow>>;
    async fn fleet_members(&mut self, org: &str, id: &str) -> sqlx::Result<Vec<i64>>;
    async fn fleet_put(&mut self, f: &FleetRow, members: &[i64], now: i64) -> sqlx::Result<()>;
    async fn fleet_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<FleetRow>>;
    async fn fleet_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64>;

    async fn area_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<AreaRow>>;
    async fn area_put(&mut self, a: &AreaRow, now: i64) -> sqlx::Result<()>;
    async fn area_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<AreaRow>>;
    async fn area_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64>;

    async fn rule_owner(&mut self, id: &str) -> sqlx::Result<Option<RuleRow>>;
    async fn rule_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<RuleRow>>;
    async fn rule_put(&mut self, r: &RuleRow, now: i64) -> sqlx::Result<()>;
    async fn rule_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<RuleRow>>;
    async fn rule_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64>;

    async fn silence_owner(&mut self, id: &str) -> sqlx::Result<Option<SilenceRow>>;
    async fn silence_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<SilenceRow>>;
    async fn silence_put(&mut self, s: &SilenceRow, now: i64) -> sqlx::Result<()>;
    async fn silence_list(
        &mut self,
        org: &str,
        after: &str,
        n: i64,
    ) -> sqlx::Result<Vec<SilenceRow>>;
    async fn silence_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64>;
    async fn silences_ending_after(&mut self, after: i64) -> sqlx::Result<Vec<SilenceRow>>;
    async fn audit_version(&mut self) -> sqlx::Result<(i64, i64)>;

    async fn token_insert(&mut self, t: &TokenRow, hash: &str) -> sqlx::Result<()>;
    async fn token_by_hash(&mut self, hash: &str) -> sqlx::Result<Option<TokenRow>>;
    async fn token_list(&mut self) -> sqlx::Result<Vec<TokenRow>>;
    async fn token_revoke(&mut self, id: &str, now: i64) -> sqlx::Result<u64>;
    async fn token_list_org(&mut self, org: &str) -> sqlx::Result<Vec<TokenRow>>;
    async fn token_revoke_org(&mut self, org: &str, id: &str, now: i64) -> sqlx::Result<u64>;

    async fn audit_insert(
        &mut self,
        org: Option<&str>,
        a: &super::Audit,
        now: i64,
    ) -> sqlx::Result<()>;
    async fn audit_list(&mut self, org: &str, after: i64, n: i64) -> sqlx::Result<Vec<AuditRow>>;
}

/// The bodies of [`ModelConn`] for one connection type.
macro_rules! model_conn {
    ($conn:ty, $now:expr) => {
        impl ModelConn for $conn {
            async fn now_ms(&mut self) -> sqlx::Result<i64> {
                sqlx::query_scalar($now).fetch_one(&mut *self).await
            }

            async fn org_get(&mut self, id: &str) -> sqlx::Result<Option<(String, String)>> {
                sqlx::query_as("SELECT id, name FROM organisations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn org_put(&mut self, id: &str, name: &str, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO organisations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
                )
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn org_list(&mut self) -> sqlx::Result<Vec<(String, String)>> {
                sqlx::query_as("SELECT id, name FROM organisations ORDER BY id")
                    .fetch_all(&mut *self)
                    .await
            }

            async fn user_owner(&mut self, id: &str) -> sqlx::Result<Option<UserRow>> {
                sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn user_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<UserRow>> {
                sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users WHERE org_id = $1 AND id = $2"))
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn user_put(&mut self, u: &UserRow, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, org_id, name, email, timezone, locale, channels, enabled, deleted, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, \
                     timezone = excluded.timezone, locale = excluded.locale, channels = excluded.channels, \
                     enabled = excluded.enabled, deleted = excluded.deleted, updated_at = excluded.updated_at \
                     WHERE users.org_id = excluded.org_id",
                )
                .bind(&u.id)
                .bind(&u.org_id)
                .bind(&u.name)
                .bind(&u.email)
                .bind(&u.timezone)
                .bind(&u.locale)
                .bind(&u.channels)
                .bind(u.enabled)
                .bind(u.deleted)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn user_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<UserRow>> {
                sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn vessel_get(&mut self, org: &str, mmsi: i64) -> sqlx::Result<Option<VesselRow>> {
                sqlx::query_as("SELECT org_id, mmsi, name, tags FROM vessels WHERE org_id = $1 AND mmsi = $2")
                    .bind(org)
                    .bind(mmsi)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn vessel_put(&mut self, v: &VesselRow, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO vessels (org_id, mmsi, name, tags, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (org_id, mmsi) DO UPDATE SET name = excluded.name, tags = excluded.tags, updated_at = excluded.updated_at",
                )
                .bind(&v.org_id)
                .bind(v.mmsi)
                .bind(&v.name)
                .bind(&v.tags)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn vessel_list(&mut self, org: &str, after: i64, n: i64) -> sqlx::Result<Vec<VesselRow>> {
                sqlx::query_as("SELECT org_id, mmsi, name, tags FROM vessels WHERE org_id = $1 AND mmsi > $2 ORDER BY mmsi LIMIT $3")
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn vessel_delete(&mut self, org: &str, mmsi: i64) -> sqlx::Result<u64> {
                sqlx::query("DELETE FROM vessels WHERE org_id = $1 AND mmsi = $2")
                    .bind(org)
                    .bind(mmsi)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn fleet_owner(&mut self, id: &str) -> sqlx::Result<Option<FleetRow>> {
                sqlx::query_as("SELECT id, org_id, name, tags FROM fleets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn fleet_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<FleetRow>> {
                sqlx::query_as("SELECT id, org_id, name, tags FROM fleets WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn fleet_members(&mut self, org: &str, id: &str) -> sqlx::Result<Vec<i64>> {
                sqlx::query_scalar("SELECT mmsi FROM fleet_members WHERE org_id = $1 AND fleet_id = $2 ORDER BY mmsi")
                    .bind(org)
                    .bind(id)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn fleet_put(&mut self, f: &FleetRow, members: &[i64], now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO fleets (id, org_id, name, tags, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, tags = excluded.tags, updated_at = excluded.updated_at \
                     WHERE fleets.org_id = excluded.org_id",
                )
                .bind(&f.id)
                .bind(&f.org_id)
                .bind(&f.name)
                .bind(&f.tags)
                .bind(now)
                .execute(&mut *self)
                .await?;
                sqlx::query("DELETE FROM fleet_members WHERE org_id = $1 AND fleet_id = $2")
                    .bind(&f.org_id)
                    .bind(&f.id)
                    .execute(&mut *self)
                    .await?;
                for mmsi in members {
                    sqlx::query("INSERT INTO fleet_members (org_id, fleet_id, mmsi) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(&f.org_id)
                        .bind(&f.id)
                        .bind(mmsi)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }

            async fn fleet_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<FleetRow>> {
                sqlx::query_as("SELECT id, org_id, name, tags FROM fleets WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn fleet_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64> {
                sqlx::query("DELETE FROM fleet_members WHERE org_id = $1 AND fleet_id = $2")
                    .bind(org)
                    .bind(id)
                    .execute(&mut *self)
                    .await?;
                sqlx::query("DELETE FROM fleets WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn area_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<AreaRow>> {
                sqlx::query_as("SELECT org_id, id, name, definition FROM areas WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn area_put(&mut self, a: &AreaRow, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO areas (org_id, id, name, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at",
                )
                .bind(&a.org_id)
                .bind(&a.id)
                .bind(&a.name)
                .bind(&a.definition)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn area_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<AreaRow>> {
                sqlx::query_as("SELECT org_id, id, name, definition FROM areas WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn area_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64> {
                sqlx::query("DELETE FROM areas WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn rule_owner(&mut self, id: &str) -> sqlx::Result<Option<RuleRow>> {
                sqlx::query_as("SELECT id, org_id, owner, enabled, definition FROM rules WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn rule_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<RuleRow>> {
                sqlx::query_as("SELECT id, org_id, owner, enabled, definition FROM rules WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn rule_put(&mut self, r: &RuleRow, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO rules (id, org_id, owner, enabled, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, enabled = excluded.enabled, \
                     definition = excluded.definition, updated_at = excluded.updated_at WHERE rules.org_id = excluded.org_id",
                )
                .bind(&r.id)
                .bind(&r.org_id)
                .bind(&r.owner)
                .bind(r.enabled)
                .bind(&r.definition)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn rule_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<RuleRow>> {
                sqlx::query_as("SELECT id, org_id, owner, enabled, definition FROM rules WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn rule_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64> {
                sqlx::query("DELETE FROM rules WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn silence_owner(&mut self, id: &str) -> sqlx::Result<Option<SilenceRow>> {
                sqlx::query_as(concat!("SELECT ", silence_cols!(), " FROM silences WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn silence_get(&mut self, org: &str, id: &str) -> sqlx::Result<Option<SilenceRow>> {
                sqlx::query_as(concat!("SELECT ", silence_cols!(), " FROM silences WHERE org_id = $1 AND id = $2"))
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn silence_put(&mut self, s: &SilenceRow, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO silences (id, org_id, matchers, starts_at, ends_at, author, comment, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                     ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at, \
                     ends_at = excluded.ends_at, author = excluded.author, comment = excluded.comment, \
                     updated_at = excluded.updated_at WHERE silences.org_id = excluded.org_id",
                )
                .bind(&s.id)
                .bind(&s.org_id)
                .bind(&s.matchers)
                .bind(s.starts_at)
                .bind(s.ends_at)
                .bind(&s.author)
                .bind(&s.comment)
                .bind(now)
                .execute(&mut *self)
                .await
                .map(drop)
            }

            async fn silence_list(&mut self, org: &str, after: &str, n: i64) -> sqlx::Result<Vec<SilenceRow>> {
                sqlx::query_as(concat!("SELECT ", silence_cols!(), " FROM silences WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn silence_delete(&mut self, org: &str, id: &str) -> sqlx::Result<u64> {
                sqlx::query("DELETE FROM silences WHERE org_id = $1 AND id = $2")
                    .bind(org)
                    .bind(id)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn silences_ending_after(&mut self, after: i64) -> sqlx::Result<Vec<SilenceRow>> {
                sqlx::query_as(concat!("SELECT ", silence_cols!(), " FROM silences WHERE ends_at > $1 ORDER BY org_id, id"))
                    .bind(after)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn audit_version(&mut self) -> sqlx::Result<(i64, i64)> {
                // Not COUNT(*) of the whole table (a scan that grows with the audit log): the
                // rows among the newest 1,000 ids, which still changes when a lower id commits
                // after a higher one (PostgreSQL), via the primary key index.
                sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM audit WHERE id > m.max_id - 1000), m.max_id \
                     FROM (SELECT COALESCE(MAX(id), 0) AS max_id FROM audit) AS m",
                )
                    .fetch_one(&mut *self)
                    .await
            }

            async fn token_insert(&mut self, t: &TokenRow, hash: &str) -> sqlx::Result<()> {
                sqlx::query("INSERT INTO api_tokens (id, org_id, role, name, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)")
                    .bind(&t.id)
                    .bind(&t.org_id)
                    .bind(&t.role)
                    .bind(&t.name)
                    .bind(hash)
                    .bind(t.created_at)
                    .execute(&mut *self)
                    .await
                    .map(drop)
            }

            async fn token_by_hash(&mut self, hash: &str) -> sqlx::Result<Option<TokenRow>> {
                sqlx::query_as("SELECT id, org_id, role, name, created_at, revoked_at FROM api_tokens WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn token_list(&mut self) -> sqlx::Result<Vec<TokenRow>> {
                sqlx::query_as("SELECT id, org_id, role, name, created_at, revoked_at FROM api_tokens ORDER BY created_at, id")
                    .fetch_all(&mut *self)
                    .await
            }

            async fn token_revoke(&mut self, id: &str, now: i64) -> sqlx::Result<u64> {
                sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn token_list_org(&mut self, org: &str) -> sqlx::Result<Vec<TokenRow>> {
                sqlx::query_as("SELECT id, org_id, role, name, created_at, revoked_at FROM api_tokens WHERE org_id = $1 ORDER BY created_at, id")
                    .bind(org)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn token_revoke_org(&mut self, org: &str, id: &str, now: i64) -> sqlx::Result<u64> {
                sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL")
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map(|r| r.rows_affected())
            }

            async fn audit_insert(&mut self, org: Option<&str>, a: &super::Audit, now: i64) -> sqlx::Result<()> {
                sqlx::query("INSERT INTO audit (at, org_id, actor, action, object, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(now)
                    .bind(org)
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.object)
                    .bind(a.detail.to_string())
                    .execute(&mut *self)
                    .await
                    .map(drop)
            }

            async fn audit_list(&mut self, org: &str, after: i64, n: i64) -> sqlx::Result<Vec<AuditRow>> {
                sqlx::query_as("SELECT id, at, org_id, actor, action, object, detail FROM audit WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(org)
                    .bind(after)
                    .bind(n)
                    .fetch_all(&mut *self)
                    .await
            }
        }
    };
}

macro_rules! user_cols {
    () => {
        "id, org_id, name, email, timezone, locale, channels, enabled, deleted"
    };
}

macro_rules! silence_cols {
    () => {
        "id, org_id, matchers, starts_at, ends_at, author, comment"
    };
}

model_conn!(sqlx::SqliteConnection, crate::store::SQLITE_NOW_MS);
model_conn!(sqlx::PgConnection, crate::store::PG_NOW_MS);
