-- Delivery history (issue 12): one row per attempt of a notification or digest (job_id) that reached an outcome (delivered, retry
-- scheduled, dead), written in the same transaction as the outcome itself, so a notification
-- shows every attempt, when and why it failed. A requeue starts the attempt count again, so
-- (job_id, attempt) may repeat; rows are ordered by id.
CREATE TABLE IF NOT EXISTS notification_attempts (
    id              INTEGER PRIMARY KEY,
    job_id TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    outcome         TEXT    NOT NULL,
    error           TEXT
);
CREATE INDEX IF NOT EXISTS notification_attempts_by_job ON notification_attempts (job_id, id);
