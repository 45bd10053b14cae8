-- The model (issue 12): organisations and everything they configure, API tokens and the audit
-- log. Every per-organisation table carries org_id and every query filters on it. Ids of users,
-- rules, fleets, silences and tokens are unique across organisations (notifications and digests
-- name them without an organisation); areas and vessels are keyed per organisation. JSON columns
-- hold the configuration's own form (see crates/lookout-store/src/model). Times are Unix ms.

CREATE TABLE organisations (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE users (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    name       TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    timezone   TEXT    NOT NULL,
    locale     TEXT    NOT NULL,
    channels   TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL,
    deleted    BOOLEAN NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX users_org ON users (org_id, id);

CREATE TABLE vessels (
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    mmsi       BIGINT  NOT NULL,
    name       TEXT,
    tags       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (org_id, mmsi)
);

CREATE TABLE fleets (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    name       TEXT    NOT NULL,
    tags       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX fleets_org ON fleets (org_id, id);

CREATE TABLE fleet_members (
    org_id   TEXT    NOT NULL REFERENCES organisations (id),
    fleet_id TEXT    NOT NULL REFERENCES fleets (id) ON DELETE CASCADE,
    mmsi     BIGINT  NOT NULL,
    PRIMARY KEY (fleet_id, mmsi)
);

CREATE TABLE areas (
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    definition TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE rules (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    owner      TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL,
    definition TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX rules_org ON rules (org_id, id);

CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES organisations (id),
    matchers   TEXT    NOT NULL,
    starts_at  BIGINT  NOT NULL,
    ends_at    BIGINT  NOT NULL,
    author     TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX silences_org ON silences (org_id, id);
CREATE INDEX silences_active ON silences (org_id, ends_at);

CREATE TABLE api_tokens (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    REFERENCES organisations (id),
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'editor', 'viewer', 'operator')),
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT,
    CHECK ((role = 'operator') = (org_id IS NULL))
);

CREATE TABLE audit (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT  NOT NULL,
    org_id   TEXT,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    object   TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
CREATE INDEX audit_org ON audit (org_id, id);
