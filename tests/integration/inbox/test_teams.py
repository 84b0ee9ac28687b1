"""Teams: CRUD and members through the gateway, roles, other tenants' ids, assigning a
conversation to a team (and to an online member by the number's policy, capacity counted),
the list's team filters, and deleting a team (its conversations leave it, still open)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.chatflow import BOT_ACTIONS_FIELD, RunBotActions
from majlis.presence import Presence

TEAMS = "/api/v1/teams"
CONVERSATIONS = "/api/v1/conversations"


@pytest.fixture
async def presence(inbox_world: Any) -> AsyncIterator[Presence]:
    client = aioredis.Redis.from_url(inbox_world.settings.redis_url.get_secret_value())
    yield Presence(client, inbox_world.settings.redis_prefix)
    await client.aclose()


async def make_team(tenant: Any, name: str, *members: uuid.UUID) -> str:
    status, body, _ = await tenant.owner.request("POST", TEAMS, json={"name": name})
    assert status == 201, body
    for user_id in members:
        status, added, _ = await tenant.owner.request(
            "POST", f"{TEAMS}/{body['id']}/members", json={"user_id": str(user_id)}
        )
        assert status == 201, added
    return str(body["id"])


async def listed(who: Any, query: str) -> list[str]:
    status, body, _ = await who.request("GET", f"{CONVERSATIONS}?{query}")
    assert status == 200, body
    return [item["id"] for item in body["items"]]


async def test_team_crud_and_members(inbox_world: Any, events: Any) -> None:
    tenant = await inbox_world.team()
    agent, viewer = tenant.user_ids["agent"], tenant.user_ids["viewer"]

    status, body, _ = await tenant.admin.request(
        "POST", TEAMS, json={"name": "  Sales   team ", "description": "Quotes and orders"}
    )
    assert status == 201, body
    team_id = body["id"]
    assert (body["name"], body["description"], body["member_ids"]) == (
        "Sales team", "Quotes and orders", [],
    )  # fmt: skip
    await events.wait(tenant.tenant_id, "inbox.audit.recorded", action="team.created",
                      target_id=team_id)  # fmt: skip

    # Names are unique per tenant, whatever the case; bad bodies are 422.
    status, body, _ = await tenant.owner.request("POST", TEAMS, json={"name": "SALES TEAM"})
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "team-exists"), body
    bad_bodies: list[dict[str, Any]] = [
        {}, {"name": ""}, {"name": "x" * 65}, {"name": "a", "color": "#fff"},
        {"name": "a", "description": "y" * 501}, {"name": "a", "description": "\x00"},
    ]  # fmt: skip
    for bad in bad_bodies:
        status, body, _ = await tenant.owner.request("POST", TEAMS, json=bad)
        assert status == 422, (bad, body)

    # Members: active owners, admins and agents of the tenant; adding twice changes nothing.
    url = f"{TEAMS}/{team_id}/members"
    status, body, _ = await tenant.admin.request("POST", url, json={"user_id": str(agent)})
    assert (status, body["member_ids"]) == (201, [str(agent)]), body
    status, body, _ = await tenant.admin.request("POST", url, json={"user_id": str(agent)})
    assert (status, body["member_ids"]) == (200, [str(agent)]), body
    await events.wait(tenant.tenant_id, "inbox.audit.recorded", action="team.member_added",
                      target_id=team_id)  # fmt: skip
    for target in (viewer, uuid.uuid4()):
        status, body, _ = await tenant.admin.request("POST", url, json={"user_id": str(target)})
        assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "user-not-assignable"), body

    # Everyone reads; the list and the item agree.
    for who in (tenant.agent, tenant.viewer):
        status, body, _ = await who.request("GET", TEAMS)
        assert status == 200, body
        assert [(t["id"], t["member_ids"]) for t in body["items"]] == [(team_id, [str(agent)])]
    status, body, _ = await tenant.agent.request("GET", f"{TEAMS}/{team_id}")
    assert (status, body["name"]) == (200, "Sales team"), body

    # Rename and describe; a taken name is refused.
    await make_team(tenant, "Support")
    status, body, _ = await tenant.owner.request(
        "PATCH", f"{TEAMS}/{team_id}", json={"name": "Sales KSA", "description": ""}
    )
    assert (status, body["name"], body["description"]) == (200, "Sales KSA", ""), body
    status, body, _ = await tenant.owner.request(
        "PATCH", f"{TEAMS}/{team_id}", json={"name": "support"}
    )
    assert status == 409, body
    status, body, _ = await tenant.owner.request("GET", TEAMS)
    assert [t["name"] for t in body["items"]] == ["Sales KSA", "Support"]

    # Remove a member (404 once gone), then delete the team (404 once gone).
    status, _, _ = await tenant.owner.request("DELETE", f"{url}/{agent}")
    assert status == 204
    status, body, _ = await tenant.owner.request("DELETE", f"{url}/{agent}")
    assert status == 404, body
    status, _, _ = await tenant.owner.request("DELETE", f"{TEAMS}/{team_id}")
    assert status == 204
    for method in ("GET", "DELETE"):
        status, body, _ = await tenant.owner.request(method, f"{TEAMS}/{team_id}")
        assert status == 404, body
    await events.wait(tenant.tenant_id, "inbox.audit.recorded", action="team.deleted",
                      target_id=team_id)  # fmt: skip


async def test_agents_and_viewers_cannot_manage_teams(inbox_world: Any) -> None:
    tenant = await inbox_world.team()
    team_id = await make_team(tenant, "Billing")
    agent = tenant.user_ids["agent"]
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", TEAMS, {"name": "Mine"}),
        ("PATCH", f"{TEAMS}/{team_id}", {"name": "Renamed"}),
        ("POST", f"{TEAMS}/{team_id}/members", {"user_id": str(agent)}),
        ("DELETE", f"{TEAMS}/{team_id}/members/{agent}", None),
        ("DELETE", f"{TEAMS}/{team_id}", None),
    ]
    for who in (tenant.agent, tenant.viewer):
        for method, url, payload in calls:
            status, body, _ = await who.request(method, url, json=payload)
            assert status == 403, (method, url, body)
    status, body, _ = await tenant.owner.request("GET", f"{TEAMS}/{team_id}")
    assert (body["name"], body["member_ids"]) == ("Billing", [])
    # The database refuses an agent's write too (row-level security), whatever the API does.
    async with tenant_transaction(inbox_world.pool, tenant.tenant_id, "agent") as conn:
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                "INSERT INTO teams (tenant_id, id, name) VALUES ($1, $2, 'Sneaky')",
                tenant.tenant_id, uuid.uuid4(),
            )  # fmt: skip


async def test_other_tenants_teams_are_not_found(inbox_world: Any) -> None:
    tenant, other = await inbox_world.team(), await inbox_world.team()
    theirs = await make_team(other, "Theirs", other.user_ids["agent"])
    mine = await make_team(tenant, "Mine")
    cid, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())

    for method, url, payload in (
        ("GET", f"{TEAMS}/{theirs}", None),
        ("PATCH", f"{TEAMS}/{theirs}", {"name": "Taken"}),
        ("DELETE", f"{TEAMS}/{theirs}", None),
        ("POST", f"{TEAMS}/{theirs}/members", {"user_id": str(tenant.user_ids["agent"])}),
        ("DELETE", f"{TEAMS}/{theirs}/members/{other.user_ids['agent']}", None),
        ("GET", f"{TEAMS}/not-a-uuid", None),
    ):
        status, body, _ = await tenant.owner.request(method, url, json=payload)
        assert status == 404, (method, url, body)
    # Their user cannot join my team; their team cannot take my conversation.
    status, body, _ = await tenant.owner.request(
        "POST", f"{TEAMS}/{mine}/members", json={"user_id": str(other.user_ids["agent"])}
    )
    assert status == 422, body
    status, body, _ = await tenant.owner.request(
        "POST", f"{CONVERSATIONS}/{cid}/assign", json={"team_id": theirs}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "unknown-team"), body
    # Filtering by their team shows nothing of theirs (nor of mine).
    assert await listed(tenant.owner, f"team={theirs}&status=all") == []
    # At the SQL level too: inside my tenant their team and memberships do not exist.
    async with tenant_transaction(inbox_world.pool, tenant.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM teams WHERE id = $1",
                                   uuid.UUID(theirs)) == 0  # fmt: skip
        assert await conn.fetchval("SELECT count(*) FROM team_members WHERE team_id = $1",
                                   uuid.UUID(theirs)) == 0  # fmt: skip
        renamed = await conn.execute("UPDATE teams SET name = 'Mine now' WHERE id = $1",
                                     uuid.UUID(theirs))  # fmt: skip
        assert renamed == "UPDATE 0"
    # Nothing changed on their side.
    status, body, _ = await other.owner.request("GET", f"{TEAMS}/{theirs}")
    assert (body["name"], body["member_ids"]) == ("Theirs", [str(other.user_ids["agent"])])


async def test_assign_to_team_and_filter_by_team(inbox_world: Any, events: Any) -> None:
    tenant = await inbox_world.team()
    agent, agent2, owner = (tenant.user_ids[k] for k in ("agent", "agent2", "owner"))
    sales = await make_team(tenant, "Sales", agent)
    support = await make_team(tenant, "Support", agent2)
    first, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    second, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    third, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())

    status, body, _ = await tenant.owner.request(
        "POST", f"{CONVERSATIONS}/{first}/assign", json={"team_id": sales}
    )
    # The team alone: nobody is assigned, the bot keeps answering until a person takes it.
    assert (status, body["team_id"], body["assigned_user_id"], body["controller"]) == (
        200, sales, None, "bot",
    ), body  # fmt: skip
    await events.wait(
        tenant.tenant_id, "inbox.conversation.updated", conversation_id=first,
        change="assignment", team_id=sales, previous_team_id=None, actor_id=owner,
    )  # fmt: skip
    audit = await events.wait(tenant.tenant_id, "inbox.audit.recorded",
                              action="conversation.team_assigned", target_id=first)  # fmt: skip
    assert (audit["details"]["team_id"], audit["changes"]) == (sales, ["team_id"])

    # A team and a person together; then the person's own conversation moved to another team.
    status, body, _ = await tenant.admin.request(
        "POST", f"{CONVERSATIONS}/{second}/assign",
        json={"team_id": support, "user_id": str(agent2)},
    )  # fmt: skip
    assert (status, body["team_id"], body["assigned_user_id"]) == (200, support, str(agent2))
    status, body, _ = await tenant.agent.request(
        "POST", f"{CONVERSATIONS}/{third}/assign", json={"user_id": str(agent)}
    )
    assert status == 200, body
    status, body, _ = await tenant.agent.request(
        "POST", f"{CONVERSATIONS}/{third}/assign", json={"team_id": sales}
    )
    assert (status, body["team_id"], body["assigned_user_id"]) == (200, sales, str(agent)), body
    # An agent may not re-route a colleague's conversation.
    status, body, _ = await tenant.agent.request(
        "POST", f"{CONVERSATIONS}/{second}/assign", json={"team_id": sales}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (403, "forbidden-assignment"), body
    for bad in ({"team_id": "x"}, {"auto_assign": True, "user_id": str(agent)}, {"team": sales}):
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{first}/assign", json=bad
        )
        assert status == 422, (bad, body)

    # Filters: one team, the teams I belong to (none for the owner), and bad values.
    assert sorted(await listed(tenant.owner, f"team={sales}")) == sorted([str(first), str(third)])
    assert await listed(tenant.owner, f"team={support}") == [str(second)]
    assert sorted(await listed(tenant.agent, "team=mine")) == sorted([str(first), str(third)])
    assert await listed(tenant.agent2, "team=mine") == [str(second)]
    assert await listed(tenant.owner, "team=mine") == []
    assert await listed(tenant.agent, f"team=mine&assignee={agent}") == [str(third)]
    status, body, _ = await tenant.owner.request("GET", f"{CONVERSATIONS}?team=everyone")
    assert (status, body["errors"][0]["field"]) == (422, "team"), body

    # Taking the team away again.
    status, body, _ = await tenant.owner.request(
        "POST", f"{CONVERSATIONS}/{first}/assign", json={"team_id": None}
    )
    assert (status, body["team_id"]) == (200, None)
    await events.wait(tenant.tenant_id, "inbox.audit.recorded",
                      action="conversation.team_unassigned", target_id=first)  # fmt: skip


async def test_auto_assign_picks_an_online_member_within_capacity(
    inbox_world: Any, events: Any, presence: Presence
) -> None:
    tenant = await inbox_world.team()
    agent, agent2, admin = (tenant.user_ids[k] for k in ("agent", "agent2", "admin"))
    team_id = await make_team(tenant, "Sales", agent, agent2)
    status, body, _ = await tenant.owner.request(
        "PUT", f"/api/v1/assignment-policies/{tenant.number_id}",
        json={"mode": "balanced", "agent_capacity": 1},
    )  # fmt: skip
    assert status == 200, body
    cids = [(await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone()))[0]
            for _ in range(4)]  # fmt: skip
    # agent2 is away, the admin is online but not a member: only agent is eligible.
    await presence.set_agent(tenant.tenant_id, agent, "online")
    await presence.set_agent(tenant.tenant_id, agent2, "away")
    await presence.set_agent(tenant.tenant_id, admin, "online")
    try:
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{cids[0]}/assign",
            json={"team_id": team_id, "auto_assign": True},
        )  # fmt: skip
        assert (status, body["team_id"], body["assigned_user_id"], body["controller"]) == (
            200, team_id, str(agent), "human",
        ), body  # fmt: skip
        await events.wait(
            tenant.tenant_id, "inbox.conversation.updated", conversation_id=cids[0],
            change="assignment", team_id=team_id, assigned_user_id=agent,
        )  # fmt: skip
        audit = await events.wait(tenant.tenant_id, "inbox.audit.recorded",
                                  action="conversation.assigned", target_id=cids[0])  # fmt: skip
        assert audit["details"]["auto_assigned"] is True

        # agent is at capacity (1): the next goes to the team's queue, nobody assigned.
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{cids[1]}/assign",
            json={"team_id": team_id, "auto_assign": True},
        )  # fmt: skip
        assert (status, body["team_id"], body["assigned_user_id"]) == (200, team_id, None), body

        # agent2 comes online: balanced gives it to them (fewest open).
        await presence.set_agent(tenant.tenant_id, agent2, "online")
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{cids[2]}/assign",
            json={"team_id": team_id, "auto_assign": True},
        )  # fmt: skip
        assert (status, body["assigned_user_id"]) == (200, str(agent2)), body

        # Resolving frees agent's capacity (the counters follow, no row is counted).
        status, body, _ = await tenant.agent.request(
            "POST", f"{CONVERSATIONS}/{cids[0]}/status", json={"status": "resolved"}
        )
        assert status == 200, body
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{cids[3]}/assign",
            json={"team_id": team_id, "auto_assign": True},
        )  # fmt: skip
        assert (status, body["assigned_user_id"]) == (200, str(agent)), body
        async with tenant_transaction(inbox_world.pool, tenant.tenant_id) as conn:
            loads = dict(await conn.fetch("SELECT user_id, active_count FROM agent_loads"))
        assert (loads.get(agent), loads.get(agent2), loads.get(admin, 0)) == (1, 1, 0)

        # auto_assign without any team is refused.
        status, body, _ = await tenant.owner.request(
            "POST", f"{CONVERSATIONS}/{cids[1]}/assign",
            json={"team_id": None, "auto_assign": True},
        )  # fmt: skip
        assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "auto-assign-needs-team"), body
    finally:
        for user_id in (agent, agent2, admin):
            await presence.set_agent(tenant.tenant_id, user_id, None)


async def test_deleting_a_team_keeps_its_conversations_open(inbox_world: Any, events: Any) -> None:
    tenant = await inbox_world.team()
    agent = tenant.user_ids["agent"]
    team_id = await make_team(tenant, "Night shift", agent)
    cid, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    status, body, _ = await tenant.owner.request(
        "POST", f"{CONVERSATIONS}/{cid}/assign", json={"team_id": team_id, "user_id": str(agent)}
    )
    assert status == 200, body

    status, _, _ = await tenant.owner.request("DELETE", f"{TEAMS}/{team_id}")
    assert status == 204
    status, body, _ = await tenant.agent.request("GET", f"{CONVERSATIONS}/{cid}")
    assert (body["status"], body["team_id"], body["assigned_user_id"]) == ("open", None, str(agent))
    await events.wait(
        tenant.tenant_id, "inbox.conversation.updated", conversation_id=cid,
        change="assignment", team_id=None, previous_team_id=team_id, assigned_user_id=agent,
    )  # fmt: skip
    audit = await events.wait(tenant.tenant_id, "inbox.audit.recorded", action="team.deleted",
                              target_id=team_id)  # fmt: skip
    assert audit["details"]["conversations_released"] == 1
    assert await listed(tenant.agent, "team=mine") == []
    async with tenant_transaction(inbox_world.pool, tenant.tenant_id) as conn:
        left = await conn.fetchval("SELECT count(*) FROM team_members WHERE team_id = $1",
                                   uuid.UUID(team_id))  # fmt: skip
    assert left == 0


async def _bot_hands_off(world: Any, tenant: Any, cid: uuid.UUID, action: dict[str, Any]) -> Any:
    """The chatflow's hand-off command (as the engine queues it); the conversation after it."""
    sealed = world.cipher.encrypt(
        orjson.dumps([{"kind": "handoff", "reason": "flow", **action}]),
        tenant_id=tenant.tenant_id, field=BOT_ACTIONS_FIELD,
    )  # fmt: skip
    command = RunBotActions(
        conversation_id=cid, actions_enc=base64.b64encode(sealed).decode("ascii")
    )
    await world.publisher.publish(make_envelope(command, tenant_id=tenant.tenant_id))
    async with asyncio.timeout(15):
        while True:
            async with tenant_transaction(world.pool, tenant.tenant_id) as conn:
                row = await conn.fetchrow(
                    "SELECT controller, assigned_user_id, team_id FROM conversations"
                    " WHERE id = $1 AND controller = 'human'",
                    cid,
                )
            if row is not None:
                return row
            await asyncio.sleep(0.05)


