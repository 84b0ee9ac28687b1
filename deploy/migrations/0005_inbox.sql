-- Team inbox and CRM: conversation states and ownership, assignment, replies and notes,
-- labels, canned responses, contact tags, custom attributes, consent and soft delete.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and unique
-- constraints include tenant_id, indexes lead with tenant_id, foreign keys carry tenant_id.

-- Conversations -------------------------------------------------------------------------
-- snoozed: until snoozed_until, or (snoozed_until NULL) until the customer writes again.
-- controller: who answers, the bot or a human; a human taking over stops the bot.
ALTER TABLE conversations DROP CONSTRAINT conversations_status_check;
ALTER TABLE conversations
  ADD CONSTRAINT conversations_status_check
    CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
  ADD COLUMN snoozed_until timestamptz,
  ADD COLUMN controller text NOT NULL DEFAULT 'bot' CHECK (controller IN ('bot', 'human')),
  -- Unread for the team: customer messages since an agent last read the conversation.
  ADD COLUMN unread_count integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  ADD COLUMN agent_last_seen_at timestamptz,
  ADD COLUMN resolved_at timestamptz,
  -- The newest message's sequence number (messages.seq): the list's cheap "latest" marker.
  ADD COLUMN last_message_seq bigint,
  ADD CONSTRAINT conversations_snooze_check CHECK (status = 'snoozed' OR snoozed_until IS NULL);

-- The list: newest activity first, keyset (last_message_at, id); filters lead with tenant_id.
CREATE INDEX conversations_tenant_activity_idx
  ON conversations (tenant_id, last_message_at DESC NULLS LAST, id DESC);
CREATE INDEX conversations_tenant_assignee_activity_idx
  ON conversations (tenant_id, assigned_user_id, status, last_message_at DESC NULLS LAST, id DESC);
CREATE INDEX conversations_tenant_number_activity_idx
  ON conversations (tenant_id, number_id, last_message_at DESC NULLS LAST, id DESC);
CREATE INDEX conversations_tenant_contact_idx ON conversations (tenant_id, contact_id);
CREATE INDEX conversations_tenant_snoozed_idx ON conversations (tenant_id, snoozed_until)
  WHERE status = 'snoozed';

-- Per-status counts kept by a trigger, so the list's counters never count rows.
CREATE TABLE conversation_counts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, status)
);
SELECT app.apply_tenant_rls('conversation_counts');
GRANT SELECT, INSERT, UPDATE ON conversation_counts TO majlis_app;

