-- Tracker state of the multi-instance mode: one row per vessel of each partition of the
-- observation log (a vessel is in exactly one partition). Written in the partition's fenced
-- transaction together with its events, notifications and the log sequence.
CREATE TABLE IF NOT EXISTS partition_checkpoints (
    partition  INTEGER NOT NULL,
    mmsi       BIGINT  NOT NULL,
    data       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (partition, mmsi)
);
