-- Relays serve the tenants with events round robin (majlis.messaging.outbox): each round reads
-- every tenant's oldest rows in seq order, which this index answers directly, so one tenant's
-- backlog of thousands of events no longer hides the other tenants' events behind it. The
-- index on seq alone served the old head-of-the-outbox read, which nothing does any more.
CREATE INDEX outbox_tenant_seq_idx ON outbox (tenant_id, seq);
DROP INDEX outbox_relay_seq_idx;
