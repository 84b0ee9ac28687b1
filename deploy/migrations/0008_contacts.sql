-- Contacts (CRM): the retention purge's cross-tenant lookup.
--
-- Soft-deleted contacts are erased for good 30 days after deletion by a platform job that has
-- no tenant. It finds them through one SECURITY DEFINER function modelled on
-- app.tenant_for_phone_number_id (0001): owned by NOLOGIN majlis_lookup, search_path pinned,
-- EXECUTE for the application role only, ids only. The job then deletes each contact inside
-- that contact's own tenant transaction, so RLS still guards the delete itself.

-- majlis_lookup may read three columns, and only of rows that are soft-deleted: it never
-- sees a live contact, and never any ciphertext.
GRANT SELECT (tenant_id, id, deleted_at) ON contacts TO majlis_lookup;
CREATE POLICY lookup_read_deleted ON contacts AS PERMISSIVE FOR SELECT TO majlis_lookup
  USING (deleted_at IS NOT NULL);

-- Contacts soft-deleted longer than p_retention ago (never less than a day, whatever the
-- caller passes: a bug cannot purge what was deleted a moment ago), oldest first.
CREATE FUNCTION app.contacts_due_for_purge(p_retention interval, p_limit integer)
RETURNS TABLE (tenant_id uuid, contact_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.tenant_id, c.id FROM public.contacts c
  WHERE c.deleted_at IS NOT NULL
    AND c.deleted_at < now() - GREATEST(p_retention, interval '1 day')
  ORDER BY c.deleted_at
  LIMIT LEAST(GREATEST(p_limit, 0), 10000)
$$;

ALTER FUNCTION app.contacts_due_for_purge(interval, integer) OWNER TO majlis_lookup;
REVOKE ALL ON FUNCTION app.contacts_due_for_purge(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.contacts_due_for_purge(interval, integer) TO majlis_app;
