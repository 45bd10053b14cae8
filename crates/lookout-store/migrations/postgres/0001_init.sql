-- Lookout store, PostgreSQL. Times are Unix milliseconds (UTC); states are plain words (README).

CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    mmsi        BIGINT  NOT NULL,
    area_id     TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL,
    body        TEXT    NOT NULL,
    recorded_at BIGINT  NOT NULL,
    UNIQUE (mmsi, area_id, kind, at_ms)
);

CREATE TABLE outbox (
    id               TEXT    PRIMARY KEY,
    dedupe_key       TEXT    NOT NULL UNIQUE,
    org_id           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    rule_id          TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    destination      TEXT    NOT NULL,
    delivery         TEXT    NOT NULL CHECK (delivery IN ('realtime', 'digest')),
    event            TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'retry_scheduled', 'dead', 'expired')),
    attempt          BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    available_at     BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at BIGINT ,
    last_error       TEXT,
    digest_id        TEXT,
    finished_at      BIGINT 
);
CREATE INDEX outbox_claim ON outbox (available_at) WHERE delivery = 'realtime' AND state IN ('pending', 'leased', 'retry_scheduled');
CREATE INDEX outbox_digest_wait ON outbox (user_id, channel, created_at) WHERE delivery = 'digest' AND digest_id IS NULL;
CREATE INDEX outbox_digest_items ON outbox (digest_id) WHERE digest_id IS NOT NULL;

CREATE TABLE digests (
    id               TEXT    PRIMARY KEY,
    user_id          TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    destination      TEXT    NOT NULL,
    period_start     BIGINT  NOT NULL,
    period_end       BIGINT  NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'retry_scheduled', 'dead', 'expired')),
    attempt          BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    available_at     BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at BIGINT ,
    last_error       TEXT,
    finished_at      BIGINT ,
    UNIQUE (user_id, channel, period_end)
);
CREATE INDEX digests_claim ON digests (available_at) WHERE state IN ('pending', 'leased', 'retry_scheduled');

CREATE TABLE vessel_checkpoints (
    mmsi       BIGINT  PRIMARY KEY,
    data       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);
