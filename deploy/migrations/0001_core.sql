-- Core schema: helpers, tenants, users, WhatsApp numbers, contacts, conversations, messages,
-- the transactional outbox and the consumers' processed-messages table.
--
-- Rules every tenant table follows (checked by tests/integration/test_catalog.py):
--   tenant_id uuid NOT NULL; ENABLE + FORCE ROW LEVEL SECURITY; a policy with USING and
--   WITH CHECK keyed on (SELECT app.current_tenant_id()); every unique constraint and the
--   primary key include tenant_id; indexes lead with tenant_id; foreign keys carry tenant_id
--   so a row can never point at another tenant's row.

CREATE SCHEMA app;
REVOKE ALL ON SCHEMA app FROM PUBLIC;
GRANT USAGE ON SCHEMA app TO majlis_app, majlis_lookup, majlis_audit_writer, majlis_outbox_relay;
GRANT CREATE ON SCHEMA app TO majlis_lookup;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO majlis_app, majlis_lookup, majlis_audit_writer, majlis_outbox_relay;

-- The tenant of the current transaction. Raises when none is set, so a query made outside
-- majlis.db.tenant_transaction fails loudly instead of seeing nothing or everything.
-- current_setting(..., true) returns '' (not NULL) once a transaction-local value has ended.
CREATE FUNCTION app.current_tenant_id() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  v text := current_setting('app.tenant_id', true);
BEGIN
  IF v IS NULL OR v = '' THEN
    RAISE EXCEPTION 'no tenant context: use tenant_transaction()'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN v::uuid;
END
$$;

CREATE FUNCTION app.current_user_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT NULLIF(current_setting('app.user_role', true), '')
$$;

CREATE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

REVOKE ALL ON FUNCTION app.current_tenant_id(), app.current_user_role(), app.current_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_tenant_id(), app.current_user_role(), app.current_user_id()
  TO majlis_app, majlis_audit_writer;

-- Migration-time helper: the standard tenant wall on a table (owner only, never granted).
CREATE FUNCTION app.apply_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s AS PERMISSIVE FOR ALL TO majlis_app '
    'USING (tenant_id = (SELECT app.current_tenant_id())) '
    'WITH CHECK (tenant_id = (SELECT app.current_tenant_id()))', tbl);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', tbl);
END
$$;
REVOKE ALL ON FUNCTION app.apply_tenant_rls(regclass) FROM PUBLIC;

-- Tenants: a business. Its own id is its tenant id.
CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  plan text NOT NULL DEFAULT 'starter' CHECK (plan IN ('starter', 'business')),
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants AS PERMISSIVE FOR ALL TO majlis_app
  USING (id = (SELECT app.current_tenant_id()))
  WITH CHECK (id = (SELECT app.current_tenant_id()));
REVOKE ALL ON tenants FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO majlis_app;

-- Users: people who sign in to a tenant's dashboard.
CREATE TABLE users (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  password_hash text,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
  is_active boolean NOT NULL DEFAULT true,
  password_changed_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
SELECT app.apply_tenant_rls('users');
-- Inside a tenant, only owners, admins and the system change other people's rows;
-- anyone may update their own row (name, password).
CREATE POLICY users_write_roles ON users AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system')
         OR id = (SELECT app.current_user_id()))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system')
         OR id = (SELECT app.current_user_id()));
CREATE POLICY users_insert_roles ON users AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY users_delete_roles ON users AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO majlis_app;

