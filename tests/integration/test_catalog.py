"""The database catalog keeps the isolation rules, whatever later migrations add."""

from __future__ import annotations

from typing import Any

# Deliberate exceptions to "every unique constraint / index leads with tenant_id", each with
# its reason. Anything new that breaks the rule fails the test until it is argued for here.
UNIQUE_WITHOUT_TENANT = {
    # Sign-in addresses are unique platform-wide by design; only SECURITY DEFINER lookups
    # (owned by NOLOGIN majlis_lookup) can read the table; the app role holds no privilege.
    "login_identities_pkey",
}
INDEX_NOT_LEADING_WITH_TENANT = {
    "login_identities_pkey",
    # The chatflow timer poll (app.due_flow_sessions, SECURITY DEFINER, ids only) looks for
    # due waits across tenants; a partial index of sessions that wait.
    "flow_sessions_wake_idx",
    # The log retention purge (app.tenants_with_flow_logs_before) finds tenants with old logs.
    "flow_logs_created_idx",
    # The webhook delivery worker (app.due_webhook_deliveries, SECURITY DEFINER, ids only)
    # looks for due deliveries across tenants; a partial index of pending ones.
    "webhook_deliveries_due_idx",
}


async def test_every_tenant_table_has_forced_rls_and_policies(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname = 'tenant_id' AND NOT a.attisdropped)
               OR c.relname = 'tenants')
        """
    )
    assert {r["relname"] for r in rows} >= {
        "tenants",
        "users",
        "whatsapp_numbers",
        "contacts",
        "conversations",
        "messages",
        "outbox",
        "processed_messages",
        "login_identities",
    }
    bad = [
        r["relname"]
        for r in rows
        if not (r["relrowsecurity"] and r["relforcerowsecurity"] and r["policies"] > 0)
    ]
    assert bad == []


async def test_tenant_id_is_not_null_everywhere(owner_pool: Any) -> None:
    nullable = await owner_pool.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name = 'tenant_id' AND is_nullable = 'YES'"
    )
    assert [r["table_name"] for r in nullable] == []


async def test_policies_on_app_role_have_using_and_with_check(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        """
        SELECT c.relname, p.polname, p.polcmd::text AS polcmd, p.polqual IS NOT NULL AS has_using,
               p.polwithcheck IS NOT NULL AS has_check
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        WHERE 'majlis_app'::regrole = ANY (p.polroles) AND p.polname = 'tenant_isolation'
        """
    )
    assert rows
    assert all(r["polcmd"] == "*" and r["has_using"] and r["has_check"] for r in rows)


async def test_unique_constraints_and_indexes_include_tenant(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        """
        SELECT i.relname AS index_name, t.relname AS table_name, x.indisunique,
               (SELECT a.attname FROM pg_attribute a
                WHERE a.attrelid = t.oid AND a.attnum = x.indkey[0]) AS first_column,
               EXISTS (SELECT 1 FROM unnest(x.indkey) k JOIN pg_attribute a
                       ON a.attrelid = t.oid AND a.attnum = k WHERE a.attname = 'tenant_id')
                 AS has_tenant
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname <> 'tenants'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid
                      AND a.attname = 'tenant_id')
        """
    )
    unique_bad = [
        r["index_name"]
        for r in rows
        if r["indisunique"] and not r["has_tenant"] and r["index_name"] not in UNIQUE_WITHOUT_TENANT
    ]
    leading_bad = [
        r["index_name"]
        for r in rows
        if r["first_column"] != "tenant_id" and r["index_name"] not in INDEX_NOT_LEADING_WITH_TENANT
    ]
    assert unique_bad == []
    assert leading_bad == []


async def test_views_are_security_invoker(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'v' AND n.nspname IN ('public', 'app')
          AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
        """
    )
    assert [r["relname"] for r in rows] == []


async def test_app_role_is_unprivileged(owner_pool: Any) -> None:
    role = await owner_pool.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = 'majlis_app'"
    )
    assert role is not None
    assert not any(role.values())
    for other in ("majlis_owner", "majlis_lookup", "majlis_outbox_relay", "majlis_audit_writer"):
        member = await owner_pool.fetchval("SELECT pg_has_role('majlis_app', $1, 'MEMBER')", other)
        assert member is False, other
    owned = await owner_pool.fetchval(
        "SELECT count(*) FROM pg_class c WHERE c.relowner = 'majlis_app'::regrole"
    )
    assert owned == 0
    truncate_or_trigger = await owner_pool.fetch(
        """
        SELECT table_name, privilege_type FROM information_schema.table_privileges
        WHERE grantee = 'majlis_app' AND privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES')
        """
    )
    assert truncate_or_trigger == []


async def test_security_definer_functions_are_pinned_and_narrow(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        """
        SELECT p.proname, pg_get_userbyid(p.proowner) AS owner, p.proconfig,
               has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname IN ('public', 'app')
        """
    )
    assert {r["proname"] for r in rows} >= {
        "tenant_for_phone_number_id",
        "tenant_for_waba_id",
        "user_for_login",
    }
    for r in rows:
        assert r["owner"] == "majlis_lookup", r["proname"]
        assert any(c.startswith("search_path=") for c in (r["proconfig"] or [])), r["proname"]
        assert r["public_exec"] is False, r["proname"]


async def test_every_foreign_key_has_an_index_under_it(owner_pool: Any) -> None:
    """Deleting a referenced row looks up the rows that reference it: without an index on the
    referencing columns (leading, in any order; partial only as `col IS NOT NULL`), that is a
    scan of the table inside the deleting transaction (migration 0040)."""
    rows = await owner_pool.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, c.conname,
               (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS cols
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = c.conrelid
              AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
              AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
              AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) ~
                   '^\\(*[a-z_]+ IS NOT NULL\\)*( AND \\(*[a-z_]+ IS NOT NULL\\)*)*$'))
        ORDER BY 1, 2
        """
    )
    assert [(r["tbl"], r["conname"], r["cols"]) for r in rows] == []