-- Agents' loads (open + pending + snoozed conversations assigned to them) and the last time
-- each got one, for balanced and round-robin assignment; kept by the same trigger.
CREATE TABLE agent_loads (
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  active_count integer NOT NULL DEFAULT 0 CHECK (active_count >= 0),
  last_assigned_at timestamptz,
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('agent_loads');
GRANT SELECT, INSERT, UPDATE, DELETE ON agent_loads TO majlis_app;

CREATE FUNCTION app.conversations_keep_counts() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE conversation_counts SET count = count - 1
      WHERE tenant_id = OLD.tenant_id AND status = OLD.status;
    IF OLD.assigned_user_id IS NOT NULL AND OLD.status <> 'resolved' THEN
      UPDATE agent_loads SET active_count = greatest(active_count - 1, 0)
        WHERE tenant_id = OLD.tenant_id AND user_id = OLD.assigned_user_id;
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO conversation_counts AS c (tenant_id, status, count)
      VALUES (NEW.tenant_id, NEW.status, 1)
      ON CONFLICT (tenant_id, status) DO UPDATE SET count = c.count + 1;
    IF NEW.assigned_user_id IS NOT NULL AND NEW.status <> 'resolved' THEN
      INSERT INTO agent_loads AS l (tenant_id, user_id, active_count)
        VALUES (NEW.tenant_id, NEW.assigned_user_id, 1)
        ON CONFLICT (tenant_id, user_id) DO UPDATE SET active_count = l.active_count + 1;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.conversations_keep_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.conversations_keep_counts() TO majlis_app;
CREATE TRIGGER conversations_keep_counts
  AFTER INSERT OR DELETE OR UPDATE OF status, assigned_user_id ON conversations
  FOR EACH ROW EXECUTE FUNCTION app.conversations_keep_counts();

-- Existing rows (the inbound path has been storing conversations since 0001).
INSERT INTO conversation_counts (tenant_id, status, count)
  SELECT tenant_id, status, count(*) FROM conversations GROUP BY tenant_id, status;
INSERT INTO agent_loads (tenant_id, user_id, active_count)
  SELECT tenant_id, assigned_user_id, count(*) FROM conversations
  WHERE assigned_user_id IS NOT NULL AND status <> 'resolved'
  GROUP BY tenant_id, assigned_user_id;

-- Assignment policy per number: manual only, round-robin among online agents, or balanced
-- (fewest active conversations) with a per-agent capacity.
CREATE TABLE assignment_policies (
  tenant_id uuid NOT NULL,
  number_id uuid NOT NULL,
  mode text NOT NULL DEFAULT 'manual' CHECK (mode IN ('manual', 'round_robin', 'balanced')),
  agent_capacity integer CHECK (agent_capacity BETWEEN 1 AND 10000),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, number_id),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('assignment_policies');
GRANT SELECT, INSERT, UPDATE, DELETE ON assignment_policies TO majlis_app;

-- Messages ------------------------------------------------------------------------------
-- seq: the order messages were stored in (a reply's "last message I saw" compares on it).
-- direction 'note': a private note, never sent to WhatsApp (status 'internal').
-- sender_kind: who wrote it. idempotency_key: a client's retry of a reply stores it once.
ALTER TABLE messages DROP CONSTRAINT messages_direction_check;
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages
  ADD CONSTRAINT messages_direction_check CHECK (direction IN ('inbound', 'outbound', 'note')),
  ADD CONSTRAINT messages_status_check
    CHECK (status IN ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed',
                      'internal')),
  ADD COLUMN seq bigint GENERATED BY DEFAULT AS IDENTITY,
  ADD COLUMN sender_kind text NOT NULL DEFAULT 'customer'
    CHECK (sender_kind IN ('customer', 'user', 'api_key', 'bot', 'campaign', 'system')),
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  ADD CONSTRAINT messages_note_check CHECK ((direction = 'note') = (status = 'internal'));
UPDATE messages SET sender_kind = 'user' WHERE direction = 'outbound';
CREATE INDEX messages_tenant_conversation_seq_idx ON messages (tenant_id, conversation_id, seq);
CREATE UNIQUE INDEX messages_tenant_idempotency_idx
  ON messages (tenant_id, conversation_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- @mentions in private notes.
CREATE TABLE message_mentions (
  tenant_id uuid NOT NULL,
  message_id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, message_id, user_id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX message_mentions_tenant_user_idx ON message_mentions (tenant_id, user_id, created_at);
SELECT app.apply_tenant_rls('message_mentions');
GRANT SELECT, INSERT, DELETE ON message_mentions TO majlis_app;

-- Labels ----------------------------------------------------------------------------------
CREATE TABLE labels (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  color text NOT NULL DEFAULT '#6b7280' CHECK (color ~ '^#[0-9a-f]{6}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX labels_tenant_name_idx ON labels (tenant_id, lower(name));
SELECT app.apply_tenant_rls('labels');
GRANT SELECT, INSERT, UPDATE, DELETE ON labels TO majlis_app;

CREATE TABLE conversation_labels (
  tenant_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  label_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, conversation_id, label_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, label_id) REFERENCES labels (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversation_labels_tenant_label_idx ON conversation_labels (tenant_id, label_id);
SELECT app.apply_tenant_rls('conversation_labels');
GRANT SELECT, INSERT, DELETE ON conversation_labels TO majlis_app;

-- Canned responses: tenant-wide (owner_user_id NULL) or personal; a unique shortcut per scope.
CREATE TABLE canned_responses (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  owner_user_id uuid,
  shortcut text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
  content text NOT NULL CHECK (length(content) BETWEEN 1 AND 4096),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX canned_responses_tenant_shortcut_idx
  ON canned_responses (tenant_id, shortcut) WHERE owner_user_id IS NULL;
CREATE UNIQUE INDEX canned_responses_tenant_owner_shortcut_idx
  ON canned_responses (tenant_id, owner_user_id, shortcut) WHERE owner_user_id IS NOT NULL;
SELECT app.apply_tenant_rls('canned_responses');
GRANT SELECT, INSERT, UPDATE, DELETE ON canned_responses TO majlis_app;

-- Contacts (CRM) --------------------------------------------------------------------------
-- name_bidx / email_bidx: blind indexes of the normalised name and e-mail (search by equality
-- without decrypting every row). deleted_at: soft delete, purged 30 days later.
ALTER TABLE contacts
  ADD COLUMN name_bidx bytea,
  ADD COLUMN email_bidx bytea,
  ADD COLUMN marketing_opt_in boolean NOT NULL DEFAULT false,
  ADD COLUMN consent_updated_at timestamptz,
  ADD COLUMN processing_restricted boolean NOT NULL DEFAULT false,
  ADD COLUMN deleted_at timestamptz,
  ADD COLUMN deleted_by uuid,
  ADD CONSTRAINT contacts_consent_check CHECK (NOT (marketing_opt_in AND marketing_opt_out));
CREATE INDEX contacts_tenant_name_bidx_idx ON contacts (tenant_id, name_bidx);
CREATE INDEX contacts_tenant_email_bidx_idx ON contacts (tenant_id, email_bidx);
CREATE INDEX contacts_tenant_created_idx ON contacts (tenant_id, created_at DESC, id DESC);
CREATE INDEX contacts_tenant_deleted_idx ON contacts (tenant_id, deleted_at)
  WHERE deleted_at IS NOT NULL;

-- Tags are business vocabulary ("vip", "wholesale"), not personal data: kept in clear so
-- audiences can be selected by them.
CREATE TABLE contact_tags (
  tenant_id uuid NOT NULL,
  contact_id uuid NOT NULL,
  tag text NOT NULL CHECK (tag ~ '^[^[:cntrl:]]{1,64}$' AND tag = lower(btrim(tag))),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, contact_id, tag),
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_tenant_tag_idx ON contact_tags (tenant_id, tag);
SELECT app.apply_tenant_rls('contact_tags');
GRANT SELECT, INSERT, DELETE ON contact_tags TO majlis_app;

-- The per-tenant schema of custom attributes; the values live encrypted in
-- contacts.attributes_enc and are validated against this schema on every write.
CREATE TABLE contact_attribute_definitions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
  label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
  type text NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date', 'list')),
  options text[] CHECK (options IS NULL OR cardinality(options) BETWEEN 1 AND 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key),
  CHECK ((type = 'list') = (options IS NOT NULL))
);
SELECT app.apply_tenant_rls('contact_attribute_definitions');
GRANT SELECT, INSERT, UPDATE, DELETE ON contact_attribute_definitions TO majlis_app;

-- Contact management (create, update, merge, delete, export) is for owners, admins, agents
-- and the system; viewers read only.
CREATE POLICY contacts_write_roles ON contacts AS RESTRICTIVE FOR UPDATE TO majlis_app
  USING ((SELECT app.current_user_role()) IS DISTINCT FROM 'viewer')
  WITH CHECK ((SELECT app.current_user_role()) IS DISTINCT FROM 'viewer');
CREATE POLICY contacts_delete_roles ON contacts AS RESTRICTIVE FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));
