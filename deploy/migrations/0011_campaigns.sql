-- Campaigns (broadcast service): bulk template sends to an audience snapshotted into
-- encrypted recipients, fed to the dispatcher by the campaign runner.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id.

-- The tenant's time zone (an IANA name, checked against zoneinfo by the application):
-- campaign schedules are given in it; reports and outbound webhooks reuse it.
ALTER TABLE tenants ADD COLUMN timezone text NOT NULL DEFAULT 'Asia/Dubai'
  CHECK (timezone ~ '^[A-Za-z0-9_+/-]{1,64}$');

-- Meta's messaging limit of a number: unique users it may message outside a customer
-- service window in a moving 24 h. From phone_number_quality_update webhooks, else set by
-- an admin; TIER_1K until Meta tells otherwise (reference: tier names of both ladders).
ALTER TABLE whatsapp_numbers ADD COLUMN messaging_tier text NOT NULL DEFAULT 'TIER_1K'
  CHECK (messaging_tier IN ('TIER_50', 'TIER_250', 'TIER_1K', 'TIER_2K', 'TIER_10K',
                            'TIER_100K', 'TIER_UNLIMITED', 'TIER_NOT_SET'));

-- Campaigns -------------------------------------------------------------------------------
-- state: draft → scheduled → running ⇄ paused → completed | cancelled.
-- audience_enc: the audience definition (filters, explicit ids, CSV rows with phone numbers)
-- as JSON, AES-256-GCM under field "campaigns.audience". parameters_enc: the parameter
-- mapping (contact fields, fixed texts, fallbacks) under "campaigns.parameters".
-- next_feed_at: when the runner looks at a running campaign next (the daily tier reached:
-- when the 24-hour window frees a slot), so it never busy-loops.
-- skip_reasons: recipients skipped by reason (counted once, at the snapshot and at cancel).
CREATE TABLE campaigns (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  number_id uuid NOT NULL,
  template_id uuid NOT NULL,
  language text NOT NULL CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
  parameters_enc bytea NOT NULL,
  audience_enc bytea NOT NULL,
  state text NOT NULL DEFAULT 'draft'
    CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
  scheduled_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  next_feed_at timestamptz,
  reachable_today integer,
  skip_reasons jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, template_id) REFERENCES templates (tenant_id, id)
);
CREATE INDEX campaigns_tenant_created_idx ON campaigns (tenant_id, created_at DESC, id DESC);
CREATE INDEX campaigns_tenant_number_idx ON campaigns (tenant_id, number_id);
CREATE INDEX campaigns_tenant_template_idx ON campaigns (tenant_id, template_id);
CREATE INDEX campaigns_tenant_active_idx ON campaigns (tenant_id, state)
  WHERE state IN ('scheduled', 'running');
SELECT app.apply_tenant_rls('campaigns');
GRANT SELECT, INSERT, UPDATE, DELETE ON campaigns TO majlis_app;

-- Recipients: the audience snapshotted when the campaign starts ----------------------------
-- id: the message id the dispatcher sends under (outbound_sends.id), echoed by Meta as
-- biz_opaque_callback_data so status webhooks find the recipient.
-- seq: feeding order. phone_enc/phone_bidx: "campaign_recipients.phone" (bidx NULL for an
-- invalid or duplicate number, so the unique key is per valid number).
-- parameters_enc: the rendered send components under "campaign_recipients.parameters".
-- state only moves forward (app.campaign_state_rank); skipped is final.
CREATE TABLE campaign_recipients (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  campaign_id uuid NOT NULL,
  seq integer NOT NULL,
  phone_enc bytea,
  phone_bidx bytea,
  contact_id uuid,
  parameters_enc bytea,
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'queued', 'sent', 'delivered', 'read', 'replied', 'failed',
                     'skipped')),
  reason_code text CHECK (length(reason_code) <= 64),
  reason_title text CHECK (length(reason_title) <= 200),
  error_code integer,
  queued_at timestamptz,
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  replied_at timestamptz,
  failed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, campaign_id, phone_bidx),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE,
  CHECK (state = 'skipped' OR (phone_enc IS NOT NULL AND phone_bidx IS NOT NULL
                               AND parameters_enc IS NOT NULL))
);
CREATE INDEX campaign_recipients_tenant_feed_idx ON campaign_recipients (tenant_id, campaign_id, seq)
  WHERE state = 'pending';
CREATE INDEX campaign_recipients_tenant_campaign_idx
  ON campaign_recipients (tenant_id, campaign_id, state);
CREATE INDEX campaign_recipients_tenant_phone_idx ON campaign_recipients (tenant_id, phone_bidx)
  WHERE state IN ('sent', 'delivered', 'read');
SELECT app.apply_tenant_rls('campaign_recipients');
GRANT SELECT, INSERT, UPDATE ON campaign_recipients TO majlis_app;

