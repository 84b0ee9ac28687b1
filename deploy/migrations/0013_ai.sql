-- The AI chatbot's knowledge base, per-tenant AI provider settings, and captured leads
-- (chatflow service).
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id. Every *_enc column is AES-256-GCM under the
-- field name given beside it (majlis.crypto.columns lists them for key rotation).
--
-- Writes to the knowledge base and the AI settings are for owners, admins and the system only
-- (RESTRICTIVE policies, so a bug in a view cannot widen them); leads are worked by agents too.

-- FAQ entries. content_enc ("knowledge_entries.content"): JSON
-- {"questions": [...], "answers": {"ar": ..., "en": ...}}. languages: which answers exist
-- (not customer data; lets a list show it without decrypting).
CREATE TABLE knowledge_entries (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  content_enc bytea NOT NULL,
  languages text[] NOT NULL CHECK (cardinality(languages) BETWEEN 1 AND 2
                                   AND languages <@ ARRAY['ar', 'en']),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX knowledge_entries_tenant_created_idx
  ON knowledge_entries (tenant_id, created_at DESC, id DESC);

-- Text documents, chunked into passages when the in-process index is built.
-- title_enc ("knowledge_documents.title"), text_enc ("knowledge_documents.text").
CREATE TABLE knowledge_documents (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  title_enc bytea NOT NULL,
  text_enc bytea NOT NULL,
  language text NOT NULL CHECK (language IN ('ar', 'en')),
  chunk_count integer NOT NULL CHECK (chunk_count >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX knowledge_documents_tenant_created_idx
  ON knowledge_documents (tenant_id, created_at DESC, id DESC);

-- One row per tenant, bumped in the same transaction as every knowledge-base change: each
-- replica keeps a decrypted in-memory index per tenant and rebuilds it only when this moves.
CREATE TABLE knowledge_versions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  version bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id)
);

-- AI provider settings, one row per tenant (absent: the built-in answerer with defaults).
-- api_key_enc ("ai_settings.api_key") is write-only through the API; api_key_hint is the
-- masked form shown back ("sk-…abcd": at most the last four characters).
CREATE TABLE ai_settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  provider text NOT NULL DEFAULT 'builtin' CHECK (provider IN ('builtin', 'openai', 'gemini')),
  model text CHECK (model ~ '^[A-Za-z0-9._:/-]{1,100}$'),
  api_key_enc bytea,
  api_key_hint text CHECK (length(api_key_hint) <= 16),
  min_confidence real NOT NULL DEFAULT 0.5 CHECK (min_confidence BETWEEN 0 AND 1),
  timeout_seconds real NOT NULL DEFAULT 15 CHECK (timeout_seconds > 0 AND timeout_seconds <= 60),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id)
);

-- Leads: one per contact, updated as a conversation reveals more. data_enc ("leads.data"):
-- JSON of name, email, phone, company, interest, budget (amount, currency), timeline.
CREATE TABLE leads (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  contact_id uuid NOT NULL,
  conversation_id uuid,
  stage text NOT NULL DEFAULT 'new' CHECK (stage IN ('new', 'qualified', 'won', 'lost')),
  source text NOT NULL CHECK (source IN ('flow', 'ai', 'manual', 'api')),
  data_enc bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, contact_id),
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX leads_tenant_created_idx ON leads (tenant_id, created_at DESC, id DESC);
CREATE INDEX leads_tenant_stage_idx ON leads (tenant_id, stage, created_at DESC, id DESC);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['knowledge_entries', 'knowledge_documents', 'knowledge_versions',
                           'ai_settings', 'leads'] LOOP
    PERFORM app.apply_tenant_rls(t::regclass);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO majlis_app', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['knowledge_entries', 'knowledge_documents', 'knowledge_versions',
                           'ai_settings'] LOOP
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR INSERT TO majlis_app'
                   ' WITH CHECK ((SELECT app.current_user_role()) IN (''owner'', ''admin'', ''system''))',
                   t || '_insert_roles', t);
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR UPDATE TO majlis_app'
                   ' USING ((SELECT app.current_user_role()) IN (''owner'', ''admin'', ''system''))',
                   t || '_update_roles', t);
    EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR DELETE TO majlis_app'
                   ' USING ((SELECT app.current_user_role()) IN (''owner'', ''admin'', ''system''))',
                   t || '_delete_roles', t);
  END LOOP;
  -- Viewers read leads; they never add, change or delete them.
  CREATE POLICY leads_insert_roles ON leads AS RESTRICTIVE FOR INSERT TO majlis_app
    WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'agent', 'system'));
  CREATE POLICY leads_write_roles ON leads AS RESTRICTIVE FOR UPDATE TO majlis_app
    USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'agent', 'system'));
  CREATE POLICY leads_delete_roles ON leads AS RESTRICTIVE FOR DELETE TO majlis_app
    USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
END
$$;

-- The owner's AI companion: an owner's personal WhatsApp number, confirmed by a one-time code
-- sent from a business number. phone_enc ("companion_numbers.phone"), phone_bidx its blind
-- index (field "companion_numbers.phone"). code_hash: keyed HMAC of the pending code bound to
-- the row (field "companion_numbers.code"); attempts are counted and limited by the service.
-- Only owners (and the system, which answers the owner's messages) see or change these rows.
CREATE TABLE companion_numbers (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  number_id uuid NOT NULL,
  phone_enc bytea NOT NULL,
  phone_bidx bytea NOT NULL,
  code_hash bytea,
  code_expires_at timestamptz,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  verified_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, user_id),
  UNIQUE (tenant_id, phone_bidx),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('companion_numbers');
CREATE POLICY companion_owner_only ON companion_numbers AS RESTRICTIVE FOR ALL TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'system'))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON companion_numbers TO majlis_app;
