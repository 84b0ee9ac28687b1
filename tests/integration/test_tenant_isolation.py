"""Row-level security as the application role: the tenant wall holds under every attempt."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import asyncpg
import pytest

from majlis.db import tenant_for_phone_number_id, tenant_transaction


async def _add_contact(pool: Any, tenant_id: uuid.UUID) -> uuid.UUID:
    contact_id = uuid.uuid4()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, phone_bidx, phone_enc) VALUES ($1, $2, $3, $4)",
            tenant_id,
            contact_id,
            uuid.uuid4().bytes,
            b"\x01ciphertext",
        )
    return contact_id


async def test_rows_of_one_tenant_are_invisible_to_another(
    db_pool: Any, tenant_factory: Any
) -> None:
    a, b = await tenant_factory(), await tenant_factory()
    contact_a = await _add_contact(db_pool, a)
    async with tenant_transaction(db_pool, b) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 0
        assert await conn.fetchval("SELECT count(*) FROM contacts WHERE id = $1", contact_a) == 0
        assert await conn.fetchval("SELECT count(*) FROM tenants") == 1
        # Updates and deletes aimed at A's row touch nothing.
        assert (
            await conn.execute(
                "UPDATE contacts SET marketing_opt_out = true WHERE id = $1", contact_a
            )
            == "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM contacts WHERE id = $1", contact_a) == "DELETE 0"
    async with tenant_transaction(db_pool, a) as conn:
        row = await conn.fetchrow("SELECT marketing_opt_out FROM contacts WHERE id = $1", contact_a)
        assert row is not None
        assert row["marketing_opt_out"] is False


async def test_insert_with_another_tenants_id_fails(db_pool: Any, tenant_factory: Any) -> None:
    a, b = await tenant_factory(), await tenant_factory()
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_transaction(db_pool, a) as conn:
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                b,
                uuid.uuid4(),
                b"x",
            )
    async with tenant_transaction(db_pool, b) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 0


async def test_moving_a_row_to_another_tenant_fails(db_pool: Any, tenant_factory: Any) -> None:
    a, b = await tenant_factory(), await tenant_factory()
    contact_a = await _add_contact(db_pool, a)
    with pytest.raises(asyncpg.PostgresError):
        async with tenant_transaction(db_pool, a) as conn:
            await conn.execute("UPDATE contacts SET tenant_id = $1 WHERE id = $2", b, contact_a)
    async with tenant_transaction(db_pool, a) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts WHERE id = $1", contact_a) == 1


async def test_query_without_tenant_context_fails(db_pool: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    await _add_contact(db_pool, a)
    async with db_pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="no tenant context"):
            await conn.fetch("SELECT * FROM contacts")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                a,
                uuid.uuid4(),
                b"y",
            )
        # set_config outside an explicit transaction ends with its implicit transaction.
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a))
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="no tenant context"):
            await conn.fetch("SELECT * FROM contacts")


async def test_no_tenant_table_shows_a_row_without_tenant_context(
    db_pool: Any, owner_pool: Any, tenant_factory: Any
) -> None:
    """Checklist 4, for every table that holds a tenant_id (not only contacts): the
    application role without a tenant context is refused, or sees no row, never another's."""
    a = await tenant_factory()
    await _add_contact(db_pool, a)
    tables = [
        row["relname"]
        for row in await owner_pool.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND EXISTS ("
            "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'"
            "  AND NOT a.attisdropped) ORDER BY 1"
        )
    ]
    assert "contacts" in tables
    assert len(tables) > 40
    shown = {}
    async with db_pool.acquire() as conn:
        for table in tables:
            try:
                rows = await conn.fetchval(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            except asyncpg.InsufficientPrivilegeError:
                continue  # "no tenant context", or no grant at all
            if rows:
                shown[table] = rows
    assert shown == {}


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE contacts",
        "ALTER TABLE contacts DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON contacts",
        "CREATE TABLE sneaky (id int)",
        "SET ROLE majlis_owner",
        "SET ROLE majlis_lookup",
        "SELECT * FROM login_identities",
        "SELECT * FROM outbox",
    ],
)
async def test_app_role_cannot_escape(db_pool: Any, tenant_factory: Any, statement: str) -> None:
    a = await tenant_factory()
    with pytest.raises(asyncpg.PostgresError):
        async with tenant_transaction(db_pool, a) as conn:
            await conn.execute(statement)


