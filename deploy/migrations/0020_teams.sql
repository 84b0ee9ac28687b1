-- Teams ("Sales", "Support"): named groups of the tenant's people that conversations can be
-- handed to, by a person (POST .../assign) or by a flow's hand-off node.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and unique
-- constraints include tenant_id, indexes lead with tenant_id, foreign keys carry tenant_id.
-- Everyone of the tenant reads teams (the inbox filters by them); only owners, admins and the
-- system change them (the API checks the role too).

CREATE TABLE teams (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX teams_tenant_name_idx ON teams (tenant_id, lower(name));
SELECT app.apply_tenant_rls('teams');
CREATE POLICY teams_write_roles ON teams AS RESTRICTIVE FOR ALL TO majlis_app
  USING (true)
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY teams_delete_roles ON teams AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, UPDATE, DELETE ON teams TO majlis_app;

CREATE TABLE team_members (
  tenant_id uuid NOT NULL,
  team_id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, team_id, user_id),
  FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
-- "The teams I belong to" (the list's team=mine).
CREATE INDEX team_members_tenant_user_idx ON team_members (tenant_id, user_id);
SELECT app.apply_tenant_rls('team_members');
CREATE POLICY team_members_write_roles ON team_members AS RESTRICTIVE FOR INSERT TO majlis_app
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
CREATE POLICY team_members_delete_roles ON team_members AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
GRANT SELECT, INSERT, DELETE ON team_members TO majlis_app;

-- A conversation's team (at most one). Deleting a team takes its conversations out of it
-- (the API does so first, with an event per conversation; SET NULL is the safety net).
ALTER TABLE conversations
  ADD COLUMN team_id uuid,
  ADD CONSTRAINT conversations_team_fk FOREIGN KEY (tenant_id, team_id)
    REFERENCES teams (tenant_id, id) ON DELETE SET NULL (team_id);
-- The list filtered by team, newest activity first (like the other activity indexes).
CREATE INDEX conversations_tenant_team_activity_idx
  ON conversations (tenant_id, team_id, last_message_at DESC NULLS LAST, id DESC)
  WHERE team_id IS NOT NULL;
