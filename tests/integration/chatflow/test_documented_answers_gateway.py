"""The documented answers of the gateway's own routes are true: accounts and sessions (register,
sign-in, refresh, password change, the JWKS), the team's invites, presence, business hours and
residency, each called through a gateway on the real PostgreSQL, Redis and RabbitMQ and its 2xx
answer validated against the served OpenAPI document (no undocumented key).

These routes need no back end, so a gateway alone serves them (cheaper than the flow world).
Sign-in, registration and refresh are rate-limited per client address: one call of each here,
each browser from an address of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from gateway.context import CONTEXT
from gateway.two_factor import code_at, current_step
from majlis.net.egress import EgressRefused
from majlis.settings import Settings
from majlis.testing.browser import PASSWORD, Browser, GatewayUnderTest, fresh_email
from majlis.testing.documented_answers import CHECKED_ELSEWHERE, Checker
from majlis.testing.stack import running_gateway

PREFIXES = CHECKED_ELSEWHERE["test_documented_answers_gateway.py"]
HOURS = "/api/v1/settings/business-hours"
ON_CONVERSATION = "/api/v1/presence/conversations/{conversation_id}"


@pytest.fixture(scope="module")
async def gateway(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway(settings, graph_simulator, db_pool) as under_test:
        yield under_test


async def test_every_documented_gateway_answer_matches_the_real_one(
    gateway: GatewayUnderTest,
) -> None:
    owner = gateway.browser()
    _, document, _ = await owner.request("GET", "/api/v1/openapi.json")
    check = Checker(document)

    # Accounts and sessions: the access token in the body, refresh and CSRF tokens as cookies.
    email = fresh_email("owner")
    registered = await check.call(
        owner, "POST", "/api/v1/auth/register",
        json={"business_name": "Al Noor Trading", "name": "Fatima", "email": email,
              "password": PASSWORD},
        status=201,
    )  # fmt: skip
    gateway.tenants.append(uuid.UUID(registered["tenant_id"]))
    await check.call(
        owner, "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert {"__Host-majlis_refresh", "__Host-majlis_csrf"} <= owner.cookies.keys()
    first = owner.token
    await check.call(owner, "POST", "/api/v1/auth/refresh")
    assert owner.token != first
    jwks = await check.call(gateway.browser(), "GET", "/.well-known/jwks.json")
    assert jwks["keys"]  # and, the schema being closed, no private part of any key

    # The team: two invites, one accepted (it leaves the pending list).
    invite = await check.call(
        owner, "POST", "/api/v1/team/invites",
        json={"email": fresh_email("agent"), "role": "agent"}, status=201,
    )  # fmt: skip
    await check.call(
        owner, "POST", "/api/v1/team/invites",
        json={"email": fresh_email("admin"), "role": "admin"}, status=201,
    )  # fmt: skip
    pending = await check.call(owner, "GET", "/api/v1/team/invites")
    assert invite["id"] in [i["id"] for i in pending["invites"]]
    agent = gateway.browser()
    joined = await check.call(
        agent, "POST", "/api/v1/auth/invites/accept",
        json={"token": invite["token"], "name": "Omar", "password": PASSWORD}, status=201,
    )  # fmt: skip
    assert joined["tenant_id"] == registered["tenant_id"]
    assert (await agent.login(invite["email"]))[0] == 200
    pending = await check.call(owner, "GET", "/api/v1/team/invites")
    assert [i["role"] for i in pending["invites"]] == ["admin"]

    await _presence(gateway, check, owner, agent, joined["user_id"])
    await _business_hours(check, owner, agent)
    await _residency(gateway, check, owner)
    await _two_factor(gateway, check, owner, agent, invite["email"], joined["user_id"])
    await _sign_ins(gateway, check, owner, email)

    # Last: a new password signs out every other session and answers this one's new token.
    changed = await check.call(
        owner, "POST", "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "saffron dhow windcatcher 1447"},
    )  # fmt: skip
    assert changed["token_type"] == "Bearer"
    assert (await owner.request("GET", "/api/v1/me"))[0] == 200

    assert not check.unchecked(PREFIXES), sorted(check.unchecked(PREFIXES))


async def _sign_ins(gateway: GatewayUnderTest, check: Checker, owner: Browser, email: str) -> None:
    """Where the owner is signed in: two more sign-ins, one ended, then all the others."""
    for _ in range(2):
        assert (await gateway.browser().login(email))[0] == 200
    listed = await check.call(owner, "GET", "/api/v1/auth/sessions")
    other = next(s for s in listed["sessions"] if not s["current"])
    ended_one = await owner.request("DELETE", f"/api/v1/auth/sessions/{other['id']}")
    assert ended_one[0] == 204  # no body to check
    ended = await check.call(owner, "POST", "/api/v1/auth/sessions/end-others")
    assert ended["ended"] >= 1


async def _two_factor(
    gateway: GatewayUnderTest,
    check: Checker,
    owner: Browser,
    agent: Browser,
    agent_email: str,
    agent_id: str,
) -> None:
    """The agent sets up, turns on, replaces codes, signs in with a code, turns off; then turns
    it on again and the owner resets it."""

    async def turn_on() -> tuple[str, list[str]]:
        setup = await check.call(
            agent, "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
        )
        code = code_at(setup["secret"], current_step())
        on = await check.call(agent, "POST", "/api/v1/auth/two-factor/enable", json={"code": code})
        return setup["secret"], on["recovery_codes"]

    secret, codes = await turn_on()
    replaced = await check.call(
        agent, "POST", "/api/v1/auth/two-factor/recovery-codes",
        json={"password": PASSWORD, "code": code_at(secret, current_step() + 1)},
    )  # fmt: skip
    codes = replaced["recovery_codes"]
    elsewhere = gateway.browser()
    status, challenge = await elsewhere.login(agent_email)
    assert status == 401, challenge
    await check.call(
        elsewhere, "POST", "/api/v1/auth/login/two-factor",
        json={"two_factor_token": challenge["two_factor_token"], "code": codes[0]},
    )  # fmt: skip
    await check.call(
        agent, "POST", "/api/v1/auth/two-factor/disable",
        json={"password": PASSWORD, "code": codes[1]},
    )  # fmt: skip
    await turn_on()
    reset = await check.call(owner, "DELETE", "/api/v1/users/{user_id}/two-factor", agent_id)
    assert reset["two_factor"] is False
    policy = await check.call(owner, "GET", "/api/v1/settings/security")
    assert policy["require_two_factor"] is False
    same = await check.call(
        owner, "PUT", "/api/v1/settings/security", json={"require_two_factor": False}
    )
    assert same == policy


async def _presence(
    gateway: GatewayUnderTest, check: Checker, owner: Browser, agent: Browser, agent_id: str
) -> None:
    """Own status (set, listed, offline again) and who types in a conversation."""
    await check.call(owner, "PUT", "/api/v1/me/presence", json={"status": "online"})
    await check.call(agent, "PUT", "/api/v1/me/presence", json={"status": "away"})
    listed = await check.call(owner, "GET", "/api/v1/presence")
    assert [p["status"] for p in listed] == ["online", "away"]
    assert listed[1]["user_id"] == agent_id
    offline = await check.call(agent, "PUT", "/api/v1/me/presence", json={"status": "offline"})
    assert offline["status"] == "offline"
    # Presence is kept per conversation id without looking the conversation up: an id of
    # our own making is enough, and a gateway without the inbox can serve it.
    conversation = str(uuid.uuid4())
    nobody = await check.call(owner, "GET", ON_CONVERSATION, conversation)
    assert nobody == []
    ws = await gateway.session.ws_connect(
        gateway.base + "/api/v1/stream", headers={"X-Forwarded-For": agent.ip}
    )
    await ws.send_json({"type": "auth", "token": agent.token})
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    await ws.send_json({"type": "typing", "conversation_id": conversation})
    path = ON_CONVERSATION.replace("{conversation_id}", conversation)
    for _ in range(100):
        if (await owner.request("GET", path))[1]:
            break
        await asyncio.sleep(0.05)
    there = await check.call(owner, "GET", ON_CONVERSATION, conversation)
    assert [p["state"] for p in there] == ["typing", "viewing"]
    await ws.close()


async def _business_hours(check: Checker, owner: Browser, agent: Browser) -> None:
    """Never set (24/7, every role reads it), then set by the owner and read again."""
    default = await check.call(agent, "GET", HOURS)
    assert default["is_default"] is True
    hours = {
        "timezone": "Asia/Dubai",
        "weekly": {"sun": [["09:00", "13:00"], ["16:00", "21:00"]], "thu": [["10:00", "24:00"]]},
        "holidays": ["2026-12-02"],
    }
    saved = await check.call(owner, "PUT", HOURS, json=hours)
    assert saved == {**hours, "is_default": False}
    assert await check.call(agent, "GET", HOURS) == saved


async def _residency(gateway: GatewayUnderTest, check: Checker, owner: Browser) -> None:
    """Stores, allow-list and encryption facts, with a refusal counted per host."""
    with pytest.raises(EgressRefused):
        await gateway.app[CONTEXT].egress.check(URL("https://tracker.example.net/pixel"))
    residency = await check.call(owner, "GET", "/api/v1/platform/residency")
    assert residency["egress"]["refused_by_host"]["tracker.example.net"] >= 1
    assert [s["name"] for s in residency["stores"]] == ["postgresql", "redis", "rabbitmq"]