async def test_row_security_off_cannot_bypass(db_pool: Any, tenant_factory: Any) -> None:
    a, b = await tenant_factory(), await tenant_factory()
    await _add_contact(db_pool, a)
    # With row_security off, a query that policies would filter errors instead of bypassing.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(db_pool, b) as conn:
            await conn.execute("SET LOCAL row_security = off")
            await conn.fetch("SELECT * FROM contacts")


async def test_policies_stay_in_place_after_attempts(owner_pool: Any) -> None:
    row = await owner_pool.fetchrow(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'contacts'"
    )
    assert row["relrowsecurity"]
    assert row["relforcerowsecurity"]
    assert (
        await owner_pool.fetchval(
            "SELECT count(*) FROM pg_policy WHERE polrelid = 'contacts'::regclass"
        )
        >= 1
    )


async def test_agents_cannot_manage_numbers(db_pool: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(db_pool, a, "agent") as conn:
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, '1', '2', '+971', $3)",
                a,
                uuid.uuid4(),
                b"t",
            )
    async with tenant_transaction(db_pool, a, "admin") as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, '1', '2', '+971', $3)",
            a,
            uuid.uuid4(),
            b"t",
        )


async def test_lookup_by_phone_number_id_returns_only_ids(
    db_pool: Any, tenant_factory: Any
) -> None:
    a = await tenant_factory()
    phone_number_id = str(uuid.uuid4().int)[:15]
    assert await tenant_for_phone_number_id(db_pool, phone_number_id) is None
    async with tenant_transaction(db_pool, a, "owner") as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, '2', '+971', $4)",
            a,
            uuid.uuid4(),
            phone_number_id,
            b"t",
        )
    assert await tenant_for_phone_number_id(db_pool, phone_number_id) == a


async def test_concurrent_transactions_see_only_their_tenant(
    db_pool: Any, tenant_factory: Any
) -> None:
    a, b = await tenant_factory(), await tenant_factory()
    own = {
        a: {await _add_contact(db_pool, a) for _ in range(3)},
        b: {await _add_contact(db_pool, b) for _ in range(3)},
    }

    async def one(i: int) -> bool:
        tenant = a if i % 2 else b
        async with tenant_transaction(db_pool, tenant) as conn:
            ids = {r["id"] for r in await conn.fetch("SELECT id FROM contacts")}
            seen = await conn.fetchval("SELECT current_setting('app.tenant_id')")
            await asyncio.sleep(0)  # let others interleave while the transaction is open
            return ids == own[tenant] and seen == str(tenant)

    results = await asyncio.gather(*(one(i) for i in range(1000)))
    assert all(results)
    # No connection back in the pool carries a tenant setting: all of them held at once (one
    # at a time, the pool would hand out the same connection again and again).
    held = [await db_pool.acquire() for _ in range(db_pool.get_max_size())]
    try:
        backends = {await conn.fetchval("SELECT pg_backend_pid()") for conn in held}
        assert len(backends) == db_pool.get_max_size()
        for conn in held:
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (
                None,
                "",
            )
    finally:
        for conn in held:
            await db_pool.release(conn)


async def test_session_state_left_on_a_connection_never_reaches_a_tenant_transaction(
    settings: Any, db_pool: Any, tenant_factory: Any
) -> None:
    # Should any code leave session state on a pooled connection (a session-level tenant,
    # another search path, an advisory lock), the next tenant transaction starts clean.
    from majlis.db import create_pool

    a, b = await tenant_factory(), await tenant_factory()
    mine = await _add_contact(db_pool, a)
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            default_path = await conn.fetchval("SELECT current_setting('search_path')")
            await conn.execute("SELECT set_config('app.tenant_id', $1, false)", str(b))
            await conn.execute("SET search_path = pg_catalog")
            await conn.execute("SELECT pg_advisory_lock(4242)")
        async with tenant_transaction(pool, a) as conn:
            assert await conn.fetchval("SELECT current_setting('search_path')") == default_path
            assert {r["id"] for r in await conn.fetch("SELECT id FROM contacts")} == {mine}
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
            assert held == 0
        async with pool.acquire() as conn:  # and the tenant stayed inside its transaction
            left = await conn.fetchval("SELECT current_setting('app.tenant_id', true)")
            assert left in ("", None)
    finally:
        await pool.close()


