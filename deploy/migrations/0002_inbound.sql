-- Inbound pipeline: media of inbound messages and statuses that arrived before their message.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and unique
-- constraints include tenant_id, indexes lead with tenant_id, foreign keys carry tenant_id.

-- Media of inbound messages. Meta's id, type and hash are stored with the message at once;
-- the file is downloaded afterwards (Meta keeps inbound media for 7 days, download URLs for
-- 5 minutes) and stored as AES-256-GCM ciphertext (field "media.content").
CREATE TABLE media (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  message_id uuid NOT NULL,
  number_id uuid NOT NULL,
  -- Meta's media id is a Graph node id: it becomes a URL path segment.
  meta_media_id text NOT NULL CHECK (meta_media_id ~ '^[A-Za-z0-9_-]{1,128}$'),
  mime_type text NOT NULL CHECK (length(mime_type) BETWEEN 1 AND 255),
  sha256 text CHECK (length(sha256) <= 128),
  file_size bigint CHECK (file_size >= 0),
  content_enc bytea,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'stored', 'failed')),
  -- Why a download failed for good: a short reason code of ours, never Meta's text.
  failure text CHECK (length(failure) <= 64),
  fetched_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- An inbound WhatsApp message carries at most one media object.
  UNIQUE (tenant_id, message_id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE,
  CHECK (status <> 'stored' OR content_enc IS NOT NULL)
);
CREATE INDEX media_tenant_number_idx ON media (tenant_id, number_id);
SELECT app.apply_tenant_rls('media');
GRANT SELECT, INSERT, UPDATE, DELETE ON media TO majlis_app;

-- Statuses whose outbound message is not known yet (the status webhook overtook the send
-- result). Applied, in order, when the message gets its wamid; one row per wamid and status
-- so a redelivered status is stored once.
CREATE TABLE pending_statuses (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  wamid text NOT NULL CHECK (length(wamid) BETWEEN 1 AND 255),
  status text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
  status_at timestamptz,
  error_code integer,
  error_title text CHECK (length(error_title) <= 200),
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, wamid, status)
);
-- Rows whose message never appears (sent outside the platform) are purged by age.
CREATE INDEX pending_statuses_tenant_received_idx ON pending_statuses (tenant_id, received_at);
SELECT app.apply_tenant_rls('pending_statuses');
GRANT SELECT, INSERT, DELETE ON pending_statuses TO majlis_app;