-- Sign-in addresses are unique across the platform. The table is reachable only through the
-- SECURITY DEFINER functions below; the application role holds no privilege on it.
CREATE TABLE login_identities (
  email text PRIMARY KEY CHECK (email = lower(email)),
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX login_identities_tenant_user_idx ON login_identities (tenant_id, user_id);
ALTER TABLE login_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_identities FORCE ROW LEVEL SECURITY;
REVOKE ALL ON login_identities FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON login_identities TO majlis_lookup;
CREATE POLICY lookup_access ON login_identities AS PERMISSIVE FOR ALL TO majlis_lookup
  USING (true) WITH CHECK (true);

-- WhatsApp numbers of a tenant. The access token is AES-256-GCM ciphertext (majlis.crypto).
CREATE TABLE whatsapp_numbers (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  phone_number_id text NOT NULL CHECK (phone_number_id ~ '^[0-9]{1,32}$'),
  waba_id text NOT NULL CHECK (waba_id ~ '^[0-9]{1,32}$'),
  display_number text NOT NULL CHECK (length(display_number) BETWEEN 1 AND 32),
  access_token_enc bytea NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, phone_number_id)
);
CREATE INDEX whatsapp_numbers_tenant_waba_idx ON whatsapp_numbers (tenant_id, waba_id);
SELECT app.apply_tenant_rls('whatsapp_numbers');
-- Numbers and their tokens are managed by owners and admins (and the system) only.
CREATE POLICY numbers_manage ON whatsapp_numbers AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY numbers_update ON whatsapp_numbers AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY numbers_delete ON whatsapp_numbers AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON whatsapp_numbers TO majlis_app;
-- Webhook routing reads these columns of every tenant, through the functions below only.
GRANT SELECT (tenant_id, phone_number_id, waba_id, status) ON whatsapp_numbers TO majlis_lookup;
CREATE POLICY lookup_read ON whatsapp_numbers AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

-- Contacts: a tenant's customers. PII is ciphertext; *_bidx are blind indexes (keyed HMAC).
CREATE TABLE contacts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  phone_enc bytea,
  phone_bidx bytea,
  bsuid_enc bytea,
  bsuid_bidx bytea,
  name_enc bytea,
  email_enc bytea,
  attributes_enc bytea,
  marketing_opt_out boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, phone_bidx),
  UNIQUE (tenant_id, bsuid_bidx),
  CHECK (phone_bidx IS NOT NULL OR bsuid_bidx IS NOT NULL)
);
SELECT app.apply_tenant_rls('contacts');
GRANT SELECT, INSERT, UPDATE, DELETE ON contacts TO majlis_app;

-- Conversations: one thread between a contact and one of the tenant's numbers.
CREATE TABLE conversations (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  contact_id uuid NOT NULL,
  number_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
  assigned_user_id uuid,
  last_customer_message_at timestamptz,
  last_message_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, assigned_user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (assigned_user_id)
);
-- At most one unresolved conversation per contact and number.
CREATE UNIQUE INDEX conversations_one_open_idx ON conversations (tenant_id, contact_id, number_id)
  WHERE status <> 'resolved';
CREATE INDEX conversations_tenant_status_idx ON conversations (tenant_id, status, last_message_at DESC);
CREATE INDEX conversations_tenant_assignee_idx ON conversations (tenant_id, assigned_user_id);
SELECT app.apply_tenant_rls('conversations');
GRANT SELECT, INSERT, UPDATE, DELETE ON conversations TO majlis_app;

-- Messages: inbound and outbound. The body is ciphertext; wamid is unique per tenant so a
-- redelivered webhook stores nothing twice.
CREATE TABLE messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  wamid text,
  type text NOT NULL CHECK (length(type) BETWEEN 1 AND 32),
  body_enc bytea,
  status text NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
  error_code integer,
  error_title text,
  sender_user_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, wamid),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_tenant_conversation_idx ON messages (tenant_id, conversation_id, created_at);
SELECT app.apply_tenant_rls('messages');
GRANT SELECT, INSERT, UPDATE, DELETE ON messages TO majlis_app;

