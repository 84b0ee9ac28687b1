-- Audit: the tamper-evident, append-only audit log (one hash chain per tenant), its chain
-- heads (the append lock and the current end of each chain) and the signed heads.
--
-- Same rules as 0001 (tenant_id NOT NULL, FORCE RLS, keys and indexes lead with tenant_id),
-- with one deliberate difference: NO foreign key to tenants. The log must outlive a deleted
-- tenant, and a cascading delete would be refused by the append-only trigger anyway, which
-- would make `DELETE FROM tenants` fail for every tenant that has an audit entry.
--
-- Writers: only majlis_audit_writer (INSERT, SELECT; UPDATE on the chain heads). The
-- application role reads through RLS and can change nothing. A trigger refuses UPDATE, DELETE
-- and TRUNCATE of entries and signed heads for every role, the owner included; a superuser can
-- still bypass it, which is what the HMAC-signed heads (key outside the database) catch.

-- Refuses any change to an append-only table, whoever asks.
CREATE FUNCTION app.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION app.refuse_audit_change() FROM PUBLIC;

CREATE TABLE audit_events (
  tenant_id uuid NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  event_id uuid NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL,
  action text NOT NULL CHECK (length(action) BETWEEN 1 AND 200),
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
  actor_type text NOT NULL CHECK (length(actor_type) BETWEEN 1 AND 32),
  actor_id uuid,
  actor_role text,
  target_type text,
  target_id text,
  ip text,
  user_agent text,
  request_id text,
  correlation_id uuid,
  changes jsonb NOT NULL DEFAULT '[]',
  details jsonb NOT NULL DEFAULT '{}',
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (tenant_id, seq),
  -- Redelivered events are recognised by their id: appended once per tenant.
  UNIQUE (tenant_id, event_id)
);
-- Filters of GET /api/v1/audit/events, each ending in seq for keyset pagination.
CREATE INDEX audit_events_tenant_actor_idx ON audit_events (tenant_id, actor_id, seq);
CREATE INDEX audit_events_tenant_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_tenant_target_idx ON audit_events (tenant_id, target_type, target_id, seq);
CREATE INDEX audit_events_tenant_occurred_idx ON audit_events (tenant_id, occurred_at);
SELECT app.apply_tenant_rls('audit_events');
REVOKE ALL ON audit_events FROM majlis_app;
GRANT SELECT ON audit_events TO majlis_app;
GRANT SELECT, INSERT ON audit_events TO majlis_audit_writer;
CREATE POLICY audit_writer ON audit_events AS PERMISSIVE FOR ALL TO majlis_audit_writer
  USING (tenant_id = (SELECT app.current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION app.refuse_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION app.refuse_audit_change();

-- The end of each tenant's chain. Appenders lock this row (SELECT ... FOR UPDATE), which
-- serialises appends per tenant across every replica and keeps seq gapless.
CREATE TABLE audit_chain_heads (
  tenant_id uuid NOT NULL PRIMARY KEY,
  seq bigint NOT NULL CHECK (seq >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT app.apply_tenant_rls('audit_chain_heads');
REVOKE ALL ON audit_chain_heads FROM majlis_app;
GRANT SELECT ON audit_chain_heads TO majlis_app;
GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO majlis_audit_writer;
CREATE POLICY audit_writer ON audit_chain_heads AS PERMISSIVE FOR ALL TO majlis_audit_writer
  USING (tenant_id = (SELECT app.current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));

-- Chain heads signed at intervals with HMAC-SHA256 under a key the database never sees:
-- whoever rewrites (and re-hashes) the whole chain no longer matches an earlier signed head.
CREATE TABLE audit_heads (
  tenant_id uuid NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  signed_at timestamptz NOT NULL,
  signature bytea NOT NULL CHECK (length(signature) = 32),
  PRIMARY KEY (tenant_id, seq)
);
SELECT app.apply_tenant_rls('audit_heads');
REVOKE ALL ON audit_heads FROM majlis_app;
GRANT SELECT ON audit_heads TO majlis_app;
GRANT SELECT, INSERT ON audit_heads TO majlis_audit_writer;
CREATE POLICY audit_writer ON audit_heads AS PERMISSIVE FOR ALL TO majlis_audit_writer
  USING (tenant_id = (SELECT app.current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));
CREATE TRIGGER audit_heads_append_only BEFORE UPDATE OR DELETE ON audit_heads
  FOR EACH ROW EXECUTE FUNCTION app.refuse_audit_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
  FOR EACH STATEMENT EXECUTE FUNCTION app.refuse_audit_change();
