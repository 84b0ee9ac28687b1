"""Replying through the gateway: who may send, collisions, the 24-hour window, idempotency,
notes with mentions, the SendMessage command on the bus, and tenant isolation."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope, parse_envelope
from majlis.events.broadcast import SEND_PAYLOAD_FIELD
from majlis.events.webhook_ingest import EchoReceived
from majlis.messaging import Bus, QueueSpec, dlq_name, queue_name, retry_queue_name


class Observed:
    """A queue of this module bound to the send command and the inbox's message events."""

    def __init__(self, bus: Bus, spec: QueueSpec) -> None:
        self.bus, self.spec = bus, spec
        self.seen: list[Envelope] = []

    async def pull(self) -> None:
        channel = await self.bus.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(
                queue_name(self.bus.prefix, self.spec.name), passive=True
            )
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                self.seen.append(parse_envelope(message.body))
        finally:
            await channel.close()

    def of(self, kind: str, **fields: Any) -> list[Envelope]:
        return [
            e
            for e in self.seen
            if e.type == kind and all(e.payload.get(k) == str(v) for k, v in fields.items())
        ]

    async def wait(
        self, kind: str, count: int = 1, within: float = 10.0, **fields: Any
    ) -> list[Envelope]:
        async with asyncio.timeout(within):
            while len(found := self.of(kind, **fields)) < count:
                await asyncio.sleep(0.05)
                await self.pull()
        return found


@pytest.fixture(scope="module")
async def observed(settings: Any) -> AsyncIterator[Observed]:
    bus = await Bus.connect(settings, name="majlis-tests-replies")
    spec = QueueSpec(
        f"tests.replies.{uuid.uuid4().hex[:8]}",
        ("command.broadcast.send_message", "inbox.message.#"),
    )
    await bus.declare_topology([spec])
    yield Observed(bus, spec)
    channel = await bus.channel(publisher_confirms=False)
    await channel.queue_delete(queue_name(bus.prefix, spec.name))
    await channel.queue_delete(dlq_name(bus.prefix, spec.name))
    for attempt in range(1, len(bus.retry_delays_ms) + 1):
        await channel.queue_delete(retry_queue_name(bus.prefix, spec.name, attempt))
    await channel.close()
    await bus.close()


async def drained(admin_pool: Any, tenant_id: uuid.UUID, within: float = 10.0) -> None:
    """Wait until the relay published every outbox row of the tenant (superuser look)."""
    query = "SELECT count(*) FROM outbox WHERE tenant_id = $1"
    async with asyncio.timeout(within):
        while True:
            if not await admin_pool.fetchval(query, tenant_id):
                return
            await asyncio.sleep(0.05)


async def assign(world: Any, team: Any, conversation_id: uuid.UUID, who: str) -> None:
    """`who` takes the conversation over: the takeover endpoint if it exists, else SQL."""
    user_id = team.user_ids[who]
    status, _, _ = await team.people[who].request(
        "POST", f"/api/v1/conversations/{conversation_id}/takeover", json={"force": True}
    )
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        if status not in (200, 201):
            await conn.execute(
                "UPDATE conversations SET assigned_user_id = $2, controller = 'human'"
                " WHERE id = $1",
                conversation_id,
                user_id,
            )
        row = await conn.fetchrow(
            "SELECT assigned_user_id FROM conversations WHERE id = $1", conversation_id
        )
    assert row is not None
    assert row["assigned_user_id"] == user_id


async def sql(world: Any, team: Any, query: str, *args: Any) -> Any:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        return await conn.fetch(query, *args)


def send(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **extra}


def payload_of(world: Any, team: Any, command: Envelope) -> Any:
    sealed = base64.b64decode(command.payload["payload_enc"])
    clear = world.cipher.decrypt(sealed, tenant_id=team.tenant_id, field=SEND_PAYLOAD_FIELD)
    return orjson.loads(clear)


