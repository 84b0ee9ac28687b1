"""Plans: GET /api/v1/plan, the limits on numbers, team members and API keys, the set-plan
command (audited), and the audit log refused on Starter through majlis.plans."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

from majlis.messaging import Bus, queue_name
from majlis.plans import BUSINESS, STARTER, Limit, set_plan
from majlis.settings import REPO_ROOT, Settings
from majlis.testing.browser import Browser, GatewayUnderTest, fresh_email

TOKEN = "EAAGm0PX4ZCpsBAKZAZBplanstoken0123456789"


def _slug(body: dict[str, Any]) -> str:
    return str(body["type"]).rsplit("/", 1)[1]


async def _new_key(owner: Browser, name: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": name, "scopes": ["contacts:read"]}
    )
    return status, body


async def _new_number(owner: Browser) -> tuple[int, dict[str, Any]]:
    status, body, _ = await owner.request(
        "POST",
        "/api/v1/numbers",
        json={
            "phone_number_id": str(uuid.uuid4().int)[:15],
            "waba_id": "102290129340398",
            "display_number": "+971 4 123 4567",
            "access_token": TOKEN,
        },
    )
    return status, body


async def test_owner_and_admin_see_plan_limits_and_usage(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    assert (await _new_key(owner, "crm"))[0] == 201
    for who in (owner, admin):
        status, body, _ = await who.request("GET", "/api/v1/plan")
        assert status == 200, body
        assert body["plan"]["name"] == "starter"
        assert body["plan"]["limits"] == {k.value: v for k, v in STARTER.limits.items()}
        assert "audit_log" not in body["plan"]["features"]
        assert body["usage"]["team_members"] == 2
        assert body["usage"]["api_keys"] == 1
        assert body["usage"]["numbers"] == 0


async def test_plan_is_for_owners_and_admins_and_per_tenant(gateway: GatewayUnderTest) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, _ = await gateway.owner()
    for _ in range(2):
        assert (await _new_key(owner_b, "b"))[0] == 201
    _, plan_a, _ = await owner_a.request("GET", "/api/v1/plan")
    assert plan_a["usage"]["api_keys"] == 0  # tenant B's keys are not counted for A
    for role in ("agent", "viewer"):
        member, _ = await gateway.member(owner_a, role)
        status, body, _ = await member.request("GET", "/api/v1/plan")
        assert (status, _slug(body)) == (403, "forbidden"), role
    _, key = await _new_key(owner_a, "k")
    integration = gateway.browser()
    integration.token = key["key"]
    assert (await integration.request("GET", "/api/v1/plan"))[0] == 403


async def test_api_key_limit_names_the_limit_and_frees_up_on_revoke(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    created = [await _new_key(owner, f"k{i}") for i in range(STARTER.limits[Limit.API_KEYS])]
    assert all(status == 201 for status, _ in created)
    status, body = await _new_key(owner, "one too many")
    assert (status, _slug(body)) == (403, "plan-limit-reached"), body
    assert (body["limit"], body["allowed"], body["plan"]) == ("api_keys", 5, "starter")
    key_id = created[0][1]["id"]
    assert (await owner.request("DELETE", f"/api/v1/api-keys/{key_id}"))[0] == 204
    assert (await _new_key(owner, "replacement"))[0] == 201
    await set_plan(db_pool, tenant_id, "business")
    assert (await _new_key(owner, "more on business"))[0] == 201
    _, plan, _ = await owner.request("GET", "/api/v1/plan")
    assert plan["plan"]["name"] == "business"
    assert plan["plan"]["limits"]["api_keys"] == BUSINESS.limits[Limit.API_KEYS]


async def test_number_limit(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    for _ in range(STARTER.limits[Limit.NUMBERS]):
        status, body = await _new_number(owner)
        assert status == 201, body
    status, body = await _new_number(owner)
    assert (status, _slug(body), body["limit"]) == (403, "plan-limit-reached", "numbers")


async def test_a_disabled_number_frees_a_place_until_it_is_enabled_again(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, _ = await gateway.owner()
    numbers = [(await _new_number(owner))[1] for _ in range(STARTER.limits[Limit.NUMBERS])]
    path = f"/api/v1/numbers/{numbers[0]['id']}"
    assert (await owner.request("PATCH", path, json={"status": "disabled"}))[0] == 200
    assert (await _new_number(owner))[0] == 201
    status, body, _ = await owner.request("PATCH", path, json={"status": "active"})
    assert (status, _slug(body), body["limit"]) == (403, "plan-limit-reached", "numbers")
    assert (await owner.request("PATCH", path, json={"display_number": "+971 4 1"}))[0] == 200


async def test_team_member_limit_counts_users_and_pending_invites(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, _ = await gateway.owner()
    await gateway.member(owner, "agent")  # owner + agent: 2 members
    for _ in range(STARTER.limits[Limit.TEAM_MEMBERS] - 2):
        status, body, _ = await owner.request(
            "POST", "/api/v1/team/invites", json={"email": fresh_email(), "role": "agent"}
        )
        assert status == 201, body
    status, body, _ = await owner.request(
        "POST", "/api/v1/team/invites", json={"email": fresh_email(), "role": "viewer"}
    )
    assert (status, _slug(body), body["limit"]) == (403, "plan-limit-reached", "team_members")


async def _plan_audit_events(settings: Settings, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    bus = await Bus.connect(settings)
    try:
        channel = await bus.channel(publisher_confirms=False)
        queue = await channel.get_queue(
            queue_name(settings.bus_prefix, "audit.events"), ensure=False
        )
        async with asyncio.timeout(15):
            while True:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.1)
                    continue
                await message.ack()
                envelope = json.loads(message.body)
                if (
                    envelope["tenant_id"] == str(tenant_id)
                    and envelope["payload"].get("action") == "plan.changed"
                ):
                    return [envelope]
    finally:
        await bus.close()


async def test_set_plan_command_changes_the_plan_and_is_audited(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, tenant_id = await gateway.owner()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.cli",
        "set-plan",
        str(tenant_id),
        "business",
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    assert b"starter -> business" in out
    _, plan, _ = await owner.request("GET", "/api/v1/plan")
    assert plan["plan"]["name"] == "business"
    (event,) = await _plan_audit_events(gateway.settings, tenant_id)
    payload = event["payload"]
    assert (payload["actor_type"], payload["details"]) == (
        "system",
        {"from": "starter", "to": "business"},
    )
