-- Silences (issue 12): a notification a silence mutes is recorded, not sent: state 'silenced',
-- finished at once, with the id of the silence that muted it.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS silence_id TEXT;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_state_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('pending', 'leased', 'delivered', 'retry_scheduled', 'dead', 'expired', 'silenced'));
