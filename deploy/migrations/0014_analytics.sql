-- Analytics (broadcast service) and business hours (gateway settings).
--
-- Rollups are filled by the broadcast service's analytics consumer from the events the other
-- services publish, and (campaigns) by a trigger on the broadcast service's own recipients.
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), keys lead with tenant_id.
-- Nothing here holds personal data: ids, states, counts and instants only.

-- Business hours: one weekly schedule per tenant (the zone is tenants.timezone). weekly:
-- {"mon": [["09:00","18:00"]], ...}; holidays: ["2026-12-02", ...]. No row: 24/7.
CREATE TABLE business_hours (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  weekly jsonb NOT NULL CHECK (jsonb_typeof(weekly) = 'object'),
  holidays jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(holidays) = 'array'),
  updated_by uuid,
  updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT app.apply_tenant_rls('business_hours');
GRANT SELECT, INSERT, UPDATE ON business_hours TO majlis_app;
-- Setting them is for owners and admins (the gateway checks too).
CREATE POLICY business_hours_insert_roles ON business_hours AS RESTRICTIVE FOR INSERT
  TO majlis_app WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'admin'));
CREATE POLICY business_hours_update_roles ON business_hours AS RESTRICTIVE FOR UPDATE
  TO majlis_app USING ((SELECT app.current_user_role()) IN ('owner', 'admin'));

-- Conversation facts: what the analytics consumer learnt from each inbox event about one
-- conversation, one row per event (the event id is the key, so a redelivery adds nothing).
-- kind: 'state' (inbox.conversation.updated: status, controller, assignee after the change)
-- or 'reply' (a person's outbound message: inbox.message.added, sender user or API key).
-- The conversation's cycles are recomputed from these rows whenever one arrives, so events
-- arriving out of order still give the right answer.
CREATE TABLE analytics_conversation_facts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  event_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  number_id uuid,
  kind text NOT NULL CHECK (kind IN ('state', 'reply')),
  at timestamptz NOT NULL,
  status text CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
  controller text CHECK (controller IN ('bot', 'human')),
  assigned_user_id uuid,
  user_id uuid,
  PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX analytics_conversation_facts_conv_idx
  ON analytics_conversation_facts (tenant_id, conversation_id, at);
SELECT app.apply_tenant_rls('analytics_conversation_facts');
GRANT SELECT, INSERT ON analytics_conversation_facts TO majlis_app;

-- Cycles: a conversation's life from its creation (or a reopen) to its resolution. Times are
-- working seconds: outside business hours and while the bot owned the conversation do not
-- count; resolution_s is NULL for a cycle a person never owned (the bot's alone). first_responder_id: the person whose reply came first; resolver_id: the assignee
-- when it was resolved (else the person who resolved it).
CREATE TABLE analytics_cycles (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL,
  cycle integer NOT NULL CHECK (cycle >= 1),
  number_id uuid,
  opened_at timestamptz NOT NULL,
  first_response_at timestamptz,
  first_response_s double precision CHECK (first_response_s >= 0),
  first_responder_id uuid,
  resolved_at timestamptz,
  resolution_s double precision CHECK (resolution_s >= 0),
  resolver_id uuid,
  PRIMARY KEY (tenant_id, conversation_id, cycle)
);
CREATE INDEX analytics_cycles_opened_idx ON analytics_cycles (tenant_id, opened_at);
CREATE INDEX analytics_cycles_response_idx ON analytics_cycles (tenant_id, first_response_at)
  WHERE first_response_at IS NOT NULL;
CREATE INDEX analytics_cycles_resolved_idx ON analytics_cycles (tenant_id, resolved_at)
  WHERE resolved_at IS NOT NULL;
SELECT app.apply_tenant_rls('analytics_cycles');
GRANT SELECT, INSERT, DELETE ON analytics_cycles TO majlis_app;

-- Messages in and out per local day (tenant's zone when counted) and number, spread over 16
-- slots (by message id) like campaign_counts, so concurrent consumers of a busy number rarely
-- wait on the same counter row; a report sums them.
CREATE TABLE analytics_daily_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  number_id uuid NOT NULL,
  slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
  messages_in bigint NOT NULL DEFAULT 0,
  messages_out bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, number_id, slot)
);
SELECT app.apply_tenant_rls('analytics_daily_messages');
GRANT SELECT, INSERT, UPDATE ON analytics_daily_messages TO majlis_app;

-- Replies per local day, person (user or API key) and number. number_id is the nil uuid when
-- an (old) event named no number and the conversation's number is not known yet.
CREATE TABLE analytics_daily_replies (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  user_id uuid NOT NULL,
  number_id uuid NOT NULL,
  replies bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, user_id, number_id)
);
SELECT app.apply_tenant_rls('analytics_daily_replies');
GRANT SELECT, INSERT, UPDATE ON analytics_daily_replies TO majlis_app;

-- Leads: the latest stage and the source of each lead (chatflow.lead.captured).
CREATE TABLE analytics_leads (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  lead_id uuid NOT NULL,
  stage text NOT NULL CHECK (stage IN ('new', 'qualified', 'won', 'lost')),
  source text NOT NULL CHECK (source IN ('flow', 'ai', 'manual', 'api')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, lead_id)
);
CREATE INDEX analytics_leads_created_idx ON analytics_leads (tenant_id, created_at);
SELECT app.apply_tenant_rls('analytics_leads');
GRANT SELECT, INSERT, UPDATE ON analytics_leads TO majlis_app;

-- Campaign recipients entering a state, per campaign and local day: kept by a trigger in the
-- same transaction as the state change (never twice: the state only moves forward), over 16
-- slots per state like campaign_counts.
CREATE TABLE analytics_campaign_daily (
  tenant_id uuid NOT NULL,
  campaign_id uuid NOT NULL,
  day date NOT NULL,
  state text NOT NULL,
  slot smallint NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, campaign_id, day, state, slot),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('analytics_campaign_daily');
GRANT SELECT, INSERT, UPDATE ON analytics_campaign_daily TO majlis_app;

CREATE FUNCTION app.campaign_recipients_keep_daily() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_day date;
  v_slot smallint := (hashtext(NEW.id::text) & 15)::smallint;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.state = NEW.state THEN
    RETURN NULL;
  END IF;
  IF NEW.state = 'pending' THEN
    RETURN NULL;
  END IF;
  SELECT (now() AT TIME ZONE t.timezone)::date INTO v_day FROM tenants t WHERE t.id = NEW.tenant_id;
  INSERT INTO analytics_campaign_daily AS d (tenant_id, campaign_id, day, state, slot, count)
    VALUES (NEW.tenant_id, NEW.campaign_id, coalesce(v_day, (now() AT TIME ZONE 'UTC')::date),
            NEW.state, v_slot, 1)
    ON CONFLICT (tenant_id, campaign_id, day, state, slot) DO UPDATE SET count = d.count + 1;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.campaign_recipients_keep_daily() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.campaign_recipients_keep_daily() TO majlis_app;
CREATE TRIGGER campaign_recipients_keep_daily
  AFTER INSERT OR UPDATE OF state ON campaign_recipients
  FOR EACH ROW EXECUTE FUNCTION app.campaign_recipients_keep_daily();