async def test_the_assignees_reply_is_stored_queued_and_sent_as_a_command(
    inbox_world: Any, observed: Observed
) -> None:
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    conversation_id, inbound_id = await inbox_world.inbound(team, phone=phone)
    await assign(inbox_world, team, conversation_id, "agent")
    path = f"/api/v1/conversations/{conversation_id}/messages"
    status, body, _ = await team.agent.request(
        "POST", path, json=send("Your order ships today", last_seen_message_id=str(inbound_id))
    )
    assert status == 201, body
    assert body["status"] == "queued"
    assert body["direction"] == "outbound"
    assert body["sender_user_id"] == str(team.user_ids["agent"])
    assert body["body"] == {
        "type": "text",
        "text": {"body": "Your order ships today", "preview_url": False},
    }
    message_id = uuid.UUID(body["id"])
    rows = await sql(
        inbox_world,
        team,
        "SELECT m.status, m.sender_kind, m.seq, m.body_enc, c.last_message_seq"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1",
        message_id,
    )
    row = rows[0]
    assert (row["status"], row["sender_kind"], row["last_message_seq"]) == (
        "queued",
        "user",
        row["seq"],
    )
    stored = inbox_world.cipher.decrypt(
        row["body_enc"], tenant_id=team.tenant_id, field="messages.body"
    )
    assert b"Your order ships today" in stored
    [command] = await observed.wait("command.broadcast.send_message", message_id=message_id)
    assert command.tenant_id == team.tenant_id
    assert command.payload["number_id"] == str(team.number_id)
    assert command.payload["conversation_id"] == str(conversation_id)
    assert command.payload["priority"] == "interactive"
    assert phone not in orjson.dumps(command.payload).decode()
    assert payload_of(inbox_world, team, command) == {
        "to": phone,
        "message": {
            "type": "text",
            "text": {"body": "Your order ships today", "preview_url": False},
        },
    }
    [added] = await observed.wait("inbox.message.added", message_id=message_id)
    assert added.payload["direction"] == "outbound"
    assert "Your order" not in str(added.payload)


async def test_only_the_assignee_may_send_and_viewers_never(inbox_world: Any) -> None:
    team = await inbox_world.team()
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    path = f"/api/v1/conversations/{conversation_id}/messages"
    # Unassigned: even an agent must take it over first.
    status, body, _ = await team.agent.request("POST", path, json=send("hi"))
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/not-assignee"), body
    assert "takeover" in body["detail"]
    await assign(inbox_world, team, conversation_id, "agent")
    status, body, _ = await team.agent2.request("POST", path, json=send("me too"))
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/not-assignee"), body
    status, body, _ = await team.admin.request("POST", path, json=send("admin"))
    assert status == 409, body
    status, body, _ = await team.viewer.request("POST", path, json=send("viewer"))
    assert status == 403, body
    status, body, _ = await team.viewer.request("POST", path, json={"type": "note", "text": "x"})
    assert status == 403, body
    # A note is not a reply to the customer: anyone working conversations may add one.
    status, body, _ = await team.agent2.request("POST", path, json={"type": "note", "text": "fyi"})
    assert status == 201, body
    assert (body["direction"], body["status"]) == ("note", "internal")
    count = "SELECT count(*) AS n FROM messages WHERE conversation_id = $1 AND direction = $2"
    assert (await sql(inbox_world, team, count, conversation_id, "outbound"))[0]["n"] == 0
    await assign(inbox_world, team, conversation_id, "agent2")
    status, body, _ = await team.agent2.request("POST", path, json=send("now mine"))
    assert status == 201, body
    status, body, _ = await team.agent.request("POST", path, json=send("not mine now"))
    assert status == 409, body
    assert (await sql(inbox_world, team, count, conversation_id, "outbound"))[0]["n"] == 1