-- Transactional outbox: an event row commits with the change it describes; the relay
-- (role majlis_outbox_relay) publishes it with broker confirms and then deletes it.
CREATE TABLE outbox (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  routing_key text NOT NULL,
  envelope jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
-- The relay drains in commit-ish order across all tenants; this index serves only it.
CREATE INDEX outbox_relay_seq_idx ON outbox (seq);
SELECT app.apply_tenant_rls('outbox');
GRANT INSERT ON outbox TO majlis_app;
GRANT SELECT, DELETE ON outbox TO majlis_outbox_relay;
CREATE POLICY relay_drain ON outbox AS PERMISSIVE FOR ALL TO majlis_outbox_relay
  USING (true) WITH CHECK (false);

-- Processed messages: a consumer claims an event id in the same transaction as its work,
-- so a redelivered event is recognised and skipped (idempotent consumption).
CREATE TABLE processed_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  consumer text NOT NULL CHECK (length(consumer) BETWEEN 1 AND 100),
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, consumer, event_id)
);
SELECT app.apply_tenant_rls('processed_messages');
GRANT SELECT, INSERT ON processed_messages TO majlis_app;

-- Lookups before a tenant is known. SECURITY DEFINER, owned by NOLOGIN majlis_lookup,
-- search_path pinned, EXECUTE granted to the application role only. They return ids only.
CREATE FUNCTION app.tenant_for_phone_number_id(p_phone_number_id text)
RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  -- Ambiguity is never resolved by guessing: two active claims on one id route nowhere.
  SELECT min(n.tenant_id::text)::uuid FROM public.whatsapp_numbers n
  WHERE n.phone_number_id = p_phone_number_id AND n.status = 'active'
  HAVING count(DISTINCT n.tenant_id) = 1
$$;

CREATE FUNCTION app.tenant_for_waba_id(p_waba_id text)
RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT min(n.tenant_id::text)::uuid FROM public.whatsapp_numbers n
  WHERE n.waba_id = p_waba_id AND n.status = 'active'
  HAVING count(DISTINCT n.tenant_id) = 1
$$;

CREATE FUNCTION app.user_for_login(p_email text)
RETURNS TABLE (tenant_id uuid, user_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT li.tenant_id, li.user_id FROM public.login_identities li WHERE li.email = lower(p_email)
$$;

-- Claims a sign-in address for a user of the *current* tenant; false if already taken.
CREATE FUNCTION app.claim_login_email(p_email text, p_user_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'no tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO public.login_identities (email, tenant_id, user_id)
  VALUES (lower(p_email), v_tenant, p_user_id)
  ON CONFLICT (email) DO NOTHING;
  RETURN FOUND;
END
$$;

-- Releases a sign-in address of a user of the current tenant (user removed or email changed).
CREATE FUNCTION app.release_login_email(p_email text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'no tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM public.login_identities WHERE email = lower(p_email) AND tenant_id = v_tenant;
  RETURN FOUND;
END
$$;

-- Every tenant id, for platform jobs (key rotation) that then work tenant by tenant.
CREATE FUNCTION app.all_tenant_ids()
RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.id FROM public.tenants t ORDER BY t.id
$$;
GRANT SELECT (id) ON tenants TO majlis_lookup;
CREATE POLICY lookup_read ON tenants AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

ALTER FUNCTION app.tenant_for_phone_number_id(text) OWNER TO majlis_lookup;
ALTER FUNCTION app.tenant_for_waba_id(text) OWNER TO majlis_lookup;
ALTER FUNCTION app.user_for_login(text) OWNER TO majlis_lookup;
ALTER FUNCTION app.claim_login_email(text, uuid) OWNER TO majlis_lookup;
ALTER FUNCTION app.release_login_email(text) OWNER TO majlis_lookup;
ALTER FUNCTION app.all_tenant_ids() OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.tenant_for_phone_number_id(text), app.tenant_for_waba_id(text),
  app.user_for_login(text), app.claim_login_email(text, uuid), app.release_login_email(text),
  app.all_tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenant_for_phone_number_id(text), app.tenant_for_waba_id(text),
  app.user_for_login(text), app.claim_login_email(text, uuid), app.release_login_email(text),
  app.all_tenant_ids() TO majlis_app;
