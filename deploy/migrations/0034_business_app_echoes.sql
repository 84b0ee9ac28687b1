-- WhatsApp Business app coexistence: what the business sends from the app on its phone comes
-- back as `smb_message_echoes` webhooks and is stored as an outbound message of the
-- conversation (inbox.echoes), written by 'business_app' rather than by a user of ours.
ALTER TABLE messages DROP CONSTRAINT messages_sender_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_sender_kind_check
  CHECK (sender_kind IN ('customer', 'user', 'api_key', 'bot', 'campaign', 'system',
                         'business_app'));
