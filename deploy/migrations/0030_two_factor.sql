-- Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and single-use recovery codes.
--
-- users.two_factor_enabled_at says who has it on (the team list and /me read it). The secret
-- and the codes live apart, readable and writable only in the auth flows' transactions (tenant
-- role 'system'; a manager's reset of a member runs there too, after the route's checks).
ALTER TABLE users ADD COLUMN two_factor_enabled_at timestamptz;

-- One row per user (id = the user's id). enabled_at NULL: set up but not confirmed yet, valid
-- until setup_expires_at. last_step: the newest time step accepted, so a code works once.
CREATE TABLE user_two_factor (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  secret_enc bytea NOT NULL,
  enabled_at timestamptz,
  setup_expires_at timestamptz,
  last_step bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
  CHECK ((enabled_at IS NULL) <> (setup_expires_at IS NULL))
);
SELECT app.apply_tenant_rls('user_two_factor');
GRANT SELECT, INSERT, UPDATE, DELETE ON user_two_factor TO majlis_app;

-- Recovery codes: a keyed hash each (the code itself is shown once), used at most once.
CREATE TABLE user_recovery_codes (
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  code_hash bytea NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, code_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('user_recovery_codes');
GRANT SELECT, INSERT, UPDATE, DELETE ON user_recovery_codes TO majlis_app;

CREATE POLICY user_two_factor_auth_only ON user_two_factor AS RESTRICTIVE FOR ALL TO majlis_app
  USING ((SELECT app.current_user_role()) = 'system')
  WITH CHECK ((SELECT app.current_user_role()) = 'system');
CREATE POLICY user_recovery_codes_auth_only ON user_recovery_codes AS RESTRICTIVE FOR ALL
  TO majlis_app
  USING ((SELECT app.current_user_role()) = 'system')
  WITH CHECK ((SELECT app.current_user_role()) = 'system');

-- Turning two-factor sign-in on or off (or a manager's reset) signs out every other session.
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check,
  ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'reuse_detected', 'password_changed', 'deactivated', 'expired',
     'two_factor_changed'));
