-- Renewal and fenced flushes address leased rows by their lease token (one statement per
-- flush or renewal for all rows of a lease); a partial index keeps that off the full table.
CREATE INDEX IF NOT EXISTS outbox_leased_token ON outbox (lease_token) WHERE state = 'leased';
CREATE INDEX IF NOT EXISTS digests_leased_token ON digests (lease_token) WHERE state = 'leased';
