-- Claims are fair across organisations (issue 9): the claim walks the organisations with
-- claimable realtime rows (one probe each, a loose index scan) and takes each one's oldest due
-- rows. Same predicate as outbox_claim, so the planner matches the claim's WHERE to it; it
-- replaces outbox_claim (the claim was its only user), so a state change still maintains one
-- claim index, not two.
CREATE INDEX IF NOT EXISTS outbox_claim_org ON outbox (org_id, available_at) WHERE delivery = 'realtime' AND state IN ('pending', 'leased', 'retry_scheduled');
DROP INDEX IF EXISTS outbox_claim;
