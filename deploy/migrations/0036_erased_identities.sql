-- Contacts erased for good (a data subject's erasure request, or the retention purge of a
-- contact deleted 30 days before): a marker of the number and when it was erased.
--
-- A number shared with the WhatsApp Business app (coexistence) brings back the past: the
-- app's address book and up to 180 days of its chat history come as webhooks, and the owner's
-- phone still holds what Majlis erased. What those backfills say of an erased person up to the
-- moment of erasure is not imported again (inbox.history, inbox.contact_sync); what the person
-- writes afterwards is a new conversation like any other. The marker is a keyed HMAC of the
-- contact's blind index under a key of its own (inbox.contact_keys.erasure_marker): it names no
-- number, equals no blind index (the contact's are gone with it), and only matches a number
-- the platform is given again.
CREATE TABLE erased_identities (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  phone_marker bytea NOT NULL,
  erased_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, phone_marker)
);
SELECT app.apply_tenant_rls('erased_identities');
GRANT SELECT, INSERT, UPDATE ON erased_identities TO majlis_app;
