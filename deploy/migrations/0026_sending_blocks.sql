-- Meta blocked the number's account from sending: sends to it pause, as they do for a refused
-- token (token_invalid_at), until the block ends. Set by the broadcast service when a send is
-- refused with 131031 (account locked) or 368 (temporarily blocked for policy violations), or
-- when an account_update webhook reports the account disabled (DISABLED_UPDATE, ban state
-- DISABLE); cleared when the account is reinstated (DISABLED_UPDATE, REINSTATE) or when an
-- owner or admin resumes sending (PATCH /api/v1/numbers/{id}; if Meta still refuses, the next
-- send blocks it again). A column of its own, not a status, for the reason 0009 gives: the
-- number's inbound messages must still arrive.
ALTER TABLE whatsapp_numbers
  ADD COLUMN sending_blocked_at timestamptz,
  ADD COLUMN sending_blocked_reason text
    CHECK (sending_blocked_reason IN ('account-disabled', 'account-locked', 'policy-block')),
  ADD CONSTRAINT whatsapp_numbers_sending_block_whole
    CHECK ((sending_blocked_at IS NULL) = (sending_blocked_reason IS NULL)),
  -- Meta's time of the last ban state applied (DISABLE or REINSTATE): webhooks may arrive out
  -- of order, and a late DISABLE must not undo a newer REINSTATE (nor the reverse).
  ADD COLUMN ban_state_at timestamptz;

-- From now on account_updated_at (0025) holds Meta's time of the update (the entry's time),
-- and an older update no longer replaces a newer one shown.

GRANT SELECT (sending_blocked_at) ON whatsapp_numbers TO majlis_lookup;

-- At most p_limit (1..1000) due sends of numbers that may send (token works, not blocked),
-- interactive first. Same owner and grants as 0009's definition.
CREATE OR REPLACE FUNCTION app.due_outbound_sends(p_limit integer)
RETURNS TABLE (tenant_id uuid, send_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.tenant_id, s.id FROM public.outbound_sends s
  JOIN public.whatsapp_numbers n ON n.tenant_id = s.tenant_id AND n.id = s.number_id
  WHERE s.state = 'queued' AND s.next_attempt_at IS NOT NULL AND s.next_attempt_at <= now()
    AND n.token_invalid_at IS NULL AND n.sending_blocked_at IS NULL
  ORDER BY s.priority = 'bulk', s.next_attempt_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;
