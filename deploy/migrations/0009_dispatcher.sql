-- The dispatcher (broadcast service): one row per outbound message it was asked to send, so
-- that no message is ever sent twice, plus per-number send rates and token health.
--
-- Follows 0001's rules: tenant_id NOT NULL, app.apply_tenant_rls(), primary keys and indexes
-- lead with tenant_id, foreign keys carry tenant_id.

-- Numbers ---------------------------------------------------------------------------------
-- send_rate_per_second: this number's Cloud API throughput (NULL = Meta's default, 80).
-- token_invalid_at: Meta refused the access token (code 190): sends to this number pause
-- until the token is replaced. A column of its own rather than a new `status` value, because
-- status <> 'active' would also stop app.tenant_for_phone_number_id() from routing the
-- number's inbound webhooks, and customers' messages must still arrive while sends pause.
ALTER TABLE whatsapp_numbers
  ADD COLUMN send_rate_per_second integer CHECK (send_rate_per_second BETWEEN 1 AND 1000),
  ADD COLUMN token_invalid_at timestamptz;

-- A new token ends the pause by itself, whoever stores it (API, admin, script).
CREATE FUNCTION app.whatsapp_numbers_token_replaced() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.access_token_enc IS DISTINCT FROM OLD.access_token_enc THEN
    NEW.token_invalid_at := NULL;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app.whatsapp_numbers_token_replaced() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.whatsapp_numbers_token_replaced() TO majlis_app;
CREATE TRIGGER whatsapp_numbers_token_replaced
  BEFORE UPDATE OF access_token_enc ON whatsapp_numbers
  FOR EACH ROW EXECUTE FUNCTION app.whatsapp_numbers_token_replaced();

-- Outbound sends ----------------------------------------------------------------------------
-- id: the message's id (messages.id for inbox replies; a campaign recipient's message id).
-- No foreign key to messages: campaigns and bots send messages the inbox may not store.
-- state: queued → sending (claimed, committed BEFORE Meta is called) → sent | failed.
-- A row in 'sending' is never sent again: a status webhook echoing biz_opaque_callback_data
-- settles it, or it fails as "outcome-unknown".
-- next_attempt_at: NULL while a bus delivery owns the row; else when the dispatcher's sweeper
-- may (re)try it (retries, pacing, a paused number).
-- payload_enc: the send command's content (recipient and message), AES-256-GCM under field
-- "outbound_sends.payload"; cleared once the send is final.
CREATE TABLE outbound_sends (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  number_id uuid NOT NULL,
  conversation_id uuid,
  priority text NOT NULL DEFAULT 'interactive' CHECK (priority IN ('interactive', 'bulk')),
  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  transient_failures integer NOT NULL DEFAULT 0 CHECK (transient_failures >= 0),
  payload_enc bytea,
  wamid text CHECK (length(wamid) BETWEEN 1 AND 255),
  error_code integer,
  error_title text CHECK (length(error_title) <= 200),
  next_attempt_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, number_id) REFERENCES whatsapp_numbers (tenant_id, id) ON DELETE CASCADE,
  CONSTRAINT outbound_sends_sent_check CHECK (state <> 'sent' OR wamid IS NOT NULL),
  CONSTRAINT outbound_sends_pending_payload_check
    CHECK (state IN ('sent', 'failed') OR payload_enc IS NOT NULL)
);
-- The sweeper's scans: due queued rows, and rows stuck in 'sending'. Both small partial indexes.
CREATE INDEX outbound_sends_tenant_due_idx ON outbound_sends (tenant_id, next_attempt_at)
  WHERE state = 'queued' AND next_attempt_at IS NOT NULL;
CREATE INDEX outbound_sends_tenant_sending_idx ON outbound_sends (tenant_id, updated_at)
  WHERE state = 'sending';
CREATE INDEX outbound_sends_tenant_number_idx ON outbound_sends (tenant_id, number_id);
SELECT app.apply_tenant_rls('outbound_sends');
GRANT SELECT, INSERT, UPDATE ON outbound_sends TO majlis_app;

-- The dispatcher's sweeper asks, before it knows any tenant, which sends are due (retries,
-- paused numbers whose token came back) and which are stuck in 'sending'. Like 0006's
-- app.due_snoozes(), through narrow SECURITY DEFINER functions owned by NOLOGIN
-- majlis_lookup that return ids only; the work then happens in a tenant transaction.
GRANT SELECT (tenant_id, id, number_id, priority, state, next_attempt_at, updated_at)
  ON outbound_sends TO majlis_lookup;
CREATE POLICY lookup_read ON outbound_sends AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);
GRANT SELECT (token_invalid_at, id) ON whatsapp_numbers TO majlis_lookup;

-- At most p_limit (1..1000) due sends of numbers whose token works, interactive first.
CREATE FUNCTION app.due_outbound_sends(p_limit integer)
RETURNS TABLE (tenant_id uuid, send_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.tenant_id, s.id FROM public.outbound_sends s
  JOIN public.whatsapp_numbers n ON n.tenant_id = s.tenant_id AND n.id = s.number_id
  WHERE s.state = 'queued' AND s.next_attempt_at IS NOT NULL AND s.next_attempt_at <= now()
    AND n.token_invalid_at IS NULL
  ORDER BY s.priority = 'bulk', s.next_attempt_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- At most p_limit sends claimed more than p_age ago and never settled (crash or lost answer).
CREATE FUNCTION app.stale_outbound_sends(p_age interval, p_limit integer)
RETURNS TABLE (tenant_id uuid, send_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.tenant_id, s.id FROM public.outbound_sends s
  WHERE s.state = 'sending' AND s.updated_at <= now() - p_age
  ORDER BY s.updated_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;

ALTER FUNCTION app.due_outbound_sends(integer) OWNER TO majlis_lookup;
ALTER FUNCTION app.stale_outbound_sends(interval, integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.due_outbound_sends(integer), app.stale_outbound_sends(interval, integer)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_outbound_sends(integer), app.stale_outbound_sends(interval, integer)
  TO majlis_app;
