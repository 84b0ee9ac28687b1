"""No network call inside an open transaction: http_request and ai_answer nodes commit the
session as `awaiting_external`, make the call with no transaction open, and apply the result in
a second transaction only while the session still awaits that exact attempt.

The endpoints are local and slow on purpose (held by the test), and what the tests assert is
seen through SQL (pg_stat_activity, the session row's lock, the conversation's advisory lock),
the simulator's received sends, and the node logs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.db import tenant_transaction

API_KEY = "k-canary-" + "7f3a9c2e1b"


@dataclass
class SlowApi:
    """A JSON API whose n-th call waits for holds[n] (when there is one) before answering."""

    url: str = ""
    calls: int = 0
    holds: list[asyncio.Event] = field(default_factory=list)
    arrived: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    keys: list[str | None] = field(default_factory=list)

    async def next_call(self) -> int:
        """Wait until a call arrives; its number."""
        return await asyncio.wait_for(self.arrived.get(), 15)


@pytest.fixture
async def slow_api() -> AsyncIterator[SlowApi]:
    api = SlowApi()

    async def city(request: web.Request) -> web.Response:
        number = api.calls
        api.calls += 1
        api.keys.append(request.headers.get("X-Api-Key"))
        api.arrived.put_nowait(number)
        if number < len(api.holds):
            await api.holds[number].wait()
        return web.json_response({"data": {"city": "Dubai"}})

    app = web.Application()
    app.router.add_get("/city", city)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    api.url = str(server.make_url("/city"))
    yield api
    for hold in api.holds:
        hold.set()
    await server.close()


def http_flow(url: str) -> dict[str, Any]:
    return {
        "start": "before",
        "nodes": [
            {"id": "before", "type": "send_text", "text": "Looking it up"},
            {"id": "http", "type": "http_request", "url": url, "timeout_ms": 10000,
             "headers": {"X-Api-Key": API_KEY}, "response_mapping": {"city": "/data/city"}},
            {"id": "after", "type": "send_text", "text": "You are in {{city}}"},
            {"id": "bye", "type": "end"},
        ],
        "edges": [{"from": "before", "to": "http"}, {"from": "http", "to": "after"},
                  {"from": "after", "to": "bye"}],
    }  # fmt: skip


async def publish(team: Any, document: dict[str, Any], keyword: str) -> str:
    owner = team.people["owner"]
    triggers = [{"type": "keyword", "match": "exact", "value": keyword}]
    body = {"name": keyword, "triggers": triggers, "document": document}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version
    return str(flow["id"])


async def assert_no_transaction_held(world: Any, team: Any, admin_pool: Any, since: Any) -> None:
    """While the call is in flight: no chatflow connection has a transaction that began before
    it, the session row is not locked and the conversation's advisory lock is free."""
    await asyncio.sleep(0.3)  # the call has been in flight a while
    async with admin_pool.acquire() as admin:
        held = await admin.fetch(
            "SELECT application_name, state, xact_start FROM pg_stat_activity"
            " WHERE datname = current_database()"
            " AND application_name IN ('chatflow', 'chatflow-ai')"
            " AND xact_start IS NOT NULL AND xact_start <= $1",
            since,
        )
    assert held == []
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT id, conversation_id, status, attempt_id FROM flow_sessions"
            " WHERE status <> 'ended' FOR UPDATE NOWAIT"
        )
        assert row is not None
        assert row["status"] == "awaiting_external"
        assert row["attempt_id"] is not None
        free = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7))",
            str(row["conversation_id"]),
        )
        assert free is True


async def now(admin_pool: Any) -> Any:
    async with admin_pool.acquire() as admin:
        return await admin.fetchval("SELECT clock_timestamp()")


async def texts(world: Any, team: Any, count: int) -> list[str]:
    sent = await world.sent_count(team, count)
    return [m["payload"]["text"]["body"] for m in sent]


