-- Tracking configurations of the multi-instance mode (issues 10 and 12): what the trackers
-- run (areas, gap thresholds, dwells), stored once under a hash of its content. A model
-- change is published into every partition of the observation log as a record naming the
-- id, so each partition switches at a recorded position and a replay switches at the same
-- one; each partition's configuration in force is committed with its checkpoint.
CREATE TABLE IF NOT EXISTS tracker_specs (
    id         TEXT   PRIMARY KEY,
    spec       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS partition_tracker_specs (
    partition INTEGER PRIMARY KEY,
    spec_id   TEXT    NOT NULL
);
