-- Message templates (broadcast service): what a tenant submitted to Meta for review, and the
-- review's outcome as Meta's message_template_status_update webhooks report it.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id.
--
-- content_enc: the components (header, body, footer, buttons and their examples) as JSON,
-- AES-256-GCM under field "templates.content". Name, language and category stay in clear:
-- Meta's webhooks identify a template by them, and they are not customer data.
-- meta_template_id: Meta's id, NULL between our insert and Meta's answer (the row is
-- inserted first so the unique key, not a race, decides a duplicate).
-- status_entry_time: the webhook entry time (epoch seconds) of the status last applied; an
-- older webhook delivered late never overwrites a newer status.
CREATE TABLE templates (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  number_id uuid NOT NULL,
  waba_id text NOT NULL CHECK (waba_id ~ '^[0-9]{1,32}$'),
  name text NOT NULL CHECK (name ~ '^[a-z0-9_]+$' AND length(name) <= 512),
  language text NOT NULL CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
  category text NOT NULL CHECK (category IN ('MARKETING', 'UTILITY', 'AUTHENTICATION')),
  content_enc bytea NOT NULL,
  meta_template_id text CHECK (meta_template_id ~ '^[0-9]{1,32}$'),
  status text NOT NULL DEFAULT 'PENDING' CHECK (status ~ '^[A-Z_]{1,40}$'),
  reason text CHECK (length(reason) <= 500),
  status_entry_time bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, waba_id, name, language),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE
);
-- Keyset pages, newest first.
CREATE INDEX templates_tenant_created_idx ON templates (tenant_id, created_at DESC, id DESC);
CREATE INDEX templates_tenant_number_idx ON templates (tenant_id, number_id);
SELECT app.apply_tenant_rls('templates');
GRANT SELECT, INSERT, UPDATE, DELETE ON templates TO majlis_app;
