"""Contacts and privacy: encryption at rest, PDPL export and erasure, the retention purge."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from inbox.contacts_purge import purge_due_contacts
from majlis.db import create_pool, tenant_transaction
from majlis.events import Envelope, parse_envelope
from majlis.messaging import Bus, OutboxRelay, Publisher, exchange_name

ERASED, AUDIT = "inbox.contact.erased", "inbox.audit.recorded"


def valid_phone() -> str:
    """A UAE mobile number that phonenumbers accepts."""
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)


class EventTap:
    """A queue of the test's own bound to the erasure and audit events (deleted afterwards).

    Test processes that run at the same time share the database, and their outbox relays
    publish whatever rows they find under their own bus prefix. `follow` starts a fast relay
    limited to the test's tenants, so this run's events reach this run's exchange.
    """

    def __init__(self, bus: Bus, queue: Any, relay_pool: Any) -> None:
        self.bus, self.queue, self.relay_pool = bus, queue, relay_pool
        self.relays: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def follow(self, *tenant_ids: uuid.UUID) -> None:
        """Relay these tenants' outbox rows promptly."""
        relay = OutboxRelay(
            self.relay_pool, Publisher(self.bus), batch_size=100, poll_interval=0.01,
            tenant_ids=tenant_ids,
        )  # fmt: skip
        self.relays.append((relay, asyncio.create_task(relay.run())))

    async def take(
        self, tenant_id: uuid.UUID, want: int, actions: set[str], *, within: float = 8.0
    ) -> list[Envelope]:
        """Wait for `want` erasure events or audit events with one of `actions`, of the tenant."""
        found: list[Envelope] = []
        async with asyncio.timeout(within):
            while len(found) < want:
                message = await self.queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                envelope = parse_envelope(message.body)
                wanted = envelope.type == ERASED or envelope.payload.get("action") in actions
                if envelope.tenant_id == tenant_id and wanted:
                    found.append(envelope)
        return found


@pytest.fixture
async def tap(settings: Any) -> AsyncIterator[EventTap]:
    bus = await Bus.connect(settings, name="majlis-tests-contacts")
    channel = await bus.channel(publisher_confirms=False)
    queue = await channel.declare_queue(f"{bus.prefix}.t{uuid.uuid4().hex[:10]}.contacts")
    for key in (ERASED, AUDIT):
        await queue.bind(exchange_name(bus.prefix), key)
    relay_pool = await create_pool(
        settings.outbox_relay_database_url.get_secret_value(), min_size=1, max_size=2
    )
    tap = EventTap(bus, queue, relay_pool)
    yield tap
    for relay, task in tap.relays:
        await relay.stop()
        await task
    await relay_pool.close()
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()
    await bus.close()


async def contact_with_history(world: Any, team: Any) -> tuple[uuid.UUID, str, uuid.UUID]:
    """A customer who wrote twice (one with a photo) and got tagged: (contact, phone, conv)."""
    phone = valid_phone()
    conversation_id, _ = await world.inbound(team, phone=phone, text="my secret order 42",
                                             name="Layla Customer")  # fmt: skip
    photo = {"type": "image", "image": {"id": "9988776655", "mime_type": "image/jpeg"}}
    await world.inbound(team, phone=phone, message=photo)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        contact_id = await conn.fetchval(
            "SELECT contact_id FROM conversations WHERE id = $1", conversation_id
        )
    status, body, _ = await team.agent.request(
        "PATCH", f"/api/v1/contacts/{contact_id}",
        json={"email": "layla@example.test", "tags": ["vip"]},
    )  # fmt: skip
    assert status == 200, body
    return contact_id, phone, conversation_id


async def footprint(world: Any, team: Any, contact_id: uuid.UUID) -> dict[str, int]:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM contacts WHERE id = $1) AS contacts,
                   (SELECT count(*) FROM contact_tags WHERE contact_id = $1) AS tags,
                   (SELECT count(*) FROM conversations WHERE contact_id = $1) AS conversations,
                   (SELECT count(*) FROM messages m JOIN conversations c
                      ON c.id = m.conversation_id WHERE c.contact_id = $1) AS messages,
                   (SELECT count(*) FROM messages
                    WHERE conversation_id = ANY($2::uuid[])) AS by_conv,
                   (SELECT count(*) FROM media WHERE message_id = ANY($3::uuid[])) AS media
            """,
            contact_id, world_conversations[contact_id], world_messages[contact_id],
        )  # fmt: skip
    assert row is not None
    return dict(row)


world_conversations: dict[uuid.UUID, list[uuid.UUID]] = {}
world_messages: dict[uuid.UUID, list[uuid.UUID]] = {}


async def remember(world: Any, team: Any, contact_id: uuid.UUID) -> dict[str, int]:
    """Note the contact's conversation and message ids (to count them once they are gone)."""
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        world_conversations[contact_id] = [
            r["id"] for r in await conn.fetch(
                "SELECT id FROM conversations WHERE contact_id = $1", contact_id)
        ]  # fmt: skip
        world_messages[contact_id] = [
            r["id"] for r in await conn.fetch(
                "SELECT id FROM messages WHERE conversation_id = ANY($1::uuid[])",
                world_conversations[contact_id])
        ]  # fmt: skip
    return await footprint(world, team, contact_id)


