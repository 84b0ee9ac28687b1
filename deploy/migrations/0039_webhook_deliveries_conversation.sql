-- A delivery of a message webhook (message.received, message.sent) carries the message's
-- content to the tenant's endpoint, so its payload holds what a customer wrote or was sent.
-- conversation_id names the conversation of that message, so that a data-subject erasure
-- (POST /api/v1/contacts/{id}/erase) deletes these copies too; other deliveries hold ids only
-- and leave it NULL. Deliveries queued before this migration have none: the log's retention
-- prunes them.
ALTER TABLE webhook_deliveries ADD COLUMN conversation_id uuid;
CREATE INDEX webhook_deliveries_tenant_conversation_idx
  ON webhook_deliveries (tenant_id, conversation_id) WHERE conversation_id IS NOT NULL;
