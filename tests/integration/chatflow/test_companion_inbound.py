"""The owner's companion on the real inbound path: a verified owner's message to the business
number is answered by the companion and never reaches the team inbox; a redelivered webhook is
answered once; other people's messages, and the owner's after removal, go to the inbox."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

from majlis.events import make_envelope
from majlis.events.webhook_ingest import MessageReceived

FlowWorld = Any
PATH = "/api/v1/companion"


def _texts(sent: list[dict[str, Any]], phone: str) -> list[str]:
    to = phone.lstrip("+")
    return [m["payload"]["text"]["body"] for m in sent if m["type"] == "text" and m["wa_id"] == to]


async def _verified_owner(world: FlowWorld, team: Any) -> str:
    """Register and confirm a fresh companion number of the team's owner; returns it."""
    phone: str = world.fresh_phone()
    owner = team.people["owner"]
    # The code is a free-form message: Meta only delivers it inside an open service window.
    await world.open_window(team, phone)
    status, body, _ = await owner.request(
        "PUT", PATH, json={"phone": phone, "number_id": str(team.number_id)}
    )
    assert status == 202, body
    sent = await world.sent_count(team, 1)
    code = _texts(sent, phone)[0].split("is ")[1][:6]
    status, body, _ = await owner.request("POST", f"{PATH}/verify", json={"code": code})
    assert (status, body["status"]) == (200, "verified"), body
    return phone


async def _deliver(world: FlowWorld, team: Any, phone: str, wamid: str, text: str) -> Any:
    """Publish an inbound message exactly as webhook-ingest does; returns the envelope."""
    wa_id, now = phone.lstrip("+"), datetime.now(UTC)
    event = MessageReceived(
        phone_number_id=team.phone_number_id,
        waba_id=team.waba_id,
        message={"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())),
                 "type": "text", "text": {"body": text}},
        contact={"wa_id": wa_id, "profile": {"name": "Owner"}},
        received_at=now,
    )  # fmt: skip
    envelope = make_envelope(event, tenant_id=team.tenant_id)
    await world.publisher.publish(envelope)
    return envelope


async def test_owner_messages_go_to_the_companion_not_the_inbox(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    phone = await _verified_owner(world, team)

    wamid = "wamid.owner" + secrets.token_hex(12)
    await _deliver(world, team, phone, wamid, "How is business today?")
    sent = await world.sent_count(team, 2)
    answer = _texts(sent, phone)[1]
    assert answer.startswith("Today:")
    assert "unassigned" in answer
    # Nothing of it in the team inbox: no contact, conversation or message.
    assert await world.sql(team, "SELECT 1 FROM messages WHERE wamid = $1", wamid) == []
    assert await world.sql(team, "SELECT 1 FROM contacts") == []
    assert await world.sql(team, "SELECT 1 FROM conversations") == []
    status, listed, _ = await team.people["admin"].request("GET", "/api/v1/conversations")
    assert (status, listed["items"]) == (200, [])

    # Meta redelivers the same message as another webhook: routed (and answered) once.
    again = await _deliver(world, team, phone, wamid, "How is business today?")
    await world.until(
        team, "SELECT 1 FROM processed_messages WHERE consumer = 'inbox' AND event_id = $1",
        again.id,
    )  # fmt: skip
    # An Arabic question after it: answered in Arabic, and the redelivery added nothing.
    await _deliver(world, team, phone, "wamid.owner" + secrets.token_hex(12), "كيف العمل اليوم؟")
    sent = await world.sent_count(team, 3)
    await asyncio.sleep(0.3)  # let a wrongly duplicated answer arrive, if there were one
    texts = _texts(await world.sent(team), phone)
    assert len(texts) == 3, texts
    assert texts[2].startswith("ملخص اليوم")
    rows = await world.sql(team, "SELECT count(*) FROM companion_messages")
    assert rows[0][0] == 2


async def test_only_the_verified_owner_of_that_number_reaches_the_companion(
    flow_world: FlowWorld,
) -> None:
    world = flow_world
    team, other = await world.team(), await world.team()
    phone = await _verified_owner(world, team)

    # The same person writing to another business's number is that business's customer.
    wamid = "wamid.other" + secrets.token_hex(12)
    await world.open_window(other, phone)
    await _deliver(world, other, phone, wamid, "Hello")
    await world.until(other, "SELECT 1 FROM messages WHERE wamid = $1", wamid)
    assert _texts(await world.sent(other), phone) == []

    # A pending (unconfirmed) registration does not route.
    status, _, _ = await team.people["owner"].request(
        "PUT", PATH, json={"phone": phone, "number_id": str(team.number_id)}
    )
    assert status == 202  # re-registering replaces the verified row with a pending one
    await world.sent_count(team, 2)
    wamid = "wamid.pending" + secrets.token_hex(12)
    await _deliver(world, team, phone, wamid, "Hello?")
    await world.until(team, "SELECT 1 FROM messages WHERE wamid = $1", wamid)

    # Removed: the owner's messages are ordinary customer messages again.
    status, _, _ = await team.people["owner"].request("DELETE", PATH)
    assert status == 204
    wamid = "wamid.removed" + secrets.token_hex(12)
    await _deliver(world, team, phone, wamid, "Hello again")
    await world.until(team, "SELECT 1 FROM messages WHERE wamid = $1", wamid)
    assert len(_texts(await world.sent(team), phone)) == 2  # the two codes, no answers
