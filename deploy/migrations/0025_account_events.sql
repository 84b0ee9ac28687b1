-- The last account_update webhook of a number's WhatsApp Business Account (ACCOUNT_RESTRICTION,
-- DISABLED_UPDATE, ACCOUNT_VIOLATION, PARTNER_APP_UNINSTALLED, ...) and when it came, for
-- Settings: Meta's word that the account was restricted, banned or disconnected. Every number
-- of the account carries it (the update is the account's, not one number's).
ALTER TABLE whatsapp_numbers ADD COLUMN account_event text
  CHECK (account_event ~ '^[A-Z_]{1,64}$');
ALTER TABLE whatsapp_numbers ADD COLUMN account_updated_at timestamptz;
