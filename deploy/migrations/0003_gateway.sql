-- Gateway: refresh-token families (sessions), refresh tokens, API keys and team invites.
-- Same rules as 0001: tenant_id NOT NULL, FORCE RLS via app.apply_tenant_rls, keys and
-- indexes lead with tenant_id, composite foreign keys.

-- A session is a refresh-token family: one sign-in on one device.
CREATE TABLE sessions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text CHECK (revoked_reason IN
    ('logout', 'reuse_detected', 'password_changed', 'deactivated', 'expired')),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_tenant_user_idx ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;
SELECT app.apply_tenant_rls('sessions');
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO majlis_app;

-- Refresh tokens: only a keyed hash of the secret is stored. A used token points at its
-- successor so that a retry inside the grace window gets the same one.
CREATE TABLE refresh_tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  session_id uuid NOT NULL,
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  parent_id uuid,
  successor_id uuid,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_tenant_session_idx ON refresh_tokens (tenant_id, session_id);
SELECT app.apply_tenant_rls('refresh_tokens');
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO majlis_app;

-- API keys: shown once, stored as a keyed hash, never retrievable.
CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
  key_hint text NOT NULL CHECK (length(key_hint) <= 16),
  scopes text[] NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
SELECT app.apply_tenant_rls('api_keys');
-- Keys are managed by owners and admins; the system (authenticating a request) may read
-- and stamp last_used_at.
CREATE POLICY api_keys_manage ON api_keys AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY api_keys_update ON api_keys AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY api_keys_delete ON api_keys AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY api_keys_read ON api_keys AS RESTRICTIVE FOR SELECT TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO majlis_app;

-- Team invites: a single-use, expiring token; the invite link is the delivery.
CREATE TABLE invites (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  invited_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, invited_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (invited_by)
);
CREATE INDEX invites_tenant_email_idx ON invites (tenant_id, email);
SELECT app.apply_tenant_rls('invites');
CREATE POLICY invites_manage ON invites AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY invites_update ON invites AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY invites_delete ON invites AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON invites TO majlis_app;

-- Gateway writes audit events through the outbox like every other producer; the audit
-- service (a later migration) is the only writer of the audit log itself.