CREATE FUNCTION app.campaign_state_rank(p_state text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE p_state WHEN 'pending' THEN 0 WHEN 'queued' THEN 1 WHEN 'sent' THEN 2
    WHEN 'failed' THEN 3 WHEN 'delivered' THEN 4 WHEN 'read' THEN 5 WHEN 'replied' THEN 6
    WHEN 'skipped' THEN 100 END
$$;
GRANT EXECUTE ON FUNCTION app.campaign_state_rank(text) TO majlis_app;

-- Counts per state kept by a trigger, spread over 16 slots per state so concurrent status
-- updates of one campaign rarely wait on the same counter row; a GET sums at most 128 rows.
CREATE TABLE campaign_counts (
  tenant_id uuid NOT NULL,
  campaign_id uuid NOT NULL,
  state text NOT NULL,
  slot smallint NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, campaign_id, state, slot),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('campaign_counts');
GRANT SELECT, INSERT, UPDATE ON campaign_counts TO majlis_app;

CREATE FUNCTION app.campaign_recipients_keep_counts() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_slot smallint := (hashtext(NEW.id::text) & 15)::smallint;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.state = NEW.state THEN
      RETURN NULL;
    END IF;
    UPDATE campaign_counts SET count = count - 1
      WHERE tenant_id = OLD.tenant_id AND campaign_id = OLD.campaign_id
        AND state = OLD.state AND slot = v_slot;
  END IF;
  INSERT INTO campaign_counts AS c (tenant_id, campaign_id, state, slot, count)
    VALUES (NEW.tenant_id, NEW.campaign_id, NEW.state, v_slot, 1)
    ON CONFLICT (tenant_id, campaign_id, state, slot) DO UPDATE SET count = c.count + 1;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.campaign_recipients_keep_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.campaign_recipients_keep_counts() TO majlis_app;
CREATE TRIGGER campaign_recipients_keep_counts
  AFTER INSERT OR UPDATE OF state ON campaign_recipients
  FOR EACH ROW EXECUTE FUNCTION app.campaign_recipients_keep_counts();

-- The dispatcher's outcome of a campaign send moves its recipient on, in the same
-- transaction as the outcome (never backwards: a late 'sent' after 'delivered' is a no-op).
-- A send failed by cancelling its campaign is left out: the cancel marks the recipient
-- skipped itself, in the same statement.
CREATE FUNCTION app.outbound_sends_advance_recipient() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE campaign_recipients SET state = NEW.state,
      sent_at = CASE WHEN NEW.state = 'sent' THEN coalesce(sent_at, now()) ELSE sent_at END,
      failed_at = CASE WHEN NEW.state = 'failed' THEN now() ELSE failed_at END,
      error_code = CASE WHEN NEW.state = 'failed' THEN NEW.error_code ELSE error_code END,
      reason_code = CASE WHEN NEW.state = 'failed' THEN 'send-failed' ELSE reason_code END,
      reason_title = CASE WHEN NEW.state = 'failed' THEN NEW.error_title ELSE reason_title END,
      updated_at = now()
    WHERE tenant_id = NEW.tenant_id AND id = NEW.id
      AND app.campaign_state_rank(state) < app.campaign_state_rank(NEW.state);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.outbound_sends_advance_recipient() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.outbound_sends_advance_recipient() TO majlis_app;
CREATE TRIGGER outbound_sends_advance_recipient
  AFTER UPDATE OF state ON outbound_sends
  FOR EACH ROW WHEN (NEW.priority = 'bulk' AND NEW.state IN ('sent', 'failed')
                     AND OLD.state IS DISTINCT FROM NEW.state
                     AND NEW.error_title IS DISTINCT FROM 'campaign-cancelled')
  EXECUTE FUNCTION app.outbound_sends_advance_recipient();

-- Unique users each number messaged in the last 24 h (Meta's messaging limit counts them):
-- one row per number and recipient, refreshed when the runner queues a send to them.
CREATE TABLE number_recipient_contacts (
  tenant_id uuid NOT NULL,
  number_id uuid NOT NULL,
  phone_bidx bytea NOT NULL,
  messaged_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, number_id, phone_bidx),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX number_recipient_contacts_tenant_time_idx
  ON number_recipient_contacts (tenant_id, number_id, messaged_at);
SELECT app.apply_tenant_rls('number_recipient_contacts');
GRANT SELECT, INSERT, UPDATE, DELETE ON number_recipient_contacts TO majlis_app;

-- The runner asks, before it knows any tenant, which campaigns need it: scheduled ones that
-- are due, running ones whose next feed is due. Ids only, like app.due_outbound_sends().
GRANT SELECT (tenant_id, id, state, scheduled_at, next_feed_at) ON campaigns TO majlis_lookup;
CREATE POLICY lookup_read ON campaigns AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

CREATE FUNCTION app.due_campaigns(p_limit integer)
RETURNS TABLE (tenant_id uuid, campaign_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.tenant_id, c.id FROM public.campaigns c
  WHERE (c.state = 'scheduled' AND c.scheduled_at <= now())
     OR (c.state = 'running' AND (c.next_feed_at IS NULL OR c.next_feed_at <= now()))
  ORDER BY c.next_feed_at NULLS FIRST
  LIMIT least(greatest(p_limit, 1), 1000)
$$;
ALTER FUNCTION app.due_campaigns(integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.due_campaigns(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_campaigns(integer) TO majlis_app;