async def add_flow_logs(world: Any, team: Any, *conversations: uuid.UUID) -> None:
    """A bot's run log line (its detail sealed, as chatflow writes it) in each conversation."""
    flow_id = uuid.uuid4()
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO flows (tenant_id, id, name, document) VALUES ($1, $2, 'Ask', '{}')",
            team.tenant_id, flow_id,
        )  # fmt: skip
        for conversation_id in conversations:
            await conn.execute(
                "INSERT INTO flow_logs (tenant_id, id, flow_id, version_id, session_id,"
                " conversation_id, node_id, node_type, outcome, duration_ms, detail_enc)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'ask', 'question', 'answered', 3, $7)",
                team.tenant_id, uuid.uuid4(), flow_id, uuid.uuid4(), uuid.uuid4(),
                conversation_id,
                world.deps.cipher.encrypt(b'{"answer": "Layla, Dubai Marina"}',
                                          tenant_id=team.tenant_id, field="flow_logs.detail"),
            )  # fmt: skip


async def add_deliveries(world: Any, team: Any, *conversations: uuid.UUID) -> None:
    """An outbound-webhook delivery carrying a message of each conversation, as the broadcast
    service queues one (migration 0039 marks it with the conversation)."""
    endpoint_id, cipher = uuid.uuid4(), world.deps.cipher
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO webhook_endpoints (tenant_id, id, url_enc, event_types, secret_enc)"
            " VALUES ($1, $2, '\\x00', '{message.received}', '\\x00')",
            team.tenant_id, endpoint_id,
        )  # fmt: skip
        for conversation_id in conversations:
            await conn.execute(
                "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, source_event_id,"
                " event_type, payload_enc, conversation_id)"
                " VALUES ($1, $2, $3, $4, 'message.received', $5, $6)",
                team.tenant_id, uuid.uuid4(), endpoint_id, uuid.uuid4(),
                cipher.encrypt(b'{"content": "my secret order 42"}', tenant_id=team.tenant_id,
                               field="webhook_deliveries.payload"),
                conversation_id,
            )  # fmt: skip


async def delivery_conversations(world: Any, team: Any) -> list[uuid.UUID]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        return [r["conversation_id"] for r in await conn.fetch(
            "SELECT conversation_id FROM webhook_deliveries")]  # fmt: skip


async def add_queued_send(
    world: Any,
    team: Any,
    send_id: uuid.UUID,
    *,
    conversation_id: uuid.UUID | None = None,
    dispatched: bool = True,
) -> None:
    """A send waiting in the dispatcher (held, paced or backing off), as the broadcast service
    keeps one: a reply's (its id the message's, with the message queued in `conversation_id`)
    or, without a conversation, a campaign's (its id the recipient's). dispatched=False: the
    reply's command has not reached the dispatcher yet (still in the outbox or on the bus),
    so there is no send row."""
    cipher = world.deps.cipher
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        if conversation_id is not None:
            await conn.execute(
                "INSERT INTO messages (tenant_id, id, conversation_id, direction, type, body_enc,"
                " status, sender_kind) VALUES ($1, $2, $3, 'outbound', 'text', $4, 'queued',"
                " 'user')",
                team.tenant_id, send_id, conversation_id,
                cipher.encrypt(b'{"text": {"body": "On its way"}}', tenant_id=team.tenant_id,
                               field="messages.body"),
            )  # fmt: skip
        if not dispatched:
            return
        await conn.execute(
            "INSERT INTO outbound_sends (tenant_id, id, number_id, conversation_id, priority,"
            " payload_enc, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, now() + interval"
            " '1 hour')",
            team.tenant_id, send_id, team.number_id, conversation_id,
            "interactive" if conversation_id else "bulk",
            cipher.encrypt(b'{"to": "+971500000000"}', tenant_id=team.tenant_id,
                           field="outbound_sends.payload"),
        )  # fmt: skip


