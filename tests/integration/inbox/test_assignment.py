"""Bot/human ownership, assignment rules, per-number policies and automatic assignment.

The fairness of round-robin and balanced assignment is checked as a property: many random
sequences (fixed seeds) of new conversations, resolutions, agents coming and going and
capacities, run against the real database, its load-keeping trigger and the advisory lock.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from inbox.assignment import Policy, assign_among, assign_new_conversation
from majlis.db import tenant_transaction
from majlis.presence import Presence

CONVERSATIONS = "/api/v1/conversations"


@pytest.fixture
async def presence(inbox_world: Any) -> AsyncIterator[Presence]:
    client = aioredis.Redis.from_url(inbox_world.settings.redis_url.get_secret_value())
    yield Presence(client, inbox_world.settings.redis_prefix)
    await client.aclose()


async def owner_state(world: Any, team: Any, cid: uuid.UUID) -> tuple[str, uuid.UUID | None]:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT controller, assigned_user_id FROM conversations WHERE id = $1", cid
        )
    assert row is not None
    return row["controller"], row["assigned_user_id"]


async def test_takeover_force_and_handback_rules(inbox_world: Any, events: Any) -> None:
    team = await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    url = f"{CONVERSATIONS}/{cid}"
    agent, agent2, owner = (team.user_ids[k] for k in ("agent", "agent2", "owner"))
    assert await owner_state(inbox_world, team, cid) == ("bot", None)

    status, body, _ = await team.agent.request("POST", f"{url}/takeover")
    assert status == 200, body
    assert (body["controller"], body["assigned_user_id"]) == ("human", str(agent))
    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.taken_over", target_id=cid
    )
    assert audit["details"]["previous_assigned_user_id"] is None
    assert audit["actor_id"] == str(agent)
    await events.wait(
        team.tenant_id, "inbox.conversation.updated", conversation_id=cid, change="controller",
        controller="human", assigned_user_id=agent, actor_id=agent,
    )  # fmt: skip

    for who, payload in ((team.agent2, None), (team.agent2, {"force": True}), (team.admin, None)):
        status, body, _ = await who.request("POST", f"{url}/takeover", json=payload)
        assert status == 409, body
        assert body["type"].endswith("/assigned-to-someone-else")
        assert body["assigned_user_id"] == str(agent)
    assert await owner_state(inbox_world, team, cid) == ("human", agent)

    status, body, _ = await team.owner.request("POST", f"{url}/takeover", json={"force": True})
    assert (status, body["assigned_user_id"]) == (200, str(owner)), body
    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.taken_over",
        target_id=cid, actor_id=owner,
    )  # fmt: skip
    assert audit["details"]["previous_assigned_user_id"] == str(agent)

    status, body, _ = await team.agent.request("POST", f"{url}/handback")
    assert (status, body["type"].rsplit("/", 1)[-1]) == (403, "not-the-assignee"), body
    status, body, _ = await team.owner.request("POST", f"{url}/handback")
    assert (status, body["controller"], body["assigned_user_id"]) == (200, "bot", None), body
    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.handed_back", target_id=cid
    )
    assert audit["details"]["previous_assigned_user_id"] == str(owner)

    # An agent may take a bot's (unassigned) conversation, and hand back their own.
    status, body, _ = await team.agent2.request("POST", f"{url}/takeover")
    assert (status, body["assigned_user_id"]) == (200, str(agent2)), body
    status, body, _ = await team.agent2.request("POST", f"{url}/handback")
    assert (status, body["controller"]) == (200, "bot"), body
    status, body, _ = await team.agent.request("POST", f"{url}/takeover", json={"forced": 1})
    assert status == 422, body


async def test_assignment_rules(inbox_world: Any, events: Any) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    url = f"{CONVERSATIONS}/{cid}/assign"
    agent, agent2 = team.user_ids["agent"], team.user_ids["agent2"]

    status, body, _ = await team.owner.request("POST", url, json={"user_id": str(agent2)})
    assert (status, body["assigned_user_id"], body["controller"]) == (200, str(agent2), "human")
    await events.wait(
        team.tenant_id, "inbox.conversation.updated", conversation_id=cid, change="assignment",
        assigned_user_id=agent2, previous_assigned_user_id=None, actor_id=team.user_ids["owner"],
    )  # fmt: skip
    await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.assigned", target_id=cid
    )
    for target in (team.user_ids["viewer"], other.user_ids["agent"], uuid.uuid4()):
        status, body, _ = await team.owner.request("POST", url, json={"user_id": str(target)})
        assert status == 422, body
        assert body["type"].endswith("/user-not-assignable")
    for bad in ({"user_id": "x"}, {}, {"user_id": None, "more": 1}):
        status, body, _ = await team.admin.request("POST", url, json=bad)
        assert status == 422, (bad, body)
    assert await owner_state(inbox_world, team, cid) == ("human", agent2)

    # Agents: only themselves, only when free; only unassign themselves.
    status, body, _ = await team.agent.request("POST", url, json={"user_id": str(agent)})
    assert (status, body["assigned_user_id"]) == (409, str(agent2)), body
    status, body, _ = await team.agent.request("POST", url, json={"user_id": None})
    assert status == 403, body
    status, body, _ = await team.agent2.request("POST", url, json={"user_id": str(agent)})
    assert status == 403, body
    status, body, _ = await team.agent2.request("POST", url, json={"user_id": None})
    assert (status, body["assigned_user_id"], body["controller"]) == (200, None, "human")
    status, body, _ = await team.agent.request("POST", url, json={"user_id": str(agent)})
    assert (status, body["assigned_user_id"]) == (200, str(agent)), body
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        loads = dict(await conn.fetch("SELECT user_id, active_count FROM agent_loads"))
    assert (loads.get(agent), loads.get(agent2)) == (1, 0)


async def test_policies_are_for_managers_and_their_own_numbers(inbox_world: Any) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    url = f"/api/v1/assignment-policies/{team.number_id}"
    status, body, _ = await team.admin.request("GET", url)
    assert (status, body["mode"], body["agent_capacity"]) == (200, "manual", None), body
    put = {"mode": "balanced", "agent_capacity": 3}
    status, body, _ = await team.owner.request("PUT", url, json=put)
    assert (status, body["mode"], body["agent_capacity"]) == (200, "balanced", 3), body
    for who in (team.agent, team.viewer):
        for method in ("GET", "PUT"):
            status, body, _ = await who.request(method, url, json=put if method == "PUT" else None)
            assert status == 403, body
    for bad in ({"mode": "random"}, {"mode": "balanced", "agent_capacity": 0}, {}):
        status, body, _ = await team.owner.request("PUT", url, json=bad)
        assert status == 422, body
    for number in (other.number_id, uuid.uuid4()):
        for method in ("GET", "PUT"):
            status, body, _ = await team.owner.request(
                method,
                f"/api/v1/assignment-policies/{number}",
                json={"mode": "round_robin"} if method == "PUT" else None,
            )
            assert status == 404, body
    status, body, _ = await other.owner.request(
        "GET", f"/api/v1/assignment-policies/{other.number_id}"
    )
    assert body["mode"] == "manual"
    status, body, _ = await team.owner.request("GET", url)
    assert (body["mode"], body["agent_capacity"]) == ("balanced", 3)


async def test_new_conversations_go_to_online_agents(
    inbox_world: Any, presence: Presence, events: Any
) -> None:
    team = await inbox_world.team()
    agent, agent2 = team.user_ids["agent"], team.user_ids["agent2"]
    url = f"/api/v1/assignment-policies/{team.number_id}"
    status, body, _ = await team.owner.request("PUT", url, json={"mode": "round_robin"})
    assert status == 200, body
    # Nobody online: the conversation waits unassigned, for the bot.
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    assert await owner_state(inbox_world, team, cid) == ("bot", None)
    await presence.set_agent(team.tenant_id, agent, "online")
    await presence.set_agent(team.tenant_id, agent2, "online")
    await presence.set_agent(team.tenant_id, team.user_ids["viewer"], "online")
    await presence.set_agent(team.tenant_id, team.user_ids["admin"], "away")
    got = []
    for _ in range(4):
        cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
        controller, assignee = await owner_state(inbox_world, team, cid)
        assert controller == "human"
        got.append(assignee)
    assert Counter(got) == {agent: 2, agent2: 2}
    assert got[0] != got[1]
    created = await events.wait(
        team.tenant_id, "inbox.conversation.updated", conversation_id=cid, change="created"
    )
    assert created["assigned_user_id"] == str(got[-1])
    # Balanced with a capacity of 2: both are full, so the next one stays unassigned.
    status, body, _ = await team.owner.request(
        "PUT", url, json={"mode": "balanced", "agent_capacity": 2}
    )
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    assert await owner_state(inbox_world, team, cid) == ("bot", None)
    await presence.set_agent(team.tenant_id, agent, None)
    await presence.set_agent(team.tenant_id, agent2, None)


# ---- properties, against the database ---------------------------------------------------


async def property_world(pool: Any, tenant_factory: Any, agents: int) -> tuple[Any, ...]:
    """A tenant with a number, `agents` agents, a viewer and an inactive agent."""
    tenant_id = await tenant_factory()
    number_id = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(agents + 2)]
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, '1', '+97143000000', '\\x00')",
            tenant_id, number_id, str(uuid.uuid4().int)[:15],
        )  # fmt: skip
        for i, user_id in enumerate(people):
            role = "viewer" if i == agents else "agent"
            await conn.execute(
                "INSERT INTO users (tenant_id, id, email, name, role, is_active)"
                " VALUES ($1, $2, $3, 'Agent', $4, $5)",
                tenant_id, user_id, f"a{i}-{user_id.hex[:8]}@example.test", role,
                i != agents + 1,
            )  # fmt: skip
    return tenant_id, number_id, people[:agents], people[agents:]


async def new_conversation(
    pool: Any, tenant_id: uuid.UUID, number_id: uuid.UUID, policy: Policy, online: set[uuid.UUID]
) -> tuple[uuid.UUID, uuid.UUID | None, dict[uuid.UUID, int]]:
    """A conversation created and auto-assigned as the inbound path does; loads seen before."""
    cid = uuid.uuid4()
    async with tenant_transaction(pool, tenant_id) as conn:
        contact = await conn.fetchval(
            "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, gen_random_uuid(), $2)"
            " RETURNING id",
            tenant_id,
            os.urandom(32),
        )
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id, last_message_at)"
            " VALUES ($1, $2, $3, $4, now())",
            tenant_id, cid, contact, number_id,
        )  # fmt: skip
        loads = dict(await conn.fetch("SELECT user_id, active_count FROM agent_loads"))
        chosen = await assign_among(conn, tenant_id, cid, policy, online)
    return cid, chosen, loads


async def resolve(pool: Any, tenant_id: uuid.UUID, cid: uuid.UUID) -> None:
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", cid)


async def max_load(pool: Any, tenant_id: uuid.UUID) -> int:
    async with tenant_transaction(pool, tenant_id) as conn:
        return int(await conn.fetchval("SELECT coalesce(max(active_count), 0) FROM agent_loads"))


@pytest.mark.parametrize("seed", range(4))
async def test_round_robin_is_fair_among_always_online_agents(
    inbox_world: Any, tenant_factory: Any, seed: int
) -> None:
    rnd = random.Random(seed)
    pool = inbox_world.pool
    tenant_id, number_id, agents, outsiders = await property_world(pool, tenant_factory, 6)
    core, extras = set(agents[:3]), agents[3:]
    capacity = rnd.choice([None, None, 1, 2, 3])
    policy = Policy("round_robin", capacity)
    online = set(core) | set(outsiders)  # a viewer and an inactive agent are never eligible
    counts: Counter[uuid.UUID] = Counter()
    active: list[uuid.UUID] = []
    for _ in range(30):
        roll = rnd.random()
        if roll < 0.15:
            online ^= {rnd.choice(extras)}  # an extra agent comes or goes
        elif roll < 0.35 and active:
            await resolve(pool, tenant_id, active.pop(rnd.randrange(len(active))))
        else:
            cid, chosen, loads = await new_conversation(pool, tenant_id, number_id, policy, online)
            eligible = {
                a for a in online & set(agents) if capacity is None or loads.get(a, 0) < capacity
            }
            if chosen is None:
                assert not eligible
                continue
            assert chosen in eligible
            counts[chosen] += 1
            active.append(cid)
        if capacity is not None:
            assert await max_load(pool, tenant_id) <= capacity
    if capacity is None:
        core_counts = [counts[a] for a in core]
        assert max(core_counts) - min(core_counts) <= 1, counts


@pytest.mark.parametrize("seed", range(4))
async def test_balanced_always_picks_a_least_loaded_agent(
    inbox_world: Any, tenant_factory: Any, seed: int
) -> None:
    rnd = random.Random(1000 + seed)
    pool = inbox_world.pool
    tenant_id, number_id, agents, outsiders = await property_world(pool, tenant_factory, 5)
    capacity = rnd.choice([None, 1, 2, 4])
    policy = Policy("balanced", capacity)
    online = set(agents[:2]) | set(outsiders)
    active: list[uuid.UUID] = []
    for _ in range(30):
        roll = rnd.random()
        if roll < 0.2:
            online ^= {rnd.choice(agents)}
        elif roll < 0.45 and active:
            await resolve(pool, tenant_id, active.pop(rnd.randrange(len(active))))
        else:
            cid, chosen, loads = await new_conversation(pool, tenant_id, number_id, policy, online)
            eligible = {
                a: loads.get(a, 0)
                for a in online & set(agents)
                if capacity is None or loads.get(a, 0) < capacity
            }
            if chosen is None:
                assert not eligible
                continue
            assert eligible[chosen] == min(eligible.values()), (chosen, eligible)
            active.append(cid)
        if capacity is not None:
            assert await max_load(pool, tenant_id) <= capacity


async def test_concurrent_new_conversations_do_not_pile_on_one_agent(
    inbox_world: Any, tenant_factory: Any
) -> None:
    pool = inbox_world.pool
    tenant_id, number_id, agents, _ = await property_world(pool, tenant_factory, 3)
    policy = Policy("balanced", None)
    results = await asyncio.gather(
        *(new_conversation(pool, tenant_id, number_id, policy, set(agents)) for _ in range(9))
    )
    assert Counter(chosen for _, chosen, _ in results) == dict.fromkeys(agents, 3)


async def test_without_redis_a_new_conversation_stays_unassigned(
    inbox_world: Any, tenant_factory: Any
) -> None:
    pool = inbox_world.pool
    tenant_id, number_id, agents, _ = await property_world(pool, tenant_factory, 2)
    async with tenant_transaction(pool, tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO assignment_policies (tenant_id, number_id, mode)"
            " VALUES ($1, $2, 'balanced')",
            tenant_id,
            number_id,
        )
    # A real client of a port nothing listens on: presence raises RedisUnavailable.
    client = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        cid, _, _ = await new_conversation(
            pool, tenant_id, number_id, Policy("manual", None), set()
        )
        async with tenant_transaction(pool, tenant_id) as conn:
            chosen = await assign_new_conversation(
                conn, tenant_id, cid, number_id, Presence(client, "nowhere:")
            )
            assignee = await conn.fetchval(
                "SELECT assigned_user_id FROM conversations WHERE id = $1", cid
            )
    finally:
        await client.aclose()
    assert (chosen, assignee) == (None, None)
    # The same call with agents online does assign (the test can fail).
    online_client = aioredis.Redis.from_url(inbox_world.settings.redis_url.get_secret_value())
    presence = Presence(online_client, f"t{uuid.uuid4().hex[:8]}:")
    try:
        await presence.set_agent(tenant_id, agents[0], "online")
        async with tenant_transaction(pool, tenant_id) as conn:
            chosen = await assign_new_conversation(conn, tenant_id, cid, number_id, presence)
    finally:
        await online_client.aclose()
    assert chosen == agents[0]
