"""The owner's AI companion: registration with a one-time code sent through the dispatcher,
limited and expiring codes, owner-only access, tenant isolation and the answers with history."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from typing import Any

from chatflow.ai import companion_answer
from chatflow.ai.companion import history_key
from majlis.crypto import DecryptionError
from majlis.db import tenant_transaction
from majlis.events.broadcast import SEND_PAYLOAD_FIELD

AiWorld = Any
SEND = "command.broadcast.send_message"
PATH = "/api/v1/companion"


def fresh_phone() -> str:
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)  # 050: a valid UAE mobile prefix


def _codes(world: AiWorld, team: Any, phone: str) -> list[str]:
    """Codes in the send commands for `phone`, decrypted as the dispatcher would."""
    codes = []
    for kind, payload in list(world.events):
        if kind != SEND:
            continue
        try:
            plain = world.service.cipher.decrypt_text(
                base64.b64decode(payload["payload_enc"]), tenant_id=team.tenant_id,
                field=SEND_PAYLOAD_FIELD,
            )  # fmt: skip
        except DecryptionError:
            continue  # another tenant's command
        content = json.loads(plain)
        if content["to"] == phone:
            codes.append(content["message"]["text"]["body"].split("is ")[1][:6])
    return codes


async def _code_sent_to(world: AiWorld, team: Any, phone: str, count: int = 1) -> str:
    async with asyncio.timeout(10):
        while len(_codes(world, team, phone)) < count:  # noqa: ASYNC110  # a bus callback fills it
            await asyncio.sleep(0.05)
    return _codes(world, team, phone)[-1]


async def test_registration_code_and_owner_only_access(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    number_id = await world.users_and_number(team)
    phone = fresh_phone()
    for role in ("admin", "agent", "viewer"):
        status, _ = await world.request(
            team, role, "PUT", PATH, {"phone": phone, "number_id": str(number_id)}
        )
        assert status == 403
        assert (await world.request(team, role, "GET", PATH))[0] == 403
    status, shown = await world.request(team, "owner", "PUT", PATH,
                                        {"phone": phone, "number_id": str(number_id)})  # fmt: skip
    assert status == 202, shown
    assert shown["status"] == "pending"
    assert phone not in str(shown)
    code = await _code_sent_to(world, team, phone)
    assert (await world.request(other, "owner", "GET", PATH))[1] == {"status": "none"}

    wrong = "000000" if code != "000000" else "111111"
    status, problem = await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": wrong})
    assert (status, problem["attempts_left"]) == (422, 4)
    status, shown = await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": code})
    assert (status, shown["status"]) == (200, "verified")
    assert (await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": code}))[0] == 409
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow("SELECT phone_enc, code_hash FROM companion_numbers")
    assert row is not None
    assert phone.encode() not in row["phone_enc"]
    assert row["code_hash"] is None


async def test_codes_expire_and_tries_are_limited(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    number_id = await world.users_and_number(team)
    phone = fresh_phone()
    body = {"phone": phone, "number_id": str(number_id)}
    assert (await world.request(team, "owner", "PUT", PATH, body))[0] == 202
    code = await _code_sent_to(world, team, phone)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        status, problem = await world.request(
            team, "owner", "POST", f"{PATH}/verify", {"code": wrong}
        )
        assert (status, problem["attempts_left"]) == (422, left)
    status, problem = await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": code})
    assert (status, problem["type"].rsplit("/", 1)[-1]) == (410, "code-expired")

    assert (await world.request(team, "owner", "PUT", PATH, body))[0] == 202
    code = await _code_sent_to(world, team, phone, count=2)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute("UPDATE companion_numbers SET code_expires_at = now() - interval '1 s'")
    status, _ = await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": code})
    assert status == 410
    assert (await world.request(team, "owner", "PUT", PATH, {**body, "phone": "12"}))[0] == 422
    body = {**body, "number_id": str(uuid.uuid4())}
    assert (await world.request(team, "owner", "PUT", PATH, body))[0] == 422


async def test_the_companion_answers_only_its_verified_owner(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    number_id = await world.users_and_number(team)
    phone = fresh_phone()
    contact = await world.contact(team)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id)"
            " VALUES ($1, $2, $3, $4)",
            team.tenant_id, uuid.uuid4(), contact, number_id,
        )  # fmt: skip
    body = {"phone": phone, "number_id": str(number_id)}
    assert (await world.request(team, "owner", "PUT", PATH, body))[0] == 202
    assert await companion_answer(team.tenant_id, phone, "How is today?") is None  # not verified
    code = await _code_sent_to(world, team, phone)
    assert (await world.request(team, "owner", "POST", f"{PATH}/verify", {"code": code}))[0] == 200

    reply = await companion_answer(team.tenant_id, phone, "How is today going?")
    assert reply == "Today: 1 new conversations, 1 open (1 unassigned), 0 new leads."
    reply = await companion_answer(team.tenant_id, phone, "كيف اليوم؟")
    assert reply is not None
    assert reply.startswith("ملخص اليوم: 1 محادثة جديدة")
    assert await companion_answer(other.tenant_id, phone, "How is today?") is None
    assert await companion_answer(team.tenant_id, fresh_phone(), "How is today?") is None
    assert await companion_answer(team.tenant_id, "not a phone", "How is today?") is None

    bidx = world.service.indexer.phone(phone, tenant_id=team.tenant_id)
    key = history_key(world.service.redis_prefix, team.tenant_id, bidx)
    redis = world.service.redis
    assert await redis.llen(key) == 4
    assert 0 < await redis.ttl(key) <= 24 * 3600
    assert phone[1:] not in key
    assert b"How is today" not in b"".join(await redis.lrange(key, 0, -1))  # encrypted
    assert (await world.request(team, "owner", "DELETE", PATH))[0] == 204
    assert await redis.exists(key) == 0
    assert await companion_answer(team.tenant_id, phone, "How is today?") is None
