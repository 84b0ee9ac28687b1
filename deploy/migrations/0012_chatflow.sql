-- Chatflows (chatflow service): flows with a draft document and immutable published versions,
-- the sessions that run them (one active per conversation), and per-node execution logs.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id.
--
-- Flow documents and triggers are the business's configuration, not customer data: kept in
-- clear (jsonb). What a run learns about a customer (session variables, node inputs/outputs in
-- the logs) is AES-256-GCM ciphertext (fields "flow_sessions.variables", "flow_logs.detail").

-- number_id NULL: the flow serves every number of the tenant. Triggers (jsonb list) and
-- priority are the flow's settings, not part of a version: changing them needs no publish.
CREATE TABLE flows (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  number_id uuid,
  priority integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
  triggers jsonb NOT NULL DEFAULT '[]',
  document jsonb NOT NULL,
  published_version_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX flows_tenant_created_idx ON flows (tenant_id, created_at DESC, id DESC);
-- Trigger matching reads the published flows of a tenant, highest priority first.
CREATE INDEX flows_tenant_published_idx ON flows (tenant_id, priority DESC, created_at)
  WHERE published_version_id IS NOT NULL;
SELECT app.apply_tenant_rls('flows');
GRANT SELECT, INSERT, UPDATE, DELETE ON flows TO majlis_app;

-- A published version never changes: the trigger below refuses every UPDATE, for every role
-- (the owner included). Versions go only with their flow.
CREATE TABLE flow_versions (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  flow_id uuid NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  document jsonb NOT NULL,
  published_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, flow_id, version),
  FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('flow_versions');
GRANT SELECT, INSERT, DELETE ON flow_versions TO majlis_app;

CREATE FUNCTION app.flow_versions_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'a published flow version is immutable' USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER flow_versions_no_update BEFORE UPDATE ON flow_versions
  FOR EACH ROW EXECUTE FUNCTION app.flow_versions_immutable();

ALTER TABLE flows ADD FOREIGN KEY (tenant_id, published_version_id)
  REFERENCES flow_versions (tenant_id, id) DEFERRABLE INITIALLY DEFERRED;

-- Editing flows is for owners and admins (and the system); the app checks too.
CREATE POLICY flows_write_roles ON flows AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY flows_update_roles ON flows AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY flows_delete_roles ON flows AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));

-- A run of one flow version in one conversation. status: running (between steps, inside one
-- transaction), waiting_input (a question, buttons or a list), waiting_timer (wait node),
-- ended. wake_at: when the wait ends or the question times out (durable timer, polled).
-- last_message_seq: the newest inbound message the session consumed; an older one arriving
-- late (redelivery, reordering) is ignored.
CREATE TABLE flow_sessions (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  flow_id uuid NOT NULL,
  version_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  current_node text NOT NULL CHECK (length(current_node) BETWEEN 1 AND 64),
  status text NOT NULL CHECK (status IN ('running', 'waiting_input', 'waiting_timer', 'ended')),
  end_reason text CHECK (length(end_reason) <= 64),
  variables_enc bytea NOT NULL,
  visits jsonb NOT NULL DEFAULT '{}',
  steps integer NOT NULL DEFAULT 0 CHECK (steps >= 0),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  wake_at timestamptz,
  last_message_seq bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, version_id) REFERENCES flow_versions (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX flow_sessions_one_active_idx ON flow_sessions (tenant_id, conversation_id)
  WHERE status <> 'ended';
CREATE INDEX flow_sessions_wake_idx ON flow_sessions (wake_at) WHERE wake_at IS NOT NULL;
SELECT app.apply_tenant_rls('flow_sessions');
GRANT SELECT, INSERT, UPDATE, DELETE ON flow_sessions TO majlis_app;

-- One row per node executed. detail_enc: the node's inputs/outputs (encrypted; may hold what
-- the customer wrote). error: our own words (never a response body or a customer's text).
CREATE TABLE flow_logs (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  flow_id uuid NOT NULL,
  version_id uuid NOT NULL,
  session_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  node_id text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 64),
  node_type text NOT NULL CHECK (length(node_type) BETWEEN 1 AND 32),
  outcome text NOT NULL CHECK (length(outcome) BETWEEN 1 AND 64),
  duration_ms integer NOT NULL CHECK (duration_ms >= 0),
  error text CHECK (length(error) <= 500),
  detail_enc bytea,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX flow_logs_tenant_flow_idx ON flow_logs (tenant_id, flow_id, created_at DESC, id DESC);
CREATE INDEX flow_logs_created_idx ON flow_logs (created_at);
SELECT app.apply_tenant_rls('flow_logs');
GRANT SELECT, INSERT, DELETE ON flow_logs TO majlis_app;

-- Durable timers: the chatflow service asks, before it knows any tenant, which sessions are
-- due, through a narrow SECURITY DEFINER function owned by NOLOGIN majlis_lookup (ids only).
GRANT SELECT (tenant_id, id, wake_at) ON flow_sessions TO majlis_lookup;
CREATE POLICY lookup_read ON flow_sessions AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

CREATE FUNCTION app.due_flow_sessions(p_limit integer)
RETURNS TABLE (tenant_id uuid, session_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.tenant_id, s.id FROM public.flow_sessions s
  WHERE s.wake_at IS NOT NULL AND s.wake_at <= now()
  ORDER BY s.wake_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;
ALTER FUNCTION app.due_flow_sessions(integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.due_flow_sessions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_flow_sessions(integer) TO majlis_app;

-- The logs' retention: which tenants hold logs older than the cut-off (ids only); the service
-- then deletes them inside each tenant's transaction.
GRANT SELECT (tenant_id, created_at) ON flow_logs TO majlis_lookup;
CREATE POLICY lookup_read ON flow_logs AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

CREATE FUNCTION app.tenants_with_flow_logs_before(p_before timestamptz)
RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT DISTINCT l.tenant_id FROM public.flow_logs l WHERE l.created_at < p_before LIMIT 1000
$$;
ALTER FUNCTION app.tenants_with_flow_logs_before(timestamptz) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.tenants_with_flow_logs_before(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenants_with_flow_logs_before(timestamptz) TO majlis_app;