async def found_by(team: Any, phone: str) -> list[list[str]]:
    """The contacts a search finds by the number as written at home, by the number in full and
    by the name of contact_with_history's contact."""
    found = []
    for query in (f"0{phone.removeprefix('+971')}", phone, "Layla Customer"):
        status, body, _ = await team.owner.request("GET", f"/api/v1/contacts?q={quote(query)}")
        assert status == 200, body
        found.append([item["id"] for item in body["items"]])
    return found


async def send_states(world: Any, team: Any, *send_ids: uuid.UUID) -> list[tuple[str, bool]]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        rows = {r["id"]: (r["state"], r["payload_enc"] is not None) for r in await conn.fetch(
            "SELECT id, state, payload_enc FROM outbound_sends WHERE id = ANY($1::uuid[])",
            list(send_ids))}  # fmt: skip
    return [rows[send_id] for send_id in send_ids]


async def flow_log_conversations(world: Any, team: Any) -> list[uuid.UUID]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        return [r["conversation_id"] for r in await conn.fetch(
            "SELECT conversation_id FROM flow_logs")]  # fmt: skip


async def recipients(world: Any, team: Any, campaign_id: uuid.UUID) -> list[str]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        rows = await conn.fetch(
            "SELECT phone_enc FROM campaign_recipients WHERE campaign_id = $1 ORDER BY seq",
            campaign_id,
        )
    return [
        world.deps.cipher.decrypt_text(r["phone_enc"], tenant_id=team.tenant_id,
                                       field="campaign_recipients.phone")
        for r in rows
    ]  # fmt: skip


async def test_contact_pii_is_encrypted_at_rest(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phone, name = valid_phone(), "Fatima Zahra"
    await team.admin.request(
        "POST", "/api/v1/contact-attributes", json={"key": "notes", "label": "N", "type": "text"}
    )
    status, contact, _ = await team.agent.request(
        "POST", "/api/v1/contacts",
        json={"phone": phone, "name": name, "email": "fatima@example.test",
              "attributes": {"notes": "allergic to peanuts"}},
    )  # fmt: skip
    assert status == 201, contact
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact["id"]))
    assert row is not None
    raw = b"".join(bytes(v) for v in row.values() if isinstance(v, bytes | bytearray | memoryview))
    for secret in (phone, phone.removeprefix("+"), name, "Fatima", "fatima@example.test",
                   "peanuts"):  # fmt: skip
        assert secret.encode() not in raw, secret
    sealed = ("phone_enc", "phone_bidx", "name_enc", "name_bidx", "email_enc", "email_bidx",
              "attributes_enc")  # fmt: skip
    assert all(row[c] is not None for c in sealed)


async def test_data_export_has_everything_decrypted(inbox_world: Any, tap: EventTap) -> None:
    team = await inbox_world.team()
    tap.follow(team.tenant_id)
    contact_id, phone, conversation_id = await contact_with_history(inbox_world, team)
    path = f"/api/v1/contacts/{contact_id}/data-export"
    status, body, _ = await team.agent.request("GET", path)
    assert status == 403, body
    status, body, _ = await team.owner.request("GET", path)
    assert status == 200, body
    assert body["lead"] is None
    assert body["campaigns"] == []
    campaign_id = await inbox_world.campaign(team, valid_phone(), phone)
    # A campaign sent to the contact when their number was another (found by the contact).
    before_change = await inbox_world.campaign(team, valid_phone(), contact_ids=[contact_id])
    lead_id = await inbox_world.lead(team, contact_id, name="Layla", company="Emaar",
                                     budget_amount="250000", budget_currency="AED")  # fmt: skip
    status, body, response = await team.owner.request("GET", path)
    assert status == 200, body
    assert body["lead"]["id"] == str(lead_id)
    assert body["lead"]["stage"] == "qualified"
    assert body["lead"]["data"] == {
        "name": "Layla",
        "company": "Emaar",
        "budget_amount": "250000",
        "budget_currency": "AED",
    }
    # The campaign to their number (not the other recipient's row), and the one to them.
    campaign, earlier = body["campaigns"]
    assert (campaign["campaign_id"], campaign["name"]) == (str(campaign_id), "Eid")
    assert earlier["campaign_id"] == str(before_change)
    assert campaign["state"] == "delivered"
    assert campaign["sent_at"] is not None
    assert campaign["read_at"] is None
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert body["contact"]["phone"] == phone
    assert body["contact"]["name"] == "Layla Customer"
    assert body["contact"]["email"] == "layla@example.test"
    assert body["tags"] == ["vip"]
    assert body["consent"]["marketing"] == "unknown"
    assert [c["id"] for c in body["conversations"]] == [str(conversation_id)]
    messages = body["messages"]
    assert len(messages) == 2
    assert {m["direction"] for m in messages} == {"inbound"}
    assert "my secret order 42" in str(messages[0]["body"])
    assert messages[1]["media"]["mime_type"] == "image/jpeg"
    events = await tap.take(team.tenant_id, 2, {"contacts.data_exported"})
    assert {e.type for e in events} == {AUDIT}
    assert {e.payload["action"] for e in events} == {"contacts.data_exported"}
    details = sorted(e.payload["details"]["campaigns"] for e in events)
    assert details == [0, 2]
    assert events[0].payload["details"]["conversations"] == 1
    assert events[0].payload["details"]["messages"] == 2
    assert phone not in str(events)