async def test_no_transaction_is_open_during_an_http_call(
    flow_world: Any, slow_api: SlowApi, admin_pool: Any
) -> None:
    world = flow_world
    team = await world.team()
    flow_id = await publish(team, http_flow(slow_api.url), "city")
    release = asyncio.Event()
    slow_api.holds.append(release)
    await world.say(team, world.fresh_phone(), "city")
    await slow_api.next_call()
    since = await now(admin_pool)
    # What the bot said before the call went out already: that step committed.
    assert await texts(world, team, 1) == ["Looking it up"]
    await assert_no_transaction_held(world, team, admin_pool, since)
    # The request waiting to be made is stored encrypted: no URL or key in clear.
    [row] = await world.sql(team, "SELECT pending_enc FROM flow_sessions")
    assert API_KEY.encode() not in row["pending_enc"]
    assert slow_api.url.encode() not in row["pending_enc"]

    release.set()
    assert sorted(await texts(world, team, 2)) == ["Looking it up", "You are in Dubai"]
    [session] = await world.until(
        team, "SELECT end_reason, pending_enc, attempt_id FROM flow_sessions WHERE status = 'ended'"
    )
    assert (session["end_reason"], session["pending_enc"], session["attempt_id"]) == (
        "completed", None, None,
    )  # fmt: skip
    assert slow_api.keys == [API_KEY]
    # The http node has its one log row, its duration the call's.
    status, logs, _ = await team.people["agent"].request(
        "GET", f"/api/v1/flows/{flow_id}/logs?node_id=http"
    )
    assert status == 200, logs
    [log] = logs["items"]
    assert log["outcome"] == "next"
    assert log["duration_ms"] >= 300
    await asyncio.sleep(0.3)
    assert len(await world.sent(team)) == 2


async def test_no_transaction_is_open_during_an_ai_provider_call(
    flow_world: Any, admin_pool: Any
) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    status, ai, _ = await owner.request(
        "PUT", "/api/v1/ai/settings",
        json={"provider": "openai", "model": next(iter(world.openai.models)),
              "api_key": next(iter(world.openai.api_keys))},
    )  # fmt: skip
    assert status == 200, ai
    document = {
        "start": "ai",
        "nodes": [{"id": "ai", "type": "ai_answer"}, {"id": "bye", "type": "end"}],
        "edges": [{"from": "ai", "to": "bye"}],
    }
    await publish(team, document, "When do you open?")
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        arrived.set()
        await release.wait()

    world.openai.replies.append("We open at nine in the morning.")
    world.ai_holds.append(hold)
    try:
        await world.say(team, world.fresh_phone(), "When do you open?")
        await asyncio.wait_for(arrived.wait(), 15)
        since = await now(admin_pool)
        await assert_no_transaction_held(world, team, admin_pool, since)
    finally:
        world.ai_holds.remove(hold)
        release.set()
    assert await texts(world, team, 1) == ["We open at nine in the morning."]
    [session] = await world.until(
        team, "SELECT end_reason FROM flow_sessions WHERE status = 'ended'"
    )
    assert session["end_reason"] == "completed"
    await asyncio.sleep(0.3)
    assert len(await world.sent(team)) == 1


def _drives(task: asyncio.Task[Any]) -> bool:
    """True when the task is inside conversation_runs.drive (the call phase)."""
    awaited: Any = task.get_coro()
    while awaited is not None:
        code = getattr(awaited, "cr_code", None)
        if code is not None and code.co_name == "drive" and "conversation_runs" in code.co_filename:
            return True
        awaited = getattr(awaited, "cr_await", None)
    return False


async def _expire_lease(world: Any, team: Any) -> None:
    """Time passes: the attempt's lease runs out, so the durable timer takes the call over."""
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        changed = await conn.execute(
            "UPDATE flow_sessions SET wake_at = now() - interval '1 second'"
            " WHERE status = 'awaiting_external'"
        )
    assert changed == "UPDATE 1"


