"""The hand-off node to a team, end to end: an inbound message starts a flow whose hand-off
assigns the conversation to a team and to an online member of it (by the number's policy);
a team deleted since the flow was published sends the conversation to the unassigned human
queue and the run log says why. The validator refuses a malformed team id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from majlis.presence import Presence

CONVERSATION = (
    "SELECT controller, assigned_user_id, team_id FROM conversations WHERE controller = 'human'"
)


@pytest.fixture
async def presence(flow_world: Any) -> AsyncIterator[Presence]:
    client = aioredis.Redis.from_url(flow_world.settings.redis_url.get_secret_value())
    yield Presence(client, flow_world.settings.redis_prefix)
    await client.aclose()


def handoff_flow(team_id: str, assign: str = "policy") -> dict[str, Any]:
    return {
        "start": "hi",
        "nodes": [
            {"id": "hi", "type": "send_text", "text": "A colleague will answer you"},
            {"id": "team", "type": "handoff", "assign": assign, "team_id": team_id},
        ],
        "edges": [{"from": "hi", "to": "team"}],
    }


async def publish(team: Any, document: dict[str, Any]) -> str:
    owner = team.people["owner"]
    body = {
        "name": "To sales",
        "triggers": [{"type": "keyword", "match": "contains", "value": "price"}],
        "document": document,
        "priority": 5,
    }
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version
    return str(flow["id"])


async def make_team(team: Any, name: str, *members: uuid.UUID) -> str:
    owner = team.people["owner"]
    status, body, _ = await owner.request("POST", "/api/v1/teams", json={"name": name})
    assert status == 201, body
    for user_id in members:
        status, added, _ = await owner.request(
            "POST", f"/api/v1/teams/{body['id']}/members", json={"user_id": str(user_id)}
        )
        assert status == 201, added
    return str(body["id"])


async def test_flow_hands_the_conversation_to_a_team_and_an_online_member(
    flow_world: Any, presence: Presence
) -> None:
    team = await flow_world.team()
    agent, admin = team.user_ids["agent"], team.user_ids["admin"]
    sales = await make_team(team, "Sales", agent)
    await publish(team, handoff_flow(sales))
    # The admin is online too but not in the team: the agent gets it.
    await presence.set_agent(team.tenant_id, agent, "online")
    await presence.set_agent(team.tenant_id, admin, "online")
    try:
        await flow_world.say(team, flow_world.fresh_phone(), "What is the price?")
        [row] = await flow_world.until(team, CONVERSATION)
    finally:
        await presence.set_agent(team.tenant_id, agent, None)
        await presence.set_agent(team.tenant_id, admin, None)
    assert (row["team_id"], row["assigned_user_id"]) == (uuid.UUID(sales), agent)
    await flow_world.sent_count(team, 1)
    # The dashboard sees it in the team's queue (and in the agent's "my teams").
    status, page, _ = await team.people["agent"].request("GET", "/api/v1/conversations?team=mine")
    assert (status, [(i["team_id"], i["assigned_user_id"]) for i in page["items"]]) == (
        200, [(sales, str(agent))],
    ), page  # fmt: skip


async def test_flow_to_a_team_with_nobody_online_waits_in_the_team_queue(
    flow_world: Any,
) -> None:
    team = await flow_world.team()
    sales = await make_team(team, "Sales", team.user_ids["agent"])
    await publish(team, handoff_flow(sales))
    await flow_world.say(team, flow_world.fresh_phone(), "price please")
    [row] = await flow_world.until(team, CONVERSATION)
    assert (row["team_id"], row["assigned_user_id"]) == (uuid.UUID(sales), None)


async def test_a_deleted_team_sends_the_conversation_to_the_unassigned_queue(
    flow_world: Any, presence: Presence
) -> None:
    team = await flow_world.team()
    agent = team.user_ids["agent"]
    gone = await make_team(team, "Gone", agent)
    flow_id = await publish(team, handoff_flow(gone))
    status, _, _ = await team.people["owner"].request("DELETE", f"/api/v1/teams/{gone}")
    assert status == 204
    await presence.set_agent(team.tenant_id, agent, "online")
    try:
        await flow_world.say(team, flow_world.fresh_phone(), "price?")
        [row] = await flow_world.until(team, CONVERSATION)
    finally:
        await presence.set_agent(team.tenant_id, agent, None)
    assert (row["team_id"], row["assigned_user_id"]) == (None, None)
    [session] = await flow_world.sql(team, "SELECT status, end_reason FROM flow_sessions")
    assert (session["status"], session["end_reason"]) == ("ended", "handoff")
    status, logs, _ = await team.people["admin"].request(
        "GET", f"/api/v1/flows/{flow_id}/logs?node_id=team"
    )
    assert status == 200, logs
    [entry] = logs["items"]
    assert entry["outcome"] == "handoff"
    assert entry["error"] == f"team {gone} no longer exists: handed to the unassigned queue"


async def test_the_validator_refuses_a_malformed_team_id(flow_world: Any) -> None:
    team = await flow_world.team()
    owner = team.people["owner"]
    for bad in ("sales", "12345678-1234-1234-1234-12345678901", "-" * 36, 7):
        body = {
            "name": "Bad",
            "triggers": [],
            "document": handoff_flow(bad),  # type: ignore[arg-type]
            "priority": 5,
        }
        status, problem, _ = await owner.request("POST", "/api/v1/flows", json=body)
        assert status == 422, (bad, problem)
        assert problem["errors"][0]["node_id"] == "team", problem
        assert "team_id" in problem["errors"][0]["field"], problem
    # A well-formed id of no team is accepted: existence is checked when the flow runs.
    body = {"name": "Later", "triggers": [], "document": handoff_flow(str(uuid.uuid4()))}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
