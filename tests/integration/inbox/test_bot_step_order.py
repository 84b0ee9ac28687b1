"""A flow's steps reach the customer in the order the engine queued them, although the inbox
consumes commands concurrently: a step that arrives before its predecessor waits for it; one
whose predecessor never comes is applied after a bounded wait (late beats lost); a redelivered
step stores nothing twice."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import orjson

from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope
from majlis.events.chatflow import BOT_ACTIONS_FIELD, RunBotActions


def bot_texts(world: Any, tenant: Any, cid: uuid.UUID, step: int, *texts: str) -> Envelope:
    """The chatflow's command for one step sending `texts`, as the engine queues it."""
    actions = [{"kind": "send", "message": {"type": "text", "text": {"body": t}}} for t in texts]
    sealed = world.cipher.encrypt(
        orjson.dumps(actions), tenant_id=tenant.tenant_id, field=BOT_ACTIONS_FIELD
    )
    command = RunBotActions(
        conversation_id=cid, actions_enc=base64.b64encode(sealed).decode("ascii"), step=step
    )
    return make_envelope(command, tenant_id=tenant.tenant_id)


async def stored_bot_texts(world: Any, tenant: Any, cid: uuid.UUID) -> list[str]:
    async with tenant_transaction(world.pool, tenant.tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT body_enc FROM messages WHERE conversation_id = $1 AND sender_kind = 'bot'"
            " ORDER BY seq",
            cid,
        )
    bodies = [
        orjson.loads(world.cipher.decrypt(r["body_enc"], tenant_id=tenant.tenant_id,
                                          field="messages.body"))
        for r in rows
    ]  # fmt: skip
    return [b["text"]["body"] for b in bodies]


async def until_texts(
    world: Any, tenant: Any, cid: uuid.UUID, count: int, within: float = 15.0
) -> list[str]:
    async with asyncio.timeout(within):
        while True:
            texts = await stored_bot_texts(world, tenant, cid)
            if len(texts) >= count:
                return texts
            await asyncio.sleep(0.05)


async def applied_step(world: Any, tenant: Any, cid: uuid.UUID) -> int:
    async with tenant_transaction(world.pool, tenant.tenant_id) as conn:
        step: int = await conn.fetchval(
            "SELECT bot_step_applied FROM conversations WHERE id = $1", cid
        )
    return step


async def test_a_step_that_arrives_first_waits_for_the_one_queued_before_it(
    inbox_world: Any,
) -> None:
    tenant = await inbox_world.team()
    cid, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    second = bot_texts(inbox_world, tenant, cid, 2, "Your email?")
    await inbox_world.publisher.publish(second)
    await asyncio.sleep(0.5)
    assert await stored_bot_texts(inbox_world, tenant, cid) == []  # held back, not stored
    first = bot_texts(inbox_world, tenant, cid, 1, "Welcome", "Our shop")
    await inbox_world.publisher.publish(first)
    assert await until_texts(inbox_world, tenant, cid, 3) == ["Welcome", "Our shop", "Your email?"]
    assert await applied_step(inbox_world, tenant, cid) == 2

    # A redelivered step (same event id) stores nothing twice and moves nothing back.
    await inbox_world.publisher.publish(first)
    third = bot_texts(inbox_world, tenant, cid, 3, "Thanks")
    await inbox_world.publisher.publish(third)
    texts = await until_texts(inbox_world, tenant, cid, 4)
    await asyncio.sleep(0.3)
    assert await stored_bot_texts(inbox_world, tenant, cid) == texts
    assert texts == ["Welcome", "Our shop", "Your email?", "Thanks"]
    assert await applied_step(inbox_world, tenant, cid) == 3


async def test_a_step_whose_predecessor_never_comes_is_applied_after_the_wait(
    inbox_world: Any,
) -> None:
    tenant = await inbox_world.team()
    cid, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    await inbox_world.publisher.publish(bot_texts(inbox_world, tenant, cid, 2, "Second"))
    # Step 1 was lost (say, dead-lettered): step 2 still reaches the customer.
    assert await until_texts(inbox_world, tenant, cid, 1) == ["Second"]
    assert await applied_step(inbox_world, tenant, cid) == 2
    # Should step 1 turn up after all, it is stored (late), never dropped, and the
    # conversation's applied step does not move back.
    await inbox_world.publisher.publish(bot_texts(inbox_world, tenant, cid, 1, "First"))
    assert await until_texts(inbox_world, tenant, cid, 2) == ["Second", "First"]
    assert await applied_step(inbox_world, tenant, cid) == 2
    # Other conversations are not held up meanwhile: each counts its own steps.
    other, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    await inbox_world.publisher.publish(bot_texts(inbox_world, tenant, other, 1, "Hello"))
    assert await until_texts(inbox_world, tenant, other, 1, within=3.0) == ["Hello"]
