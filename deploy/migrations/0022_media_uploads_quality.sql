-- Media the team uploads to send (POST /api/v1/media) and numbers' quality for Settings.
--
-- An uploaded file is stored like inbound media (AES-256-GCM under field "media.content",
-- behind RLS) so the conversation view can show what was sent. It has no message until a reply
-- uses it: origin 'upload' rows keep message_id NULL; each reply that sends it gets its own
-- origin 'outbound' row tied to that message (sharing the ciphertext), so an upload sent twice
-- renders in both messages.
ALTER TABLE media ALTER COLUMN message_id DROP NOT NULL;
ALTER TABLE media ADD COLUMN origin text NOT NULL DEFAULT 'inbound'
  CHECK (origin IN ('inbound', 'upload', 'outbound'));
ALTER TABLE media ADD CONSTRAINT media_message_unless_upload
  CHECK ((origin = 'upload') = (message_id IS NULL));
-- Replies find the upload by Meta's id on their number.
CREATE INDEX media_upload_lookup_idx ON media (tenant_id, number_id, meta_media_id)
  WHERE origin = 'upload';

-- Quality of a number: Meta's rating (GREEN, YELLOW, RED, UNKNOWN...) as read when the number
-- was connected, and the last phone_number_quality_update event (ONBOARDING,
-- THROUGHPUT_UPGRADE, FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE...) with when it arrived.
ALTER TABLE whatsapp_numbers ADD COLUMN quality_rating text
  CHECK (quality_rating ~ '^[A-Z_]{1,32}$');
ALTER TABLE whatsapp_numbers ADD COLUMN quality_event text
  CHECK (quality_event ~ '^[A-Z_]{1,32}$');
ALTER TABLE whatsapp_numbers ADD COLUMN quality_updated_at timestamptz;