async def test_erase_removes_everything_and_says_so(inbox_world: Any, tap: EventTap) -> None:
    team = await inbox_world.team()
    tap.follow(team.tenant_id)
    contact_id, phone, conversation_id = await contact_with_history(inbox_world, team)
    before = await remember(inbox_world, team, contact_id)
    assert before == {"contacts": 1, "tags": 1, "conversations": 1, "messages": 2,
                      "by_conv": 2, "media": 1}  # fmt: skip
    await inbox_world.lead(team, contact_id, name="Layla")
    other = valid_phone()
    campaign_id = await inbox_world.campaign(team, other, phone)
    # Sent to them when their number was another: found by the contact.
    before_change = await inbox_world.campaign(
        team, valid_phone(), other, contact_ids=[contact_id, None]
    )
    others_conversation, _ = await inbox_world.inbound(team, phone=other, text="hi")
    await add_flow_logs(inbox_world, team, conversation_id, others_conversation)
    await add_deliveries(inbox_world, team, conversation_id, others_conversation)
    # Sends still waiting: a reply to them, their campaign message, and another customer's;
    # and replies whose command the dispatcher has not received yet, theirs and the other's.
    reply, others_reply = uuid.uuid4(), uuid.uuid4()
    await add_queued_send(inbox_world, team, reply, conversation_id=conversation_id)
    await add_queued_send(inbox_world, team, others_reply, conversation_id=others_conversation)
    coming, others_coming = uuid.uuid4(), uuid.uuid4()
    await add_queued_send(
        inbox_world, team, coming, conversation_id=conversation_id, dispatched=False
    )
    await add_queued_send(
        inbox_world, team, others_coming, conversation_id=others_conversation, dispatched=False
    )
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        theirs, others = [r["id"] for r in await conn.fetch(
            "SELECT id FROM campaign_recipients WHERE campaign_id = $1 ORDER BY seq",
            campaign_id)][::-1]  # fmt: skip
    for recipient in (theirs, others):
        await add_queued_send(inbox_world, team, recipient)
    assert await found_by(team, phone) == [[str(contact_id)]] * 3
    path = f"/api/v1/contacts/{contact_id}/erase"
    status, body, _ = await team.agent.request("POST", path, json={"confirm": True})
    assert status == 403, body
    status, body, _ = await team.owner.request("POST", path, json={"confirm": False})
    assert status == 422, body
    status, body, _ = await team.owner.request("POST", path, json={"confirm": True})
    assert status == 200, body
    assert (body["conversations"], body["messages"], body["media"]) == (1, 4, 1)
    assert body["campaign_recipients"] == 2
    # Theirs will never go out, their payloads are gone; the other customer's still wait.
    # The reply whose command is still on its way has its send failed already, so the
    # dispatcher will find it final (test_dispatcher.py: a final send is never sent).
    assert body["sends_cancelled"] == 3
    states = await send_states(inbox_world, team, reply, theirs, coming, others_reply, others)
    assert states == [
        ("failed", False), ("failed", False), ("failed", False), ("queued", True), ("queued", True)
    ]  # fmt: skip
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT number_id, conversation_id, error_title FROM outbound_sends WHERE id = $1",
            coming,
        )
        assert row is not None
        assert tuple(row) == (team.number_id, conversation_id, "contact-erased")
        assert not await conn.fetchval(
            "SELECT count(*) FROM outbound_sends WHERE id = $1", others_coming
        )
    assert body["flow_logs"] == 1
    assert await flow_log_conversations(inbox_world, team) == [others_conversation]
    assert body["webhook_deliveries"] == 1
    assert await delivery_conversations(inbox_world, team) == [others_conversation]
    assert set((await footprint(inbox_world, team, contact_id)).values()) == {0}
    # Nothing of the person stays with the lead or the campaign; the other recipient stays.
    assert await recipients(inbox_world, team, campaign_id) == [other]
    assert await recipients(inbox_world, team, before_change) == [other]
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM leads") == 0
    status, _, _ = await team.owner.request("GET", f"/api/v1/contacts/{contact_id}/data-export")
    assert status == 404
    status, _, _ = await team.owner.request("GET", f"/api/v1/contacts/{contact_id}")
    assert status == 404
    # Their number, as written at home or in full, and their name find no one.
    assert await found_by(team, phone) == [[], [], []]
    status, body, _ = await team.owner.request("POST", path, json={"confirm": True})
    assert status == 404, body
    events = await tap.take(team.tenant_id, 2, {"contacts.erased"})
    by_type = {e.type: e.payload for e in events}
    assert by_type[ERASED] == {"contact_id": str(contact_id), "reason": "erasure_request"}
    assert by_type[AUDIT]["action"] == "contacts.erased"
    assert by_type[AUDIT]["details"] == {
        "conversations": 1,
        "messages": 4,
        "media": 1,
        "campaign_recipients": 2,
        "flow_logs": 1,
        "webhook_deliveries": 1,
        "sends_cancelled": 3,
    }
    assert phone not in str(events)
    assert "Layla" not in str(events)