async def test_a_reply_that_did_not_see_the_owners_answer_from_the_business_app_is_refused(
    inbox_world: Any,
) -> None:
    """Coexistence: the owner answered from the WhatsApp Business app on the phone while the
    agent's screen showed only the customer's message: the agent's reply is refused with the
    owner's answer (the customer never gets two), and goes once the agent has seen it."""
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    conversation_id, first = await inbox_world.inbound(team, phone=phone)
    path = f"/api/v1/conversations/{conversation_id}/messages"
    await assign(inbox_world, team, conversation_id, "agent")
    wamid = inbox_world.fresh_wamid()
    echo = EchoReceived(
        phone_number_id=team.phone_number_id,
        waba_id=team.waba_id,
        message={
            "from": "97143000000",
            "to": phone.lstrip("+"),
            "id": wamid,
            "timestamp": str(int(datetime.now(UTC).timestamp())),
            "type": "text",
            "text": {"body": "Sent from my phone: it ships today"},
        },
        received_at=datetime.now(UTC),
    )
    await inbox_world.publisher.publish(make_envelope(echo, tenant_id=team.tenant_id))
    assert (await inbox_world.stored(team, wamid))[0] == conversation_id
    status, body, _ = await team.agent.request(
        "POST", path, json=send("Agent here", last_seen_message_id=str(first))
    )
    assert status == 409, body
    assert body["type"] == "https://majlis.dev/problems/conversation-changed"
    [newer] = body["newer_messages"]
    assert (newer["sender_kind"], newer["sender_user_id"]) == ("business_app", None)
    assert newer["body"]["text"]["body"] == "Sent from my phone: it ships today"
    status, body, _ = await team.agent.request(
        "POST", path, json=send("Agent here", last_seen_message_id=newer["id"])
    )
    assert status == 201, body
    status, listed, _ = await team.agent.request("GET", path)
    assert status == 200, listed
    # Newest first: the agent's reply, the owner's answer, the customer's message.
    assert [(m["direction"], m["sender_kind"]) for m in listed["items"]] == [
        ("outbound", "user"),
        ("outbound", "business_app"),
        ("inbound", "customer"),
    ]


async def test_a_reply_on_an_outdated_view_is_refused_with_the_newer_reply(
    inbox_world: Any, observed: Observed, admin_pool: Any
) -> None:
    team = await inbox_world.team()
    conversation_id, first = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    path = f"/api/v1/conversations/{conversation_id}/messages"
    await assign(inbox_world, team, conversation_id, "agent")
    status, mine, _ = await team.agent.request(
        "POST", path, json=send("Agent one here", last_seen_message_id=str(first))
    )
    assert status == 201, mine
    # Agent 2 takes over, but their screen still shows only the customer's first message.
    await assign(inbox_world, team, conversation_id, "agent2")
    status, body, _ = await team.agent2.request(
        "POST", path, json=send("Agent two here", last_seen_message_id=str(first))
    )
    assert status == 409, body
    assert body["type"] == "https://majlis.dev/problems/conversation-changed"
    [newer] = body["newer_messages"]
    assert newer["id"] == mine["id"]
    assert newer["seq"] == mine["seq"]
    assert newer["sender_user_id"] == str(team.user_ids["agent"])
    assert newer["body"]["text"]["body"] == "Agent one here"
    # An unknown "last seen" id is a bad request, not a collision.
    status, body, _ = await team.agent2.request(
        "POST", path, json=send("x", last_seen_message_id=str(uuid.uuid4()))
    )
    assert (status, body["type"]) == (422, "https://majlis.dev/problems/unknown-last-seen-message")
    # Seen now: accepted. The caller's own later reply and a newer customer message never collide.
    status, body, _ = await team.agent2.request(
        "POST", path, json=send("Agent two here", last_seen_message_id=mine["id"])
    )
    assert status == 201, body
    await inbox_world.inbound(team, phone=(await _phone(inbox_world, team, conversation_id)))
    status, again, _ = await team.agent2.request(
        "POST", path, json=send("And more", last_seen_message_id=mine["id"])
    )
    assert status == 201, again
    await drained(admin_pool, team.tenant_id)
    await observed.pull()
    commands = observed.of("command.broadcast.send_message", conversation_id=conversation_id)
    assert sorted(c.payload["message_id"] for c in commands) == sorted(
        [mine["id"], body["id"], again["id"]]
    )


async def _phone(world: Any, team: Any, conversation_id: uuid.UUID) -> str:
    rows = await sql(
        world,
        team,
        "SELECT ct.phone_enc FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE c.id = $1",
        conversation_id,
    )
    return str(
        world.cipher.decrypt_text(
            rows[0]["phone_enc"], tenant_id=team.tenant_id, field="contacts.phone"
        )
    )


