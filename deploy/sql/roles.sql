-- Cluster roles for Majlis. Idempotent; run by a superuser (make run / make test do it).
-- Production: give the LOGIN roles passwords (or certificates) out of band; make the owner
-- NOLOGIN except during migrations.
--
--   majlis_owner         owns schemas and tables, runs migrations; never used by a service
--   majlis_app           every service connects as this: no ownership, no BYPASSRLS, no DDL
--   majlis_lookup        NOLOGIN; owns the few SECURITY DEFINER lookups that run before a
--                        tenant is known (returns ids only)
--   majlis_audit_writer  the audit service's writer: INSERT and SELECT on the audit log only
--   majlis_outbox_relay  reads and deletes committed outbox rows of every tenant, nothing else
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['majlis_owner', 'majlis_app', 'majlis_audit_writer', 'majlis_outbox_relay']
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    END IF;
    EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT', r);
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'majlis_lookup') THEN
    CREATE ROLE majlis_lookup NOLOGIN;
  END IF;
  ALTER ROLE majlis_lookup NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
END
$$;

-- The owner hands the lookup functions to majlis_lookup, which needs membership to do so.
GRANT majlis_lookup TO majlis_owner;