async def test_soft_deleted_contacts_are_erased_too(inbox_world: Any) -> None:
    team = await inbox_world.team()
    contact_id, _, _ = await contact_with_history(inbox_world, team)
    await remember(inbox_world, team, contact_id)
    status, _, _ = await team.admin.request("DELETE", f"/api/v1/contacts/{contact_id}")
    assert status == 204
    status, body, _ = await team.admin.request(
        "POST", f"/api/v1/contacts/{contact_id}/erase", json={"confirm": True}
    )
    assert status == 200, body
    assert set((await footprint(inbox_world, team, contact_id)).values()) == {0}


async def test_purge_erases_contacts_deleted_past_retention(
    inbox_world: Any, tap: EventTap
) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    tap.follow(team.tenant_id)
    old_id, old_phone, old_conversation = await contact_with_history(inbox_world, team)
    recent_id, _, recent_conversation = await contact_with_history(inbox_world, team)
    other_id, _, _ = await contact_with_history(inbox_world, other)
    # The bot's run logs and the webhook deliveries of a purged contact's conversations go
    # with it; a recipient row of a campaign (the business's record) stays.
    await add_flow_logs(inbox_world, team, old_conversation, recent_conversation)
    await add_deliveries(inbox_world, team, old_conversation, recent_conversation)
    campaign_id = await inbox_world.campaign(team, old_phone)
    for t, cid in ((team, old_id), (team, recent_id), (other, other_id)):
        await remember(inbox_world, t, cid)
        status, _, _ = await t.admin.request("DELETE", f"/api/v1/contacts/{cid}")
        assert status == 204
    for t, cid, days in ((team, old_id, 31), (team, recent_id, 5), (other, other_id, 40)):
        async with tenant_transaction(inbox_world.pool, t.tenant_id) as conn:
            await conn.execute(
                "UPDATE contacts SET deleted_at = now() - $2::interval WHERE id = $1",
                cid, timedelta(days=days),
            )  # fmt: skip

    await purge_due_contacts(inbox_world.deps)

    assert set((await footprint(inbox_world, team, old_id)).values()) == {0}
    assert set((await footprint(inbox_world, other, other_id)).values()) == {0}
    kept = await footprint(inbox_world, team, recent_id)
    assert (kept["contacts"], kept["messages"], kept["media"]) == (1, 2, 1)
    assert await flow_log_conversations(inbox_world, team) == [recent_conversation]
    assert await delivery_conversations(inbox_world, team) == [recent_conversation]
    assert await recipients(inbox_world, team, campaign_id) == [old_phone]
    # The purged number is remembered (by blind index only), so that the business app's
    # address book or history does not bring the person back.
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM erased_identities") == 1
    events = await tap.take(team.tenant_id, 2, {"contacts.purged"})
    by_type = {e.type: e.payload for e in events}
    assert by_type[ERASED] == {"contact_id": str(old_id), "reason": "retention_purge"}
    assert by_type[AUDIT]["action"] == "contacts.purged"
    assert by_type[AUDIT]["actor_type"] == "system"
    assert by_type[AUDIT]["details"]["messages"] == 2
    assert by_type[AUDIT]["details"]["flow_logs"] == 1
    assert by_type[AUDIT]["details"]["webhook_deliveries"] == 1

    # A shorter retention (the test parameter) reaches the recent one; nothing live is touched.
    await purge_due_contacts(inbox_world.deps, retention=timedelta(days=4))
    assert (await footprint(inbox_world, team, recent_id))["contacts"] == 0
