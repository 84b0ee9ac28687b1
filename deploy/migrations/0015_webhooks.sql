-- Outbound webhooks (broadcast service, package broadcast.integrations): the tenant's
-- endpoints and one delivery row per (endpoint, source event), fed to the delivery worker.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id.

-- Endpoints ---------------------------------------------------------------------------------
-- secret_enc: the signing secret (`whsec_...`) under field "webhook_endpoints.secret".
-- previous_secret_enc / previous_secret_expires_at: the secret a rotation replaced; it keeps
-- signing (a second `v1,` signature) until it expires.
-- failing_since / exhausted_in_row: the disable rule's counters (a success resets both).
CREATE TABLE webhook_endpoints (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 32),
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text CHECK (length(disabled_reason) <= 200),
  secret_enc bytea NOT NULL,
  previous_secret_enc bytea,
  previous_secret_expires_at timestamptz,
  failing_since timestamptz,
  exhausted_in_row integer NOT NULL DEFAULT 0,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_tenant_created_idx
  ON webhook_endpoints (tenant_id, created_at DESC, id DESC);
SELECT app.apply_tenant_rls('webhook_endpoints');
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO majlis_app;

-- Deliveries: one message per endpoint and source event -------------------------------------
-- id: the stable `webhook-id` (msg_<hex>) across retries and redeliveries.
-- payload_enc: the exact JSON body signed and sent, under "webhook_deliveries.payload" (it
-- may hold a message body).
-- state: pending (waiting for next_attempt_at) → succeeded | failed. A worker claims a due
-- row by pushing next_attempt_at one lease ahead in its own transaction; if it dies, the
-- lease runs out and the row is due again (no loss).
CREATE TABLE webhook_deliveries (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  endpoint_id uuid NOT NULL,
  source_event_id uuid NOT NULL,
  event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
  payload_enc bytea NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempt integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  first_attempt_at timestamptz,
  last_attempt_at timestamptz,
  status_code integer,
  latency_ms integer,
  error_class text CHECK (length(error_class) <= 64),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, endpoint_id, source_event_id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
    ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_tenant_log_idx
  ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
  WHERE state = 'pending';
SELECT app.apply_tenant_rls('webhook_deliveries');
-- DELETE: the worker prunes finished deliveries past the log's retention.
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO majlis_app;

-- The delivery worker asks, before it knows any tenant, which deliveries are due (ids only,
-- like app.due_campaigns()), and which tenants have endpoints (for pruning the log).
GRANT SELECT (tenant_id, id, endpoint_id, state, next_attempt_at) ON webhook_deliveries
  TO majlis_lookup;
CREATE POLICY lookup_read ON webhook_deliveries AS PERMISSIVE FOR SELECT TO majlis_lookup
  USING (true);
GRANT SELECT (tenant_id) ON webhook_endpoints TO majlis_lookup;
CREATE POLICY lookup_read ON webhook_endpoints AS PERMISSIVE FOR SELECT TO majlis_lookup
  USING (true);

CREATE FUNCTION app.due_webhook_deliveries(p_limit integer)
RETURNS TABLE (tenant_id uuid, delivery_id uuid, endpoint_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT d.tenant_id, d.id, d.endpoint_id FROM public.webhook_deliveries d
  WHERE d.state = 'pending' AND d.next_attempt_at <= now()
  ORDER BY d.next_attempt_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;
ALTER FUNCTION app.due_webhook_deliveries(integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.due_webhook_deliveries(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_webhook_deliveries(integer) TO majlis_app;

CREATE FUNCTION app.webhook_tenants()
RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT DISTINCT e.tenant_id FROM public.webhook_endpoints e
$$;
ALTER FUNCTION app.webhook_tenants() OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.webhook_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.webhook_tenants() TO majlis_app;
