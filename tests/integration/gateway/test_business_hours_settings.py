"""`/api/v1/settings/business-hours`: defaults, validation, roles, audit, tenant isolation;
and the analytics family's API-key scope at the edge."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from majlis.messaging import Bus, queue_name
from majlis.settings import Settings
from majlis.testing.browser import GatewayUnderTest

PATH = "/api/v1/settings/business-hours"
OFFICE: dict[str, Any] = {
    "timezone": "Asia/Riyadh",
    "weekly": {
        d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in ("sun", "mon", "tue", "wed", "thu")
    },
    "holidays": ["2026-12-02"],
}


async def audited(settings: Settings, tenant_id: str, action: str) -> dict[str, Any]:
    """The first audit event of `action` for the tenant, read off the audit queue."""
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
                envelope: dict[str, Any] = json.loads(message.body)
                payload = envelope["payload"]
                if envelope["tenant_id"] == tenant_id and payload["action"] == action:
                    return envelope
    finally:
        await bus.close()


async def test_default_is_always_open_in_the_tenants_zone(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    status, body, _ = await owner.request("GET", PATH)
    assert status == 200, body
    assert body["is_default"] is True
    assert body["timezone"] == "Asia/Dubai"
    assert body["weekly"]["fri"] == [["00:00", "24:00"]]
    assert body["holidays"] == []


async def test_owner_sets_every_role_reads_and_the_change_is_audited(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, tenant_id = await gateway.owner()
    status, saved, _ = await owner.request("PUT", PATH, json=OFFICE)
    assert status == 200, saved
    assert saved == {**OFFICE, "is_default": False}
    for role in ("viewer", "agent", "admin"):
        member, _ = await gateway.member(owner, role)
        status, body, _ = await member.request("GET", PATH)
        assert (status, body) == (200, saved)
    agent, _ = await gateway.member(owner, "agent")
    status, body, _ = await agent.request("PUT", PATH, json=OFFICE)
    assert status == 403, body
    admin, _ = await gateway.member(owner, "admin")
    weekend = {**OFFICE, "timezone": "Asia/Dubai", "holidays": []}
    assert (await admin.request("PUT", PATH, json=weekend))[0] == 200
    assert (await owner.request("GET", PATH))[1]["timezone"] == "Asia/Dubai"
    event = await audited(gateway.settings, str(tenant_id), "settings.business_hours_updated")
    assert event["payload"]["details"] == {
        "timezone": "Asia/Riyadh",
        "days_with_hours": ["mon", "sun", "thu", "tue", "wed"],
        "holidays": 1,
    }
    # Another tenant still has its own default.
    stranger, _, _ = await gateway.owner()
    assert (await stranger.request("GET", PATH))[1]["is_default"] is True


async def test_bad_settings_are_problem_details(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    bad: list[dict[str, Any]] = [
        {**OFFICE, "timezone": "Mars/Olympus"},
        {**OFFICE, "timezone": "../../etc/passwd"},
        {**OFFICE, "weekly": {"monday": [["09:00", "18:00"]]}},
        {**OFFICE, "weekly": {"mon": [["18:00", "09:00"]]}},
        {**OFFICE, "weekly": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
        {**OFFICE, "holidays": ["2026-13-01"]},
        {**OFFICE, "colour": "blue"},
        {"weekly": {}, "holidays": []},
    ]
    for body in bad:
        status, problem, response = await owner.request("PUT", PATH, json=body)
        assert status == 422, (body, problem)
        assert response.content_type == "application/problem+json"
    assert (await owner.request("GET", PATH))[1]["is_default"] is True


async def test_api_keys_need_analytics_read(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    _, without, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "no analytics", "scopes": ["contacts:read"]}
    )
    _, with_scope, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "analytics", "scopes": ["analytics:read"]}
    )
    client = gateway.browser()
    client.token = without["key"]
    for path in ("/api/v1/analytics/volumes", "/api/v1/analytics/agents", PATH):
        status, problem, _ = await client.request("GET", path)
        assert status == 403, (path, problem)
        assert problem["type"].endswith("/insufficient-scope")
    client.token = with_scope["key"]
    status, body, _ = await client.request("GET", PATH)
    assert status == 200, body
    # Changing business hours is for people, never for a key.
    assert (await client.request("PUT", PATH, json=OFFICE))[0] == 403