async def test_a_crash_between_the_two_phases_makes_the_call_again_and_sends_once(
    flow_world: Any, slow_api: SlowApi
) -> None:
    world = flow_world
    team = await world.team()
    flow_id = await publish(team, http_flow(slow_api.url), "crash")
    slow_api.holds.append(asyncio.Event())  # the first call never answers
    await world.say(team, world.fresh_phone(), "crash")
    assert await slow_api.next_call() == 0
    [first] = await world.sql(team, "SELECT attempt_id FROM flow_sessions")
    # The consumer dies in the middle of the call (its task is cancelled).
    driving = [task for task in asyncio.all_tasks() if _drives(task)]
    assert len(driving) == 1
    driving[0].cancel()
    await asyncio.sleep(0.1)
    [row] = await world.sql(team, "SELECT status, attempt_id FROM flow_sessions")
    assert (row["status"], row["attempt_id"]) == ("awaiting_external", first["attempt_id"])

    await _expire_lease(world, team)
    assert await slow_api.next_call() == 1  # made again: at-least-once towards the endpoint
    [session] = await world.until(
        team, "SELECT end_reason FROM flow_sessions WHERE status = 'ended'"
    )
    assert session["end_reason"] == "completed"
    assert sorted(await texts(world, team, 2)) == ["Looking it up", "You are in Dubai"]
    await asyncio.sleep(0.5)
    assert len(await world.sent(team)) == 2  # each bot message exactly once
    rows = await world.sql(
        team, "SELECT node_id FROM flow_logs WHERE flow_id = $1 ORDER BY created_at",
        uuid.UUID(flow_id),
    )  # fmt: skip
    assert [r["node_id"] for r in rows] == ["before", "http", "after", "bye"]


async def test_the_result_of_a_superseded_attempt_is_dropped(
    flow_world: Any, slow_api: SlowApi
) -> None:
    world = flow_world
    team = await world.team()
    await publish(team, http_flow(slow_api.url), "stale")
    late = asyncio.Event()
    slow_api.holds.append(late)  # the first attempt is slow, past its lease
    await world.say(team, world.fresh_phone(), "stale")
    assert await slow_api.next_call() == 0
    await _expire_lease(world, team)
    assert await slow_api.next_call() == 1
    await world.until(team, "SELECT 1 FROM flow_sessions WHERE status = 'ended'")
    assert sorted(await texts(world, team, 2)) == ["Looking it up", "You are in Dubai"]

    late.set()  # the first attempt answers now: its result is dropped
    await asyncio.sleep(0.5)
    assert len(await world.sent(team)) == 2
    logs = await world.sql(team, "SELECT node_id FROM flow_logs WHERE node_id = 'http'")
    assert len(logs) == 1
    [session] = await world.sql(team, "SELECT status, end_reason, steps FROM flow_sessions")
    assert (session["status"], session["end_reason"], session["steps"]) == (
        "ended", "completed", 4,
    )  # fmt: skip