async def test_a_cancelled_transaction_keeps_nothing_and_frees_its_connection(
    settings: Any, tenant_factory: Any
) -> None:
    from majlis.db import create_pool

    a = await tenant_factory()
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    inserted = asyncio.Event()
    contact_id = uuid.uuid4()

    async def interrupted() -> None:
        async with tenant_transaction(pool, a) as conn:
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                a,
                contact_id,
                uuid.uuid4().bytes,
            )
            inserted.set()
            await asyncio.sleep(60)

    try:
        task = asyncio.create_task(interrupted())
        await asyncio.wait_for(inserted.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        failed_id = uuid.uuid4()
        with pytest.raises(RuntimeError, match="failed"):
            async with tenant_transaction(pool, a) as conn:  # the same, only connection
                await conn.execute(
                    "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                    a,
                    failed_id,
                    uuid.uuid4().bytes,
                )
                raise RuntimeError("failed")
        async with tenant_transaction(pool, a) as conn:
            found = await conn.fetchval(
                "SELECT count(*) FROM contacts WHERE id = ANY($1::uuid[])", [contact_id, failed_id]
            )
        assert found == 0
    finally:
        await pool.close()


# The lookups every request or event makes, in the shape the repositories write them.
HOT_QUERIES: dict[str, tuple[str, str, list[Any]]] = {
    "contact by phone": ("contacts", "SELECT id FROM contacts WHERE phone_bidx = $1", [b"x"]),
    "contact by name": ("contacts", "SELECT id FROM contacts WHERE name_bidx = $1", [b"x"]),
    "conversation by id": ("conversations", "SELECT * FROM conversations WHERE id = $1", [None]),
    "open conversation of a contact": (
        "conversations",
        "SELECT id FROM conversations WHERE contact_id = $1 AND number_id = $2"
        " AND status <> 'resolved'",
        [None, None],
    ),
    "message by wamid": ("messages", "SELECT id FROM messages WHERE wamid = $1", ["wamid.x"]),
    "message page": (
        "messages",
        "SELECT id FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 50",
        [None],
    ),
    "send by id": ("outbound_sends", "SELECT state FROM outbound_sends WHERE id = $1", [None]),
    "campaign rows of a number": (
        "campaign_recipients",
        "SELECT id FROM campaign_recipients WHERE phone_bidx = $1",
        [b"x"],
    ),
    "bot session of a conversation": (
        "flow_sessions",
        "SELECT id FROM flow_sessions WHERE conversation_id = $1",
        [None],
    ),
    "lead of a contact": ("leads", "SELECT id FROM leads WHERE contact_id = $1", [None]),
    "user by id": ("users", "SELECT role FROM users WHERE id = $1", [None]),
}


def _plan_nodes(node: dict[str, Any]) -> Any:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("name", sorted(HOT_QUERIES))
async def test_hot_lookups_enter_an_index_by_tenant_with_the_tenant_read_once(
    db_pool: Any, name: str
) -> None:
    """Checklist 9: each hot lookup enters an index by tenant_id (sequential scans off, so the
    answer does not hang on this database's statistics), an index leads with tenant_id and the
    lookup's column, and the tenant accessor runs once per statement as an InitPlan, not once
    per row."""
    table, sql, values = HOT_QUERIES[name]
    args = [uuid.uuid4() if value is None else value for value in values]
    async with tenant_transaction(db_pool, uuid.uuid4(), "agent", readonly=True) as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    document = json.loads(plan) if isinstance(plan, str) else plan
    nodes = list(_plan_nodes(document[0]["Plan"]))
    scans = [n for n in nodes if n.get("Relation Name") == table]
    assert scans, nodes
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), nodes
    conditions = " ".join(
        n.get("Index Cond", "")
        for n in nodes
        if n.get("Relation Name") == table or n.get("Node Type") == "Bitmap Index Scan"
    )
    assert "tenant_id = $0" in conditions, nodes
    # And an index leads with (tenant_id, the lookup's column), for when a tenant has many
    # rows (which index the planner takes here depends on this database's statistics).
    key = re.search(r"WHERE (\w+) = \$1", sql)
    assert key is not None
    async with db_pool.acquire() as conn:
        leads = await conn.fetch(
            "SELECT (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(i.indkey)"
            "  WITH ORDINALITY AS k (attnum, n)"
            "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            "  WHERE k.n <= 2) AS head"
            " FROM pg_index i WHERE i.indrelid = $1::regclass",
            table,
        )
    assert ["tenant_id", key.group(1)] in [list(r["head"] or []) for r in leads], leads
    assert any(n.get("Parent Relationship") == "InitPlan" for n in nodes), nodes
    assert "current_tenant_id" not in json.dumps(nodes), nodes
