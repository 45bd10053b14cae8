-- The multi-instance mode (PostgreSQL) keeps tracker state per log partition; the table
-- exists on SQLite too so both backends have one schema (it stays empty here).
CREATE TABLE IF NOT EXISTS partition_checkpoints (
    partition  INTEGER NOT NULL,
    mmsi       INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (partition, mmsi)
);