async def test_outside_24_hours_only_templates_and_notes(
    inbox_world: Any, observed: Observed
) -> None:
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    conversation_id, _ = await inbox_world.inbound(team, phone=phone)
    await assign(inbox_world, team, conversation_id, "agent")
    await sql(
        inbox_world,
        team,
        "UPDATE conversations SET last_customer_message_at = now() - interval '25 hours'"
        " WHERE id = $1",
        conversation_id,
    )
    path = f"/api/v1/conversations/{conversation_id}/messages"
    status, body, _ = await team.agent.request("POST", path, json=send("late"))
    assert status == 422, body
    assert body["type"] == "https://majlis.dev/problems/outside-customer-service-window"
    assert "template" in body["detail"]
    assert "131047" in body["detail"]
    image = {"type": "image", "media": {"link": "https://cdn.example/p.jpg"}}
    assert (await team.agent.request("POST", path, json=image))[0] == 422
    template = {
        "type": "template",
        "template": {
            "name": "order_update",
            "language": "en_US",
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "image", "image": {"link": "https://cdn.example/p.jpg"}}
                    ],
                },
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": 0,
                    "parameters": [{"type": "payload", "payload": "TRACK"}],
                },
            ],
        },
    }
    status, body, _ = await team.agent.request("POST", path, json=template)
    assert status == 201, body
    [command] = await observed.wait("command.broadcast.send_message", message_id=body["id"])
    message = payload_of(inbox_world, team, command)["message"]
    assert message["type"] == "template"
    assert message["template"]["language"] == {"code": "en_US"}
    assert message["template"]["components"][2]["index"] == "0"
    status, body, _ = await team.agent.request("POST", path, json={"type": "note", "text": "ok"})
    assert status == 201, body


async def test_an_idempotency_key_stores_and_sends_once(
    inbox_world: Any, observed: Observed, admin_pool: Any
) -> None:
    team = await inbox_world.team()
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    await assign(inbox_world, team, conversation_id, "agent")
    path = f"/api/v1/conversations/{conversation_id}/messages"
    key = {"Idempotency-Key": secrets.token_hex(16)}
    status, first, _ = await team.agent.request("POST", path, json=send("once"), headers=key)
    assert status == 201, first
    status, again, _ = await team.agent.request("POST", path, json=send("once"), headers=key)
    assert status == 200, again
    assert again["id"] == first["id"]
    status, body, _ = await team.agent2.request(
        "POST", path, json={"type": "note", "text": "n"}, headers=key
    )
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/idempotency-key-reused")
    bad = {"Idempotency-Key": "k" * 129}
    assert (await team.agent.request("POST", path, json=send("x"), headers=bad))[0] == 422
    rows = await sql(
        inbox_world,
        team,
        "SELECT idempotency_key FROM messages"
        " WHERE conversation_id = $1 AND direction = 'outbound'",
        conversation_id,
    )
    assert [r["idempotency_key"] for r in rows] == [key["Idempotency-Key"]]
    await drained(admin_pool, team.tenant_id)
    await observed.pull()
    assert len(observed.of("command.broadcast.send_message", conversation_id=conversation_id)) == 1