async def test_the_bots_hand_off_to_a_team_and_to_a_team_deleted_meanwhile(
    inbox_world: Any, events: Any
) -> None:
    tenant = await inbox_world.team()
    agent = tenant.user_ids["agent"]
    sales = await make_team(tenant, "Sales", agent)
    first, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    row = await _bot_hands_off(
        inbox_world, tenant, first, {"assign": "user", "user_id": str(agent), "team_id": sales}
    )
    assert (row["team_id"], row["assigned_user_id"]) == (uuid.UUID(sales), agent)
    await events.wait(
        tenant.tenant_id, "inbox.conversation.updated", conversation_id=first,
        change="controller", actor_type="bot", team_id=sales, assigned_user_id=agent,
    )  # fmt: skip

    # The flow decided on a team that was deleted before the inbox applied it: the
    # conversation waits, unassigned and without a team, for a person.
    second, _ = await inbox_world.inbound(tenant, phone=inbox_world.fresh_phone())
    status, _, _ = await tenant.owner.request("DELETE", f"{TEAMS}/{sales}")
    assert status == 204
    row = await _bot_hands_off(
        inbox_world, tenant, second, {"assign": "user", "user_id": str(agent), "team_id": sales}
    )
    assert (row["team_id"], row["assigned_user_id"]) == (None, None)
    assert await listed(tenant.owner, "assignee=unassigned") == [str(second)]
