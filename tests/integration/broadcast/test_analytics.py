"""Analytics through the real path: inbox and chatflow events published on the bus, rolled up
by the broadcast service's analytics consumer, read through the HTTP API; hand-computed
expected numbers (the arithmetic is in the comments). Also: tenant isolation, roles, the
API-key scope and bad ranges."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from majlis.db import tenant_transaction
from majlis.events import Envelope, Event, make_envelope
from majlis.events.chatflow import LeadCaptured
from majlis.events.inbox import ConversationUpdated, MessageAdded, MessageStored

# The world's classes live in this folder's conftest.py (not importable under mypy's paths).
TemplateWorld = Any
Team = Any
RANGE = "from=2026-12-01&to=2026-12-02"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def stamped(team: Team, event: Event, when: datetime) -> Envelope:
    """The envelope of an event that happened at `when`."""
    return make_envelope(event, tenant_id=team.tenant_id, clock=lambda: when)


async def publish(world: TemplateWorld, team: Team, event: Event, when: datetime) -> Envelope:
    envelope = stamped(team, event, when)
    await world.publisher.publish(envelope)
    return envelope


async def report_until(
    world: TemplateWorld, team: Team, path: str, ready: Callable[[Any], bool], role: str = "viewer"
) -> Any:
    """Poll a report until the consumer caught up (`ready`), then return it."""
    async with asyncio.timeout(15):
        while True:
            status, body = await world.request(team, role, "GET", path)
            assert status == 200, body
            if ready(body):
                return body
            await asyncio.sleep(0.05)


async def office_hours(world: TemplateWorld, team: Team) -> None:
    """Asia/Dubai (UTC+4), Monday to Friday 09:00-18:00, as the settings API stores them."""
    weekly = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        await conn.execute("UPDATE tenants SET timezone = 'Asia/Dubai'")
        await conn.execute(
            "INSERT INTO business_hours (tenant_id, weekly, holidays) VALUES ($1, $2, '[]')",
            team.tenant_id,
            weekly,
        )


async def test_conversations_bot_time_business_hours_reopen_two_agents_two_numbers(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    await office_hours(world, team)
    number_a, number_b = team.number_id, uuid.uuid4()  # analytics keys by id only
    a1, a2 = uuid.uuid4(), uuid.uuid4()
    conv1, conv2, contact = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def state(conv: uuid.UUID, number: uuid.UUID, change: str, status: str, controller: str,
              assignee: uuid.UUID | None) -> ConversationUpdated:  # fmt: skip
        return ConversationUpdated(
            conversation_id=conv, contact_id=contact, number_id=number, change=change,  # type: ignore[arg-type]
            status=status, controller=controller, assigned_user_id=assignee,  # type: ignore[arg-type]
        )  # fmt: skip

    def out(conv: uuid.UUID, number: uuid.UUID, kind: str, user: uuid.UUID | None,
            direction: str = "outbound") -> MessageAdded:  # fmt: skip
        return MessageAdded(
            message_id=uuid.uuid4(), conversation_id=conv, number_id=number, type="text",
            direction=direction, sender_kind=kind, sender_user_id=user,  # type: ignore[arg-type]
        )  # fmt: skip

    def inbound(conv: uuid.UUID, number: uuid.UUID) -> MessageStored:
        return MessageStored(
            message_id=uuid.uuid4(), conversation_id=conv, contact_id=contact,
            number_id=number, type="text", wamid=f"wamid.{uuid.uuid4().hex}",
        )  # fmt: skip

    # Tuesday 2026-12-01 and Wednesday 2026-12-02; Dubai = UTC+4, hours 09:00-18:00 Dubai
    # = 05:00-14:00 UTC.
    # Conversation 1 on number A:
    #   05:00 created, the bot owns it (a customer message; the bot answers at 05:10)
    #   05:30 the bot hands off to A1 -> 05:40 A1 replies: first response 05:30-05:40 = 600 s
    #   06:30 resolved (assignee A1): resolution 05:30-06:30 = 3600 s (the bot's 30 min out)
    #   13:30 (17:30 Dubai) reopened by a customer message, human, assigned A1: a new cycle
    #   Wed 05:15 (09:15 Dubai) A2 replies: 17:30-18:00 + 09:00-09:15 = 1800 + 900 = 2700 s
    #   Wed 06:00 (10:00 Dubai) resolved (assignee A2): 1800 + 3600 = 5400 s
    # Conversation 2 on number B:
    #   06:00 created, assigned to A2 at once (human); 06:20 A2 replies: 1200 s;
    #   07:00 resolved (assignee A2): 3600 s. A private note at 06:10 is no message.
    events: list[tuple[Event, datetime]] = [
        (state(conv1, number_a, "created", "open", "bot", None), utc(1, 5)),
        (inbound(conv1, number_a), utc(1, 5)),
        (out(conv1, number_a, "bot", None), utc(1, 5, 10)),
        (state(conv1, number_a, "controller", "open", "human", a1), utc(1, 5, 30)),
        (out(conv1, number_a, "user", a1), utc(1, 5, 40)),
        (state(conv1, number_a, "status", "resolved", "human", a1), utc(1, 6, 30)),
        (state(conv1, number_a, "status", "open", "human", a1), utc(1, 13, 30)),
        (inbound(conv1, number_a), utc(1, 13, 30)),
        (out(conv1, number_a, "user", a2), utc(2, 5, 15)),
        (state(conv1, number_a, "assignment", "open", "human", a2), utc(2, 5, 50)),
        (state(conv1, number_a, "status", "resolved", "human", a2), utc(2, 6)),
        (state(conv2, number_b, "created", "open", "human", a2), utc(1, 6)),
        (inbound(conv2, number_b), utc(1, 6)),
        (out(conv2, number_b, "user", a2, direction="note"), utc(1, 6, 10)),
        (out(conv2, number_b, "user", a2), utc(1, 6, 20)),
        (state(conv2, number_b, "status", "resolved", "human", a2), utc(1, 7)),
    ]
    # Published newest first: the consumer must not depend on arrival order. Three of them
    # (a reply, an inbound message, a resolution) go out twice with the same event id, the
    # copy first, so by the time the originals are counted the copies were handled: a
    # redelivery must not count twice.
    envelopes = [stamped(team, e, when) for e, when in reversed(events)]
    duplicates = [
        next(env for env in envelopes if env.payload.get("sender_user_id") == str(a1)),
        next(env for env in envelopes if env.type == MessageStored.routing_key),
        next(env for env in envelopes if env.payload.get("status") == "resolved"),
    ]
    for envelope in [*duplicates, *envelopes]:
        await world.publisher.publish(envelope)

    times = await report_until(
        world, team, f"/api/v1/analytics/response-times?{RANGE}",
        lambda b: b["first_response"]["count"] == 3 and b["resolution"]["count"] == 3,
    )  # fmt: skip
    # First responses 600, 1200, 2700: median 1200; p90 (continuous) at rank 0.9 * 2 = 1.8:
    # 1200 + 0.8 * (2700 - 1200) = 2400.
    assert times["first_response"] == {"count": 3, "median_seconds": 1200.0, "p90_seconds": 2400.0}
    # Resolutions 3600, 3600, 5400: median 3600; p90: 3600 + 0.8 * 1800 = 5040.
    assert times["resolution"] == {"count": 3, "median_seconds": 3600.0, "p90_seconds": 5040.0}
    assert times["timezone"] == "Asia/Dubai"

    # Number B alone: conversation 2 only.
    only_b = f"/api/v1/analytics/response-times?{RANGE}&number_id={number_b}"
    _status, body = await world.request(team, "agent", "GET", only_b)
    assert body["first_response"] == {"count": 1, "median_seconds": 1200.0, "p90_seconds": 1200.0}

    volumes = await report_until(
        world, team, f"/api/v1/analytics/volumes?{RANGE}",
        lambda b: b["totals"]["messages_out"] == 4 and b["totals"]["messages_in"] == 3,
    )  # fmt: skip
    by_key = {(i["day"], i["number_id"]): i for i in volumes["items"]}
    # Tuesday, number A: opened twice (created, reopened at 17:30 Dubai), resolved once;
    # in: 2 customer messages; out: the bot's message and A1's reply (the duplicate ignored).
    assert by_key[("2026-12-01", str(number_a))] == {
        "day": "2026-12-01", "number_id": str(number_a), "conversations_opened": 2,
        "conversations_resolved": 1, "messages_in": 2, "messages_out": 2,
        "campaign_messages_out": 0,
    }  # fmt: skip
    # Wednesday, number A: resolved once, A2's reply.
    assert by_key[("2026-12-02", str(number_a))]["conversations_resolved"] == 1
    assert by_key[("2026-12-02", str(number_a))]["messages_out"] == 1
    assert by_key[("2026-12-02", str(number_a))]["conversations_opened"] == 0
    # Tuesday, number B: opened 1, resolved 1, in 1, out 1 (the note is not a message).
    assert {k: v for k, v in by_key[("2026-12-01", str(number_b))].items() if k != "day"} == {
        "number_id": str(number_b), "conversations_opened": 1, "conversations_resolved": 1,
        "messages_in": 1, "messages_out": 1, "campaign_messages_out": 0,
    }  # fmt: skip
    assert volumes["totals"] == {
        "conversations_opened": 3, "conversations_resolved": 3, "messages_in": 3,
        "messages_out": 4, "campaign_messages_out": 0,
    }  # fmt: skip

    _status, agents = await world.request(
        team, "viewer", "GET", f"/api/v1/analytics/agents?{RANGE}"
    )
    people = {item["user_id"]: item for item in agents["items"]}
    # A2: resolved 2 (5400, 3600: median 4500), replied 2, first responses 2700 and 1200
    # (median 1950). A1: resolved 1 (3600), replied 1 (the duplicate ignored), first 600.
    assert people[str(a2)] == {
        "user_id": str(a2), "conversations_handled": 2, "replies": 2, "first_responses": 2,
        "median_first_response_seconds": 1950.0, "median_resolution_seconds": 4500.0,
    }  # fmt: skip
    assert people[str(a1)] == {
        "user_id": str(a1), "conversations_handled": 1, "replies": 1, "first_responses": 1,
        "median_first_response_seconds": 600.0, "median_resolution_seconds": 3600.0,
    }  # fmt: skip
    assert [item["user_id"] for item in agents["items"]] == [str(a2), str(a1)]
    # Number B alone: A2's conversation 2 (handled 1, one reply, 1200 s, 3600 s).
    path = f"/api/v1/analytics/agents?{RANGE}&number_id={number_b}"
    _status, agents = await world.request(team, "viewer", "GET", path)
    assert agents["items"] == [
        {"user_id": str(a2), "conversations_handled": 1, "replies": 1, "first_responses": 1,
         "median_first_response_seconds": 1200.0, "median_resolution_seconds": 3600.0},
    ]  # fmt: skip

    # Another tenant sees nothing of this, for the same range and even with this number id.
    other = await world.team()
    path = f"/api/v1/analytics/volumes?{RANGE}&number_id={number_a}"
    _status, theirs = await world.request(other, "owner", "GET", path)
    assert theirs["items"] == []
    assert theirs["totals"]["messages_in"] == 0
    _status, theirs = await world.request(
        other, "owner", "GET", f"/api/v1/analytics/agents?{RANGE}"
    )
    assert theirs["items"] == []


async def test_the_owners_answer_from_the_business_app_is_the_first_response(
    template_world: TemplateWorld,
) -> None:
    """Coexistence: the owner answers from the WhatsApp Business app on the phone (an echo,
    sender_kind business_app, no user). The customer got a person's answer: it is the cycle's
    first response, counted in the team's response times but in no agent's figures."""
    world = template_world
    team = await world.team()
    await office_hours(world, team)
    conv, contact, number = uuid.uuid4(), uuid.uuid4(), team.number_id

    def state(change: str, status: str, controller: str) -> ConversationUpdated:
        return ConversationUpdated(
            conversation_id=conv, contact_id=contact, number_id=number, change=change,  # type: ignore[arg-type]
            status=status, controller=controller,  # type: ignore[arg-type]
        )  # fmt: skip

    echo = MessageAdded(
        message_id=uuid.uuid4(), conversation_id=conv, number_id=number, type="text",
        direction="outbound", sender_kind="business_app",
    )  # fmt: skip
    inbound = MessageStored(
        message_id=uuid.uuid4(), conversation_id=conv, contact_id=contact, number_id=number,
        type="text", wamid=f"wamid.{uuid.uuid4().hex}",
    )  # fmt: skip
    # Tuesday 05:00 UTC (09:00 Dubai) the customer writes; nobody answers in the platform;
    # 05:20 the owner answers from the phone (the inbox takes the conversation from the bot
    # at the same instant): first response 05:00-05:20 = 1200 s; 06:00 resolved.
    for event, when in [
        (state("created", "open", "bot"), utc(1, 5)),
        (inbound, utc(1, 5)),
        (echo, utc(1, 5, 20)),
        (state("controller", "open", "human"), utc(1, 5, 20)),
        (state("status", "resolved", "human"), utc(1, 6)),
    ]:
        await publish(world, team, event, when)
    times = await report_until(
        world, team, f"/api/v1/analytics/response-times?{RANGE}",
        lambda b: b["first_response"]["count"] == 1 and b["resolution"]["count"] == 1,
    )  # fmt: skip
    assert times["first_response"] == {"count": 1, "median_seconds": 1200.0, "p90_seconds": 1200.0}
    volumes = await report_until(
        world, team, f"/api/v1/analytics/volumes?{RANGE}",
        lambda b: b["totals"]["messages_out"] == 1,
    )  # fmt: skip
    assert volumes["totals"]["messages_in"] == 1
    _status, agents = await world.request(
        team, "viewer", "GET", f"/api/v1/analytics/agents?{RANGE}"
    )
    assert agents["items"] == []


async def test_leads_by_stage_and_source(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    l1, l2, l3, old = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def lead(lead_id: uuid.UUID, stage: str, source: str) -> LeadCaptured:
        return LeadCaptured(
            lead_id=lead_id, contact_id=uuid.uuid4(), stage=stage, source=source,  # type: ignore[arg-type]
            is_new=False,
        )  # fmt: skip

    # L1: new from a flow, later qualified (by hand: its source stays "flow"); L2 won, from AI;
    # L3 new, manual. A late, older event of L1 ("new") does not undo "qualified". A lead of
    # November is outside the range.
    published = [
        await publish(world, team, lead(l1, "new", "flow"), utc(1, 8)),
        await publish(world, team, lead(l1, "qualified", "manual"), utc(1, 9)),
        await publish(world, team, lead(l2, "won", "ai"), utc(1, 10)),
        await publish(world, team, lead(l3, "new", "manual"), utc(2, 10)),
        await publish(world, team, lead(l1, "new", "flow"), utc(1, 8, 30)),
        await publish(world, team, lead(old, "won", "api"), datetime(2026, 11, 20, tzinfo=UTC)),
    ]
    # Every event handled: each one's claim in processed_messages committed with its work.
    async with asyncio.timeout(15):
        while True:
            async with tenant_transaction(world.pool, team.tenant_id) as conn:
                handled = await conn.fetchval(
                    "SELECT count(*) FROM processed_messages"
                    " WHERE consumer = 'broadcast.analytics' AND event_id = ANY($1::uuid[])",
                    [env.id for env in published],
                )
            if handled == len(published):
                break
            await asyncio.sleep(0.05)
    # new 1 (L3), qualified 1 (L1), won 1 (L2); flow 1 (L1), ai 1 (L2), manual 1 (L3).
    _status, body = await world.request(team, "viewer", "GET", f"/api/v1/analytics/leads?{RANGE}")
    assert body["total"] == 3
    assert {i["stage"]: i["count"] for i in body["by_stage"]} == {
        "new": 1, "qualified": 1, "won": 1, "lost": 0,
    }  # fmt: skip
    assert {i["source"]: i["count"] for i in body["by_source"]} == {
        "flow": 1, "ai": 1, "manual": 1, "api": 0,
    }  # fmt: skip
    other = await world.team()
    _status, theirs = await world.request(
        other, "viewer", "GET", f"/api/v1/analytics/leads?{RANGE}"
    )
    assert theirs["total"] == 0


async def test_flow_runs_completion_and_drop_off_per_node(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    flow_id, version_id = uuid.uuid4(), uuid.uuid4()
    document = json.dumps({"nodes": []})
    async with tenant_transaction(world.pool, team.tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO flows (tenant_id, id, name, document) VALUES ($1, $2, 'Welcome', $3)",
            team.tenant_id, flow_id, json.loads(document),
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO flow_versions (tenant_id, id, flow_id, version, document)"
            " VALUES ($1, $2, $3, 1, $4)",
            team.tenant_id, version_id, flow_id, json.loads(document),
        )  # fmt: skip
        contact = uuid.uuid4()
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
            team.tenant_id, contact, uuid.uuid4().bytes,
        )  # fmt: skip
        # Four runs started on Tuesday (one conversation each):
        #   1: start -> ask -> thanks, completed          2: start -> ask, timed out at ask
        #   3: start -> ask, still waiting at ask         4: start -> handoff node (completed)
        # started 4, completed 2, dropped 1, in progress 1; reached: start 4, ask 3, thanks 1,
        # handoff 1; dropped off: ask 1.
        runs = [
            ("thanks", "ended", "completed", {"start": 1, "ask": 1, "thanks": 1}),
            ("ask", "ended", "input_timeout", {"start": 1, "ask": 2}),
            ("ask", "waiting_input", None, {"start": 1, "ask": 1}),
            ("agent", "ended", "handoff", {"start": 1, "agent": 1}),
        ]
        for node, status, reason, visits in runs:
            conversation = uuid.uuid4()
            await conn.execute(
                "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status)"
                " VALUES ($1, $2, $3, $4, 'resolved')",
                team.tenant_id, conversation, contact, team.number_id,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO flow_sessions (tenant_id, id, flow_id, version_id, conversation_id,"
                " current_node, status, end_reason, variables_enc, visits, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '\\x00', $9, $10)",
                team.tenant_id, uuid.uuid4(), flow_id, version_id, conversation, node, status,
                reason, visits, utc(1, 8),
            )  # fmt: skip
    _status, body = await world.request(team, "viewer", "GET", f"/api/v1/analytics/flows?{RANGE}")
    assert body["items"] == [
        {
            "flow_id": str(flow_id), "name": "Welcome", "started": 4, "completed": 2,
            "dropped": 1, "in_progress": 1,
            "nodes": [
                {"node_id": "agent", "reached": 1, "dropped": 0},
                {"node_id": "ask", "reached": 3, "dropped": 1},
                {"node_id": "start", "reached": 4, "dropped": 0},
                {"node_id": "thanks", "reached": 1, "dropped": 0},
            ],
        }
    ]  # fmt: skip
    other = await world.team()
    _status, theirs = await world.request(other, "owner", "GET", f"/api/v1/analytics/flows?{RANGE}")
    assert theirs["items"] == []


async def test_ranges_roles_and_api_key_scope(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    for query in (
        "from=2026-12-05&to=2026-12-01",  # ends before it starts
        "from=2025-01-01&to=2026-12-01",  # longer than 366 days
        "from=20261201",  # not YYYY-MM-DD
        "from=2026-02-30",
        "number_id=nope",
        "colour=blue",  # unknown parameter
    ):
        status, body = await world.request(
            team, "viewer", "GET", f"/api/v1/analytics/volumes?{query}"
        )
        assert status == 422, (query, body)
        assert body["type"].endswith("/invalid-range")
    # Default: the last 30 days in the tenant's zone.
    status, body = await world.request(team, "viewer", "GET", "/api/v1/analytics/campaigns")
    assert status == 200
    first, last = (datetime.fromisoformat(body[k]) for k in ("from", "to"))
    assert (last - first).days == 29
    # Exactly 366 days is allowed.
    path = "/api/v1/analytics/leads?from=2025-12-01&to=2026-12-01"
    assert (await world.request(team, "agent", "GET", path))[0] == 200
    # No token: 401. An API key (as the gateway mints it) without analytics:read: 403; with: 200.
    async with world.http.get(world.url + "/api/v1/analytics/volumes") as response:
        assert response.status == 401
    for scopes, expected in ((("campaigns:read",), 403), (("analytics:read",), 200)):
        token, _claims = world.signer.issue(
            user_id=uuid.uuid4(), tenant_id=team.tenant_id, role="admin", scopes=scopes
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with world.http.get(world.url + "/api/v1/analytics/agents", headers=headers) as r:
            assert r.status == expected, await r.text()