async def test_notes_store_mentions_and_never_reach_whatsapp(
    inbox_world: Any, observed: Observed, admin_pool: Any
) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    path = f"/api/v1/conversations/{conversation_id}/messages"
    owner, agent2 = team.user_ids["owner"], team.user_ids["agent2"]
    note = {"type": "note", "text": f"@[{owner}] please check", "mentions": [str(agent2)]}
    status, body, _ = await team.agent.request("POST", path, json=note)
    assert status == 201, body
    assert sorted(body["mentions"]) == sorted([str(owner), str(agent2)])
    rows = await sql(
        inbox_world, team, "SELECT user_id FROM message_mentions WHERE message_id = $1",
        uuid.UUID(body["id"]),
    )  # fmt: skip
    assert {r["user_id"] for r in rows} == {owner, agent2}
    [added] = await observed.wait("inbox.message.added", message_id=body["id"])
    assert added.payload["direction"] == "note"
    assert sorted(added.payload["mentions"]) == sorted([str(owner), str(agent2)])
    # Another tenant's user is unknown here, exactly like a made-up id.
    stranger = {"type": "note", "text": "x", "mentions": [str(other.user_ids["agent"])]}
    unknown = {"type": "note", "text": "x", "mentions": [str(uuid.uuid4())]}
    s1, b1, _ = await team.agent.request("POST", path, json=stranger)
    s2, b2, _ = await team.agent.request("POST", path, json=unknown)
    assert (s1, b1) == (s2, b2) == (422, b1)
    assert b1["type"] == "https://majlis.dev/problems/unknown-mention"
    await drained(admin_pool, team.tenant_id)
    await observed.pull()
    assert observed.of("command.broadcast.send_message", conversation_id=conversation_id) == []
    count = await sql(
        inbox_world, team, "SELECT count(*) AS n FROM messages WHERE conversation_id = $1",
        conversation_id,
    )  # fmt: skip
    assert count[0]["n"] == 2  # the customer's message and the one note


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "text", "text": ""},
        {"type": "text", "text": "x" * 4097},
        {"type": "text", "text": "x", "extra": 1},
        {"type": "fax", "text": "x"},
        {"type": "image", "media": {"link": "http://insecure.example/p.jpg"}},
        {"type": "image", "media": {"id": "1", "link": "https://a.example/p.jpg"}},
        {"type": "audio", "media": {"id": "123"}, "caption": "no"},
        {"type": "image", "media": {"id": "123"}, "filename": "a.jpg"},
        {"type": "template", "template": {"name": "Bad-Name", "language": "en"}},
        {"type": "template", "template": {"name": "ok", "language": "english"}},
        {
            "type": "template",
            "template": {
                "name": "ok",
                "language": "en",
                "components": [{"type": "body", "parameters": [{"type": "sms", "text": "x"}]}],
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pick"},
                "action": {
                    "buttons": [{"reply": {"id": str(i), "title": f"B{i}"}} for i in range(4)]
                },
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pick"},
                "action": {"buttons": [{"reply": {"id": "1", "title": "x" * 21}}]},
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pick"},
                "action": {
                    "button": "Menu",
                    "sections": [
                        {"title": "A", "rows": [{"id": f"a{i}", "title": "r"} for i in range(6)]},
                        {"title": "B", "rows": [{"id": f"b{i}", "title": "r"} for i in range(5)]},
                    ],
                },
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pick"},
                "action": {
                    "button": "Menu",
                    "sections": [{"rows": [{"id": "1", "title": "r", "description": "d" * 73}]}],
                },
            },
        },
    ],
)
async def test_bad_bodies_are_refused_without_echo(inbox_world: Any, bad: dict[str, Any]) -> None:
    team = await _shared_team(inbox_world)
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/conversations/{team.conversation_id}/messages", json=bad
    )
    assert status == 422, body
    assert "insecure.example" not in str(body)
    assert "xxxxx" not in str(body)


_SHARED: dict[str, Any] = {}


async def _shared_team(world: Any) -> Any:
    """One assigned conversation for the many validation cases (they store nothing)."""
    if "team" not in _SHARED:
        team = await world.team()
        conversation_id, _ = await world.inbound(team, phone=world.fresh_phone())
        await assign(world, team, conversation_id, "agent")
        team.conversation_id = conversation_id
        _SHARED["team"] = team
    return _SHARED["team"]


