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
    """Codes in the send commands for `phone` (free text or an authentication template)."""
    codes = []
    for message in _messages(world, team, phone):
        if message["type"] == "template":  # an authentication template: the body's parameter
            codes.append(message["template"]["components"][0]["parameters"][0]["text"])
        else:
            codes.append(message["text"]["body"].split("is ")[1][:6])
    return codes


def _messages(world: AiWorld, team: Any, phone: str) -> list[dict[str, Any]]:
    """The messages of the send commands for `phone`, decrypted as the dispatcher would."""
    found = []
    for kind, payload in list(world.events):
        if kind != SEND:
            continue
        try:
            plain = world.service.cipher.decrypt_text(
                base64.b64decode(payload["payload_enc"]), tenant_id=team.tenant_id,
                field=SEND_PAYLOAD_FIELD,
            )  # fmt: skip
        except DecryptionError:
            continue
        content = json.loads(plain)
        if content["to"] == phone:
            found.append(content["message"])
    return found


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


async def _template(
    world: AiWorld, team: Any, number_id: uuid.UUID, name: str, language: str,
    category: str = "AUTHENTICATION", status: str = "APPROVED",
) -> None:  # fmt: skip
    """A template of the number's WABA in the state the broadcast service keeps it."""
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO templates (tenant_id, id, number_id, waba_id, name, language, category,"
            " content_enc, status) SELECT $1, $2, id, waba_id, $3, $4, $5, $6, $7"
            " FROM whatsapp_numbers WHERE id = $8",
            team.tenant_id, uuid.uuid4(), name, language, category, b"sealed", status, number_id,
        )  # fmt: skip


async def test_code_goes_by_free_text_with_a_hint_without_an_authentication_template(
    ai_world: AiWorld,
) -> None:
    world = ai_world
    team = await world.team()
    number_id = await world.users_and_number(team)
    # Neither a pending authentication template nor an approved utility one will do.
    await _template(world, team, number_id, "login_code", "en", status="PENDING")
    await _template(world, team, number_id, "order_update", "en", category="UTILITY")
    phone = fresh_phone()
    body = {"phone": phone, "number_id": str(number_id)}
    status, shown = await world.request(team, "owner", "PUT", PATH, body)
    assert status == 202, shown
    delivery = shown["code_delivery"]
    assert delivery["via"] == "text"
    assert "last 24 hours" in delivery["hint"]
    assert "Authentication template" in delivery["hint"]
    assert shown["status"] == "pending"  # the other fields stay
    code = await _code_sent_to(world, team, phone)
    [message] = _messages(world, team, phone)
    assert message["type"] == "text"
    assert code in message["text"]["body"]


async def test_code_goes_by_the_preferred_approved_authentication_template(
    ai_world: AiWorld,
) -> None:
    world = ai_world
    team = await world.team()
    number_id = await world.users_and_number(team)
    await _template(world, team, number_id, "a_code", "fr")
    await _template(world, team, number_id, "b_code", "ar")
    await _template(world, team, number_id, "c_code", "en_US")
    await _template(world, team, number_id, "d_code", "en")
    await _template(world, team, number_id, "a_code", "en", status="REJECTED")
    phone = fresh_phone()
    body = {"phone": phone, "number_id": str(number_id)}

    # English (the default): `en` before `en_US`; Arabic when the owner's dashboard is Arabic.
    for count, (language, chosen) in enumerate(
        [(None, ("d_code", "en")), ("ar", ("b_code", "ar"))], start=1
    ):
        sent = body if language is None else {**body, "language": language}
        status, shown = await world.request(team, "owner", "PUT", PATH, sent)
        assert status == 202, shown
        assert shown["code_delivery"] == {
            "via": "template", "template": chosen[0], "language": chosen[1],
        }  # fmt: skip
        code = await _code_sent_to(world, team, phone, count)
        message = _messages(world, team, phone)[-1]
        assert message["template"]["name"] == chosen[0]
        assert message["template"]["language"] == {"code": chosen[1]}
        body_part, button = message["template"]["components"]
        assert body_part == {"type": "body", "parameters": [{"type": "text", "text": code}]}
        assert button == {"type": "button", "sub_type": "url", "index": "0",
                          "parameters": [{"type": "text", "text": code}]}  # fmt: skip

    # Only other languages: any of them, deterministically (the first by code, then by name).
    other = await world.team()
    other_number = await world.users_and_number(other)
    await _template(world, other, other_number, "z_code", "fr")
    await _template(world, other, other_number, "y_code", "de")
    body = {"phone": fresh_phone(), "number_id": str(other_number), "language": "ar"}
    status, shown = await world.request(other, "owner", "PUT", PATH, body)
    assert (status, shown["code_delivery"]["template"]) == (202, "y_code"), shown
    status, problem = await world.request(other, "owner", "PUT", PATH, {**body, "language": "fr"})
    assert status == 422, problem  # only the dashboard's languages
