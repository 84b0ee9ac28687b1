-- Relays no longer read the outbox FOR UPDATE SKIP LOCKED (migration 0028): skipping locked
-- rows let a second relay publish a tenant's later events while the first still held its
-- earlier ones, so a customer could get a flow's messages out of order. Relays now take turns
-- per tenant with transaction-scoped advisory locks (majlis.messaging.outbox), which need no
-- privilege on the table. The one-column UPDATE grant that FOR UPDATE asked for goes back:
-- the relay reads and deletes, nothing more.
REVOKE UPDATE (created_at) ON outbox FROM majlis_outbox_relay;
