-- Timed snoozes wake up by themselves: a job of the inbox asks, before it knows any tenant,
-- which snoozed conversations are due. Like the webhook lookups of 0001, it does so through a
-- narrow SECURITY DEFINER function owned by NOLOGIN majlis_lookup that returns ids only; the
-- job then wakes each conversation inside a tenant transaction of its tenant.

-- majlis_lookup reads these four columns of every tenant's conversations, through the
-- function below only (it cannot log in, and EXECUTE is granted to the app role alone).
GRANT SELECT (tenant_id, id, status, snoozed_until) ON conversations TO majlis_lookup;
CREATE POLICY lookup_read ON conversations AS PERMISSIVE FOR SELECT TO majlis_lookup USING (true);

-- At most p_limit (1..1000) due snoozes, the longest overdue first. The partial index
-- conversations_tenant_snoozed_idx holds only snoozed rows, so this stays a small scan.
CREATE FUNCTION app.due_snoozes(p_limit integer)
RETURNS TABLE (tenant_id uuid, conversation_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.tenant_id, c.id FROM public.conversations c
  WHERE c.status = 'snoozed' AND c.snoozed_until IS NOT NULL AND c.snoozed_until <= now()
  ORDER BY c.snoozed_until
  LIMIT least(greatest(p_limit, 1), 1000)
$$;

ALTER FUNCTION app.due_snoozes(integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.due_snoozes(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_snoozes(integer) TO majlis_app;
