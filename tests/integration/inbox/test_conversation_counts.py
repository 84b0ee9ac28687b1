"""The counts per status the conversation list shows (kept by a trigger, migration 0037):
exact whatever session counts a change, and new conversations of one tenant in concurrent
transactions never wait on each other's counter row."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from inbox import conversations_repository
from majlis.db import create_pool, tenant_transaction
from majlis.testing.db_sessions import session_where, sessions_on_two_slots


async def _number(pool: Any, tenant_id: uuid.UUID) -> uuid.UUID:
    number_id = uuid.uuid4()
    async with tenant_transaction(pool, tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, '1', '+97143000000', '\\x00')",
            tenant_id,
            number_id,
            str(uuid.uuid4().int)[:15],
        )
    return number_id


async def _open_conversation(conn: Any, tenant_id: uuid.UUID, number_id: uuid.UUID) -> uuid.UUID:
    contact_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
        tenant_id,
        contact_id,
        uuid.uuid4().bytes * 2,
    )
    await conn.execute(
        "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status)"
        " VALUES ($1, $2, $3, $4, 'open')",
        tenant_id,
        conversation_id,
        contact_id,
        number_id,
    )
    return conversation_id


async def _truth(pool: Any, tenant_id: uuid.UUID) -> tuple[dict[str, int], dict[str, int]]:
    """(the counts the list shows, the conversations counted one by one)."""
    async with tenant_transaction(pool, tenant_id, "agent", readonly=True) as conn:
        shown = await conversations_repository.status_counts(conn)
        rows = await conn.fetch("SELECT status, count(*) AS n FROM conversations GROUP BY status")
    counted = dict.fromkeys(shown, 0) | {r["status"]: r["n"] for r in rows}
    return shown, counted


async def test_new_conversations_of_one_tenant_do_not_wait_on_each_other(
    db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()
    number_id = await _number(db_pool, tenant_id)
    async with sessions_on_two_slots(db_pool, tenant_id) as (first, second):
        await _open_conversation(first, tenant_id, number_id)  # uncommitted, its count too
        await second.execute("SET LOCAL lock_timeout = '2s'")
        # With one counter row per tenant and status this waited for `first` to end (here:
        # a lock timeout); each session counts in its own row now.
        await asyncio.wait_for(_open_conversation(second, tenant_id, number_id), 10)
    shown, counted = await _truth(db_pool, tenant_id)
    assert shown == counted
    assert shown["open"] == 2


async def test_counts_stay_exact_whichever_session_counts_a_change(
    db_pool: Any, tenant_factory: Any, admin_pool: Any, settings: Any
) -> None:
    tenant_id = await tenant_factory()
    other = await tenant_factory()
    number_id = await _number(db_pool, tenant_id)
    other_number = await _number(db_pool, other)
    async with tenant_transaction(db_pool, other) as conn:
        await _open_conversation(conn, other, other_number)
    user_id = uuid.uuid4()
    async with tenant_transaction(db_pool, tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO users (tenant_id, id, email, name, role)"
            " VALUES ($1, $2, $3, 'Agent', 'agent')",
            tenant_id,
            user_id,
            f"agent-{user_id.hex[:12]}@counts.test",
        )
    created: list[uuid.UUID] = []
    # Conversations made, moved, assigned and deleted from sessions on different slots.
    for _ in range(3):
        async with sessions_on_two_slots(db_pool, tenant_id) as (first, second):
            created.append(await _open_conversation(first, tenant_id, number_id))
            created.append(await _open_conversation(second, tenant_id, number_id))
    moves = [("pending", created[0]), ("resolved", created[1]), ("snoozed", created[2])]
    for status, conversation_id in moves:
        async with sessions_on_two_slots(db_pool, tenant_id) as (_, second):
            await second.execute(
                "UPDATE conversations SET status = $2,"
                " snoozed_until = CASE WHEN $2 = 'snoozed' THEN now() + interval '1 day' END,"
                " resolved_at = CASE WHEN $2 = 'resolved' THEN now() END WHERE id = $1",
                conversation_id,
                status,
            )
    async with tenant_transaction(db_pool, tenant_id) as conn:
        # An assignment alone moves no count; a conversation deleted from any session leaves.
        await conn.execute(
            "UPDATE conversations SET assigned_user_id = $2 WHERE id = $1", created[3], user_id
        )
        await conn.execute("DELETE FROM conversations WHERE id = ANY($1::uuid[])", created[4:])
    # A session that never counted this tenant's open conversations deletes one: it leaves
    # from another slot.
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=40)
    try:
        async with session_where(
            pool,
            tenant_id,
            "NOT EXISTS (SELECT 1 FROM conversation_counts"
            " WHERE status = 'open' AND slot = pg_backend_pid() % 16)",
        ) as conn:
            await conn.execute("DELETE FROM conversations WHERE id = $1", created[3])
    finally:
        await pool.close()
    shown, counted = await _truth(db_pool, tenant_id)
    assert shown == counted == {"open": 0, "pending": 1, "snoozed": 1, "resolved": 1}
    shown_other, _ = await _truth(db_pool, other)
    assert shown_other["open"] == 1
    # Deleting the tenant deletes its conversations and its counts (no row is made for it).
    async with tenant_transaction(db_pool, tenant_id) as conn:
        await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    left = await admin_pool.fetchval(
        "SELECT count(*) FROM conversation_counts WHERE tenant_id = $1", tenant_id
    )
    assert left == 0


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_the_list_statement_takes_only_a_positive_int_as_its_limit(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit must be a positive int"):
        conversations_repository.list_sql([], limit)