async def test_a_message_during_a_pending_call_is_processed_after_it_in_order(
    flow_world: Any, slow_api: SlowApi
) -> None:
    world = flow_world
    team = await world.team()
    document = {
        "start": "http",
        "nodes": [
            {"id": "http", "type": "http_request", "url": slow_api.url,
             "response_mapping": {"city": "/data/city"}},
            {"id": "ask", "type": "ask_question", "text": "Your name?", "variable": "name"},
            {"id": "thanks", "type": "send_text", "text": "Thanks {{name}} from {{city}}"},
            {"id": "bye", "type": "end"},
        ],
        "edges": [{"from": "http", "to": "ask"}, {"from": "ask", "to": "thanks"},
                  {"from": "thanks", "to": "bye"}],
    }  # fmt: skip
    await publish(team, document, "order")
    release = asyncio.Event()
    slow_api.holds.append(release)
    phone = world.fresh_phone()
    await world.say(team, phone, "order")
    await slow_api.next_call()
    await world.say(team, phone, "Sara")
    # The message is stored and queued behind the call, not lost and not answered yet.
    await world.until(team, "SELECT 1 FROM flow_sessions WHERE queued_seq IS NOT NULL")
    assert await world.sent(team) == []

    release.set()
    bodies = await texts(world, team, 2)
    assert sorted(bodies) == ["Thanks Sara from Dubai", "Your name?"]
    await world.until(team, "SELECT 1 FROM flow_sessions WHERE status = 'ended'")
    stored = await world.sql(
        team, "SELECT body_enc FROM messages WHERE sender_kind = 'bot' ORDER BY seq"
    )
    plain = [
        world.cipher.decrypt(r["body_enc"], tenant_id=team.tenant_id, field="messages.body")
        for r in stored
    ]
    assert [b"Your name?" in p for p in plain] == [True, False]
    [session] = await world.sql(team, "SELECT end_reason, queued_seq FROM flow_sessions")
    assert (session["end_reason"], session["queued_seq"]) == ("completed", None)
    assert slow_api.calls == 1


async def test_the_companion_asks_the_ai_provider_with_no_transaction_open(
    flow_world: Any, admin_pool: Any
) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    status, ai, _ = await owner.request(
        "PUT", "/api/v1/ai/settings",
        json={"provider": "openai", "model": next(iter(world.openai.models)),
              "api_key": next(iter(world.openai.api_keys))},
    )  # fmt: skip
    assert status == 200, ai
    phone = world.fresh_phone()
    await world.open_window(team, phone)
    status, body, _ = await owner.request(
        "PUT", "/api/v1/companion", json={"phone": phone, "number_id": str(team.number_id)}
    )
    assert status == 202, body
    code = (await texts(world, team, 1))[0].split("is ")[1][:6]
    status, body, _ = await owner.request("POST", "/api/v1/companion/verify", json={"code": code})
    assert status == 200, body
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        arrived.set()
        await release.wait()

    world.openai.replies.append("Two new leads today.")
    world.ai_holds.append(hold)
    try:
        await world.say(team, phone, "How is business today?")
        await asyncio.wait_for(arrived.wait(), 15)
        since = await now(admin_pool)
        await asyncio.sleep(0.3)
        async with admin_pool.acquire() as admin:
            held = await admin.fetch(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE datname = current_database()"
                " AND application_name IN ('chatflow', 'chatflow-ai')"
                " AND xact_start IS NOT NULL AND xact_start <= $1",
                since,
            )
        assert held == []
    finally:
        world.ai_holds.remove(hold)
        release.set()
    assert (await texts(world, team, 2))[1] == "Two new leads today."
    await asyncio.sleep(0.3)
    assert len(await world.sent(team)) == 2


async def test_a_run_started_through_the_api_makes_its_call_after_the_commit(
    flow_world: Any, slow_api: SlowApi, admin_pool: Any
) -> None:
    world = flow_world
    team = await world.team()
    flow_id = await publish(team, http_flow(slow_api.url), "never typed")
    await world.say(team, world.fresh_phone(), "Hi")  # no trigger matches: no session
    [conversation] = await world.until(team, "SELECT id FROM conversations")
    release = asyncio.Event()
    slow_api.holds.append(release)
    started = asyncio.create_task(
        team.people["admin"].request(
            "POST", f"/api/v1/flows/{flow_id}/runs",
            json={"conversation_id": str(conversation["id"])},
        )
    )  # fmt: skip
    await slow_api.next_call()
    since = await now(admin_pool)
    await assert_no_transaction_held(world, team, admin_pool, since)
    release.set()
    status, body, _ = await asyncio.wait_for(started, 15)
    assert status == 201, body
    assert (body["status"], body["node"]) == ("ended", "bye")
    assert sorted(await texts(world, team, 2)) == ["Looking it up", "You are in Dubai"]
