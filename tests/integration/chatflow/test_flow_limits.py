"""The engine's limits and timers on the real path: the 500-step limit (no node over its visit
limit), a question's timeout edge fired by the durable timer, the purge of old node logs, and a
redelivered message answered once."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any

from chatflow.timers import purge_logs
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import MessageReceived

FlowWorld = Any
RING = 12  # nodes in the cycle: 501 steps visit each about 42 times, under the 50-visit limit


def _ring() -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": f"s{i}", "type": "set_variable", "variable": "n", "value": str(i)}
        for i in range(RING - 1)
    ]
    nodes.append({"id": "back", "type": "jump", "target": "s0"})
    edges = [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(RING - 2)]
    edges.append({"from": f"s{RING - 2}", "to": "back"})
    return {"start": "s0", "nodes": nodes, "edges": edges}


async def _publish(team: Any, document: dict[str, Any], keyword: str) -> str:
    owner = team.people["owner"]
    triggers = [{"type": "keyword", "match": "exact", "value": keyword}]
    body = {"name": keyword, "triggers": triggers, "document": document}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version
    return str(flow["id"])


async def test_a_run_stops_after_500_steps_and_hands_off(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    flow_id = await _publish(team, _ring(), "ring")
    await world.say(team, world.fresh_phone(), "ring")
    await world.until(team, "SELECT 1 FROM conversations WHERE controller = 'human'")
    [session] = await world.sql(team, "SELECT end_reason, steps, visits FROM flow_sessions")
    assert session["end_reason"] == "loop_limit"
    assert session["steps"] == 501
    assert max(session["visits"].values()) <= 50  # the step limit stopped it, not a node's
    status, logs, _ = await team.people["viewer"].request(
        "GET", f"/api/v1/flows/{flow_id}/logs?outcome=loop_stopped"
    )
    assert status == 200
    [stop] = logs["items"]
    assert stop["error"] == "loop limit reached (steps)"


ASK = {
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "ask_question", "text": "Your email?", "variable": "email",
         "validation": {"type": "email"}, "timeout_seconds": 600},
        {"id": "thanks", "type": "send_text", "text": "Thanks"},
        {"id": "late", "type": "send_text", "text": "Are you still there?"},
        {"id": "bad", "type": "send_text", "text": "Never mind"},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "ask", "to": "thanks"},
        {"from": "ask", "to": "late", "handle": "timeout"},
        {"from": "ask", "to": "bad", "handle": "invalid"},
        {"from": "thanks", "to": "done"}, {"from": "late", "to": "done"},
        {"from": "bad", "to": "done"},
    ],
}  # fmt: skip


async def test_an_unanswered_question_takes_its_timeout_edge(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    await _publish(team, ASK, "email")
    await world.say(team, world.fresh_phone(), "email")
    sent = await world.sent_count(team, 1)
    assert sent[0]["payload"]["text"]["body"] == "Your email?"
    [session] = await world.until(
        team, "SELECT id, wake_at FROM flow_sessions WHERE status = 'waiting_input'"
    )
    assert (session["wake_at"] - datetime.now(UTC)).total_seconds() > 500
    # Ten minutes pass: the durable timer (polled every 100 ms here) finds the session due.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE flow_sessions SET wake_at = now() - interval '1 second' WHERE id = $1",
            session["id"],
        )
    sent = await world.sent_count(team, 2)
    assert sent[1]["payload"]["text"]["body"] == "Are you still there?"
    [ended] = await world.until(team, "SELECT 1 FROM flow_sessions WHERE status = 'ended'")
    assert ended


async def test_node_logs_older_than_the_retention_are_purged(
    flow_world: FlowWorld, admin_pool: Any
) -> None:
    world = flow_world
    team, other = await world.team(), await world.team()
    for each in (team, other):
        await _publish(each, ASK, "purge")
        await world.say(each, world.fresh_phone(), "purge")
        await world.until(each, "SELECT 1 FROM flow_logs")
    # The team's logs are 40 days old; the other tenant's are fresh.
    await admin_pool.execute(
        "UPDATE flow_logs SET created_at = now() - interval '40 days' WHERE tenant_id = $1",
        team.tenant_id,
    )
    clock = types.SimpleNamespace(clock=lambda: datetime.now(UTC))
    deleted = await purge_logs(world.pool, clock, 30)  # type: ignore[arg-type]
    assert deleted >= 1
    assert await world.sql(team, "SELECT 1 FROM flow_logs") == []
    assert await world.sql(other, "SELECT 1 FROM flow_logs") != []


GREET = {
    "start": "hi",
    "nodes": [{"id": "hi", "type": "send_text", "text": "Welcome"}, {"id": "done", "type": "end"}],
    "edges": [{"from": "hi", "to": "done"}],
}


async def test_a_redelivered_message_is_answered_once(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    await _publish(team, GREET, "hello")
    phone = world.fresh_phone()
    wamid = await world.say(team, phone, "hello")
    [first] = await world.sent_count(team, 1)
    [stored] = await world.until(team, "SELECT id FROM messages WHERE wamid = $1", wamid)
    # The same webhook again, as Meta retries it: a new event with the same wamid.
    wa_id, now = phone.lstrip("+"), datetime.now(UTC)
    again = MessageReceived(
        phone_number_id=team.phone_number_id, waba_id=team.waba_id,
        message={"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())),
                 "type": "text", "text": {"body": "hello"}},
        contact={"wa_id": wa_id, "profile": {"name": "Customer"}}, received_at=now,
    )  # fmt: skip
    envelope = make_envelope(again, tenant_id=team.tenant_id)
    for _ in range(2):  # and that event delivered twice by the broker
        await world.publisher.publish(envelope)
    await world.until(
        team, "SELECT 1 FROM processed_messages WHERE consumer = 'inbox' AND event_id = $1",
        envelope.id,
    )  # fmt: skip
    # A later message of another customer is answered: everything before it has been handled.
    await world.say(team, world.fresh_phone(), "hello")
    sent = await world.sent_count(team, 2)
    assert [m["wa_id"] for m in sent].count(wa_id) == 1
    assert first["payload"]["text"]["body"] == "Welcome"
    assert await world.sql(team, "SELECT id FROM messages WHERE wamid = $1", wamid) == [stored]
    assert len(await world.sql(team, "SELECT 1 FROM flow_sessions")) == 2
