-- An index under every foreign key. Deleting (or re-keying) a referenced row makes PostgreSQL
-- look for the rows that reference it (to cascade, set null, or refuse), and without an index
-- on the referencing columns that look is a scan of the tenant's rows, in the deleting
-- transaction, for each row deleted. The ones that mattered: a conversation absorbed by a
-- merge, erased or purged scanned the tenant's bot sessions (the only index there was partial,
-- for sessions not ended); deleting a flow scanned them once per version; deleting a team
-- scanned the tenant's conversations. tests/integration/test_catalog.py keeps the rule for
-- later migrations. Nullable columns get partial indexes of the rows that reference anything.
CREATE INDEX flow_sessions_tenant_conversation_idx ON flow_sessions (tenant_id, conversation_id);
CREATE INDEX flow_sessions_tenant_flow_idx ON flow_sessions (tenant_id, flow_id);
CREATE INDEX flow_sessions_tenant_version_idx ON flow_sessions (tenant_id, version_id);
CREATE INDEX conversations_tenant_team_idx ON conversations (tenant_id, team_id)
  WHERE team_id IS NOT NULL;
-- A user's sessions: the index 0003 made covered unrevoked ones only; all of a user's are few.
DROP INDEX sessions_tenant_user_idx;
CREATE INDEX sessions_tenant_user_idx ON sessions (tenant_id, user_id);
CREATE INDEX api_keys_tenant_created_by_idx ON api_keys (tenant_id, created_by)
  WHERE created_by IS NOT NULL;
CREATE INDEX invites_tenant_invited_by_idx ON invites (tenant_id, invited_by)
  WHERE invited_by IS NOT NULL;
CREATE INDEX canned_responses_tenant_owner_idx ON canned_responses (tenant_id, owner_user_id)
  WHERE owner_user_id IS NOT NULL;
CREATE INDEX flows_tenant_number_idx ON flows (tenant_id, number_id) WHERE number_id IS NOT NULL;
CREATE INDEX flows_tenant_published_version_idx ON flows (tenant_id, published_version_id)
  WHERE published_version_id IS NOT NULL;
CREATE INDEX companion_numbers_tenant_number_idx ON companion_numbers (tenant_id, number_id);
CREATE INDEX companion_messages_tenant_companion_idx
  ON companion_messages (tenant_id, companion_id);
