-- Outbound webhook endpoint URLs encrypted at rest (hardening of 0015).
--
-- An endpoint URL can carry a receiver's credentials (https://hooks.example/…?token=…, basic
-- auth in the authority) and tells who the tenant integrates with; it is stored like every other
-- tenant secret from now on. url_enc: the URL under field "webhook_endpoints.url"
-- (majlis.crypto: AES-256-GCM, associated data binding tenant and column).
--
-- The existing rows cannot be moved here: the encryption keys live only in the services'
-- settings, never in the database, so SQL cannot encrypt. `url` therefore becomes nullable and
-- holds only rows written before this migration; Python seals them (url → url_enc, url cleared,
-- in one UPDATE per row): the broadcast service at start-up, before it serves, and
-- `python -m majlis.crypto.reencrypt` (majlis.crypto.columns.PLAINTEXT_COLUMNS). The code writes
-- url_enc only, and reads url only as the fallback for a row not sealed yet.
ALTER TABLE webhook_endpoints ADD COLUMN url_enc bytea;
ALTER TABLE webhook_endpoints ALTER COLUMN url DROP NOT NULL;
-- Exactly one of the two holds the URL: a sealed row keeps no plaintext copy.
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_url_sealed_once
  CHECK ((url IS NULL) <> (url_enc IS NULL));