async def test_interactive_and_media_messages_become_cloud_api_objects(
    inbox_world: Any, observed: Observed
) -> None:
    team = await inbox_world.team()
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    await assign(inbox_world, team, conversation_id, "agent")
    path = f"/api/v1/conversations/{conversation_id}/messages"
    buttons = {
        "type": "button",
        "body": {"text": "Track your order?"},
        "footer": {"text": "Acme"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
    }
    rows = [{"id": "r1", "title": "Delivery", "description": "When will it come"}]
    listing = {
        "type": "list",
        "header": {"type": "text", "text": "Help"},
        "body": {"text": "Choose"},
        "action": {"button": "Topics", "sections": [{"title": "Orders", "rows": rows}]},
    }
    document = {
        "type": "document",
        "media": {"id": "1234567890"},
        "caption": "Your invoice",
        "filename": "invoice.pdf",
    }
    expected = [
        {"type": "interactive", "interactive": buttons},
        {"type": "interactive", "interactive": listing},
        {"type": "document", "document": {"id": "1234567890", "caption": "Your invoice",
                                          "filename": "invoice.pdf"}},
    ]  # fmt: skip
    for request, cloud in zip(
        [{"type": "interactive", "interactive": buttons},
         {"type": "interactive", "interactive": listing}, document],
        expected,
        strict=True,
    ):  # fmt: skip
        status, body, _ = await team.agent.request("POST", path, json=request)
        assert status == 201, body
        assert body["body"] == cloud
        [command] = await observed.wait("command.broadcast.send_message", message_id=body["id"])
        assert payload_of(inbox_world, team, command)["message"] == cloud


async def test_a_restricted_or_deleted_contact_gets_nothing(inbox_world: Any) -> None:
    team = await inbox_world.team()
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    await assign(inbox_world, team, conversation_id, "agent")
    path = f"/api/v1/conversations/{conversation_id}/messages"
    for change in ("processing_restricted = true", "deleted_at = now()"):
        await sql(
            inbox_world,
            team,
            "UPDATE contacts SET processing_restricted = false, deleted_at = NULL"
            " WHERE id = (SELECT contact_id FROM conversations WHERE id = $1)",
            conversation_id,
        )
        await sql(
            inbox_world,
            team,
            f"UPDATE contacts SET {change}"  # noqa: S608  (two fixed texts)
            " WHERE id = (SELECT contact_id FROM conversations WHERE id = $1)",
            conversation_id,
        )
        status, body, _ = await team.agent.request("POST", path, json=send("hello"))
        assert (status, body["type"]) == (422, "https://majlis.dev/problems/contact-restricted")
    count = await sql(
        inbox_world, team, "SELECT count(*) AS n FROM messages WHERE conversation_id = $1",
        conversation_id,
    )  # fmt: skip
    assert count[0]["n"] == 1


async def test_another_tenants_ids_are_unknown_and_nothing_changes(
    inbox_world: Any, admin_pool: Any, observed: Observed
) -> None:
    mine, theirs = await inbox_world.team(), await inbox_world.team()
    their_conversation, their_message = await inbox_world.inbound(
        theirs, phone=inbox_world.fresh_phone()
    )
    await assign(inbox_world, theirs, their_conversation, "agent")
    my_conversation, _ = await inbox_world.inbound(mine, phone=inbox_world.fresh_phone())
    await assign(inbox_world, mine, my_conversation, "agent")
    before = await admin_pool.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1", their_conversation
    )
    for who in ("owner", "agent"):
        for body in (send("hi"), {"type": "note", "text": "hi"}):
            status, answer, _ = await mine.people[who].request(
                "POST", f"/api/v1/conversations/{their_conversation}/messages", json=body
            )
            unknown_status, unknown, _ = await mine.people[who].request(
                "POST", f"/api/v1/conversations/{uuid.uuid4()}/messages", json=body
            )
            assert status == unknown_status == 404, answer
            assert answer["title"] == unknown["title"]
    # Their message as my "last seen": the same answer as a made-up id.
    path = f"/api/v1/conversations/{my_conversation}/messages"
    s1, b1, _ = await mine.agent.request(
        "POST", path, json=send("x", last_seen_message_id=str(their_message))
    )
    s2, b2, _ = await mine.agent.request(
        "POST", path, json=send("x", last_seen_message_id=str(uuid.uuid4()))
    )
    assert (s1, b1) == (s2, b2)
    assert s1 == 422
    after = await admin_pool.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1", their_conversation
    )
    assert after == before == 1
    await drained(admin_pool, mine.tenant_id)
    await observed.pull()
    assert observed.of("command.broadcast.send_message", conversation_id=their_conversation) == []


async def test_api_keys_send_while_the_bot_or_nobody_has_the_conversation(
    inbox_world: Any, observed: Observed
) -> None:
    team = await inbox_world.team()
    status, key, _ = await team.owner.request(
        "POST", "/api/v1/api-keys", json={"name": "crm", "scopes": ["conversations:write"]}
    )
    assert status == 201, key
    integration = inbox_world.gateway.browser()
    integration.token = key["key"]
    conversation_id, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    path = f"/api/v1/conversations/{conversation_id}/messages"
    status, body, _ = await integration.request("POST", path, json=send("Automated update"))
    assert status == 201, body
    assert (body["sender_kind"], body["sender_user_id"]) == ("api_key", None)
    await observed.wait("command.broadcast.send_message", message_id=body["id"])
    await assign(inbox_world, team, conversation_id, "agent")
    status, body, _ = await integration.request("POST", path, json=send("again"))
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/not-assignee"), body
