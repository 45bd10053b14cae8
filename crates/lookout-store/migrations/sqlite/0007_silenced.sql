-- Silences (issue 12): a notification a silence mutes is recorded, not sent: state 'silenced',
-- finished at once, with the id of the silence that muted it. SQLite cannot change a CHECK in
-- place, so the table is rebuilt (same columns plus silence_id) and its indexes recreated.
CREATE TABLE outbox_new (
    id               TEXT    PRIMARY KEY,
    dedupe_key       TEXT    NOT NULL UNIQUE,
    org_id           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    rule_id          TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    destination      TEXT    NOT NULL,
    delivery         TEXT    NOT NULL CHECK (delivery IN ('realtime', 'digest')),
    event            TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'retry_scheduled', 'dead', 'expired', 'silenced')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    available_at     INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    digest_id        TEXT,
    finished_at      INTEGER,
    silence_id       TEXT
);
INSERT INTO outbox_new (id, dedupe_key, org_id, user_id, rule_id, channel, destination, delivery,
                        event, state, attempt, created_at, available_at, updated_at, lease_owner,
                        lease_token, lease_expires_at, last_error, digest_id, finished_at)
    SELECT id, dedupe_key, org_id, user_id, rule_id, channel, destination, delivery, event, state,
           attempt, created_at, available_at, updated_at, lease_owner, lease_token,
           lease_expires_at, last_error, digest_id, finished_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_digest_wait ON outbox (user_id, channel, created_at) WHERE delivery = 'digest' AND digest_id IS NULL;
CREATE INDEX outbox_digest_items ON outbox (digest_id) WHERE digest_id IS NOT NULL;
CREATE INDEX outbox_leased_token ON outbox (lease_token) WHERE state = 'leased';
CREATE INDEX outbox_claim_org ON outbox (org_id, available_at) WHERE delivery = 'realtime' AND state IN ('pending', 'leased', 'retry_scheduled');
