"""Roles and the team: invites, role boundaries, the last owner, deactivation, and
cross-tenant access to users (always 404, nothing changed)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from majlis.db import tenant_transaction
from majlis.testing.browser import PASSWORD, GatewayUnderTest, fresh_email


async def _user_id(browser: Any) -> str:
    _, body, _ = await browser.request("GET", "/api/v1/me")
    return str(body["user"]["id"])


async def test_invite_is_single_use_and_gives_its_role(gateway: GatewayUnderTest) -> None:
    owner, _, tenant_id = await gateway.owner()
    email = fresh_email("agent")
    status, invite, _ = await owner.request(
        "POST", "/api/v1/team/invites", json={"email": email, "role": "agent"}
    )
    assert status == 201
    assert invite["invite_url"].endswith("#token=" + invite["token"])
    status, body, _ = await owner.request("GET", "/api/v1/team/invites")
    assert [i["email"] for i in body["invites"]] == [email]
    accept = {"token": invite["token"], "name": "Aisha", "password": PASSWORD}
    status, joined, _ = await gateway.browser().request(
        "POST", "/api/v1/auth/invites/accept", json=accept
    )
    assert status == 201
    assert joined["tenant_id"] == str(tenant_id)
    assert (await gateway.browser().request("POST", "/api/v1/auth/invites/accept", json=accept))[
        0
    ] == 404
    agent = gateway.browser()
    assert (await agent.login(email))[0] == 200
    _, me, _ = await agent.request("GET", "/api/v1/me")
    assert me["user"]["role"] == "agent"
    assert me["tenant"]["id"] == str(tenant_id)


async def test_forged_or_revoked_invites_fail(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    _status, invite, _ = await owner.request(
        "POST", "/api/v1/team/invites", json={"email": fresh_email(), "role": "viewer"}
    )
    forged = invite["token"][:-4] + "AAAA"
    assert (
        await gateway.browser().request(
            "POST",
            "/api/v1/auth/invites/accept",
            json={"token": forged, "name": "X", "password": PASSWORD},
        )
    )[0] == 404
    assert (await owner.request("DELETE", f"/api/v1/team/invites/{invite['id']}"))[0] == 204
    assert (
        await gateway.browser().request(
            "POST",
            "/api/v1/auth/invites/accept",
            json={"token": invite["token"], "name": "X", "password": PASSWORD},
        )
    )[0] == 404


@pytest.mark.parametrize("role", ["agent", "viewer"])
async def test_agents_and_viewers_cannot_manage(gateway: GatewayUnderTest, role: str) -> None:
    owner, _, _ = await gateway.owner()
    member, _ = await gateway.member(owner, role)
    owner_id = await _user_id(owner)
    attempts = [
        ("POST", "/api/v1/team/invites", {"email": fresh_email(), "role": "agent"}),
        ("GET", "/api/v1/team/invites", None),
        ("PATCH", f"/api/v1/users/{owner_id}", {"role": "viewer"}),
        ("POST", f"/api/v1/users/{owner_id}/deactivate", None),
        ("POST", "/api/v1/api-keys", {"name": "k", "scopes": ["contacts:read"]}),
        ("GET", "/api/v1/api-keys", None),
        (
            "POST",
            "/api/v1/numbers",
            {
                "phone_number_id": "1",
                "waba_id": "2",
                "display_number": "+971",
                "access_token": "EAA" + "x" * 20,
            },
        ),
    ]
    for method, path, body in attempts:
        status, _, _ = await member.request(method, path, json=body)
        assert status == 403, (method, path)
    # Reading the team and the numbers is allowed to everyone.
    assert (await member.request("GET", "/api/v1/users"))[0] == 200
    assert (await member.request("GET", "/api/v1/numbers"))[0] == 200
    _, users, _ = await owner.request("GET", "/api/v1/users")
    assert {u["role"] for u in users["users"]} == {"owner", role}


async def test_admin_boundaries(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    agent, _ = await gateway.member(owner, "agent")
    owner_id, agent_id = await _user_id(owner), await _user_id(agent)
    # An admin manages agents ...
    status, body, _ = await admin.request(
        "PATCH", f"/api/v1/users/{agent_id}", json={"role": "viewer"}
    )
    assert (status, body["role"]) == (200, "viewer")
    # ... but never owners, and cannot make owners.
    assert (await admin.request("PATCH", f"/api/v1/users/{owner_id}", json={"role": "agent"}))[
        0
    ] == 403
    assert (await admin.request("POST", f"/api/v1/users/{owner_id}/deactivate"))[0] == 403
    assert (await admin.request("PATCH", f"/api/v1/users/{agent_id}", json={"role": "owner"}))[
        0
    ] == 403
    assert (
        await admin.request(
            "POST", "/api/v1/team/invites", json={"email": fresh_email(), "role": "owner"}
        )
    )[0] == 403
    _, me, _ = await owner.request("GET", "/api/v1/me")
    assert me["user"]["role"] == "owner"


async def test_role_change_ends_tokens_carrying_the_old_role(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    admin_id = await _user_id(admin)
    assert (await owner.request("PATCH", f"/api/v1/users/{admin_id}", json={"role": "viewer"}))[
        0
    ] == 200
    assert (await admin.request("GET", "/api/v1/team/invites"))[0] == 401
    status, _, _ = await admin.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 200
    _, me, _ = await admin.request("GET", "/api/v1/me")
    assert me["user"]["role"] == "viewer"
    assert (await admin.request("GET", "/api/v1/team/invites"))[0] == 403


async def test_the_last_owner_cannot_leave_or_be_demoted(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    owner_id = await _user_id(owner)
    status, body, _ = await owner.request(
        "PATCH", f"/api/v1/users/{owner_id}", json={"role": "admin"}
    )
    assert status == 409
    assert body["type"].endswith("/last-owner")
    assert (await owner.request("POST", f"/api/v1/users/{owner_id}/deactivate"))[0] == 409
    # With a second owner, the first may step down.
    second, _ = await gateway.member(owner, "owner")
    assert (await owner.request("PATCH", f"/api/v1/users/{owner_id}", json={"role": "admin"}))[
        0
    ] == 200
    _, users, _ = await second.request("GET", "/api/v1/users")
    assert sorted(u["role"] for u in users["users"]) == ["admin", "owner"]


async def test_deactivation_kills_every_session(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    agent, email = await gateway.member(owner, "agent")
    agent_id = await _user_id(agent)
    status, body, _ = await owner.request("POST", f"/api/v1/users/{agent_id}/deactivate")
    assert (status, body["is_active"]) == (200, False)
    assert (await agent.request("GET", "/api/v1/me"))[0] == 401
    assert (await agent.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    assert (await gateway.browser().login(email))[0] == 401


async def test_cross_tenant_user_access_is_404_and_changes_nothing(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, tenant_b = await gateway.owner()
    agent_b, _ = await gateway.member(owner_b, "agent")
    victim = await _user_id(agent_b)
    async with tenant_transaction(db_pool, tenant_b) as conn:
        before = await conn.fetchrow("SELECT * FROM users WHERE id = $1", uuid.UUID(victim))
    for method, path, body in [
        ("PATCH", f"/api/v1/users/{victim}", {"role": "viewer"}),
        ("POST", f"/api/v1/users/{victim}/deactivate", None),
    ]:
        status, problem, _ = await owner_a.request(method, path, json=body)
        assert status == 404
        assert victim not in str(problem.get("detail", ""))
    _, users, _ = await owner_a.request("GET", "/api/v1/users")
    assert victim not in str(users)
    async with tenant_transaction(db_pool, tenant_b) as conn:
        after = await conn.fetchrow("SELECT * FROM users WHERE id = $1", uuid.UUID(victim))
    assert after is not None
    assert before is not None
    assert dict(after) == dict(before)
    assert (await owner_a.request("PATCH", "/api/v1/users/not-a-uuid", json={"role": "viewer"}))[
        0
    ] == 404
