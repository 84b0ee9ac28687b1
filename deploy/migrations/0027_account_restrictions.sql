-- Meta restricts an account for a time (account_update ACCOUNT_RESTRICTION, restriction_info
-- [{restriction_type, expiration}]): RESTRICTED_BIZ_INITIATED_MESSAGING forbids starting
-- conversations, so campaign (bulk) sends are held; RESTRICTED_CUSTOMER_INITIATED_MESSAGING
-- forbids answering customers, so interactive sends (agents' and the bot's replies) are held.
-- Each hold ends by itself at Meta's expiration ('infinity' when Meta gave none: until a
-- newer update or an owner or admin resumes sending). restriction_at is Meta's time of the
-- update applied: each ACCOUNT_RESTRICTION states the account's current restrictions, and a
-- late redelivery must not replace a newer one.
ALTER TABLE whatsapp_numbers
  ADD COLUMN restricted_bulk_until timestamptz,
  ADD COLUMN restricted_replies_until timestamptz,
  ADD COLUMN restriction_at timestamptz;

GRANT SELECT (restricted_bulk_until, restricted_replies_until) ON whatsapp_numbers
  TO majlis_lookup;

-- At most p_limit (1..1000) due sends of numbers that may send them (token works, not
-- blocked, their kind not restricted), interactive first. Same owner and grants as 0009's.
CREATE OR REPLACE FUNCTION app.due_outbound_sends(p_limit integer)
RETURNS TABLE (tenant_id uuid, send_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.tenant_id, s.id FROM public.outbound_sends s
  JOIN public.whatsapp_numbers n ON n.tenant_id = s.tenant_id AND n.id = s.number_id
  WHERE s.state = 'queued' AND s.next_attempt_at IS NOT NULL AND s.next_attempt_at <= now()
    AND n.token_invalid_at IS NULL AND n.sending_blocked_at IS NULL
    AND coalesce(CASE WHEN s.priority = 'bulk' THEN n.restricted_bulk_until
                      ELSE n.restricted_replies_until END, '-infinity') <= now()
  ORDER BY s.priority = 'bulk', s.next_attempt_at
  LIMIT least(greatest(p_limit, 1), 1000)
$$;
