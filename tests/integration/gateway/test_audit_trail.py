"""End to end: a gateway action lands in the audit log once, readable through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from majlis.db import tenant_transaction
from majlis.testing.browser import GatewayUnderTest


async def _entries(db_pool: Any, tenant_id: uuid.UUID, action: str) -> list[Any]:
    async with tenant_transaction(db_pool, tenant_id, readonly=True) as conn:
        return await conn.fetch("SELECT * FROM audit_events WHERE action = $1 ORDER BY seq", action)


async def test_api_key_creation_is_audited_once_and_served_through_the_gateway(
    gateway_factory: Callable[..., Awaitable[GatewayUnderTest]],
    audit_url: str,
    db_pool: Any,
) -> None:
    gateway = await gateway_factory(audit_url=audit_url)
    browser, _, tenant_id = await gateway.owner()
    try:
        status, body, _ = await browser.request(
            "POST", "/api/v1/api-keys", json={"name": "audited", "scopes": ["contacts:read"]}
        )
        assert status == 201, body
        async with asyncio.timeout(15):
            while True:
                if await _entries(db_pool, tenant_id, "api_keys.created"):
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate, were there one, would land by now
        rows = await _entries(db_pool, tenant_id, "api_keys.created")
        assert len(rows) == 1
        assert rows[0]["actor_role"] == "owner"
        assert rows[0]["request_id"]
        assert rows[0]["target_id"] == body["id"]
        # Starter plan: recorded, but not readable.
        status, problem, _ = await browser.request("GET", "/api/v1/audit/events")
        assert status == 403
        assert problem["type"].endswith("/business-plan-required")
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("UPDATE tenants SET plan = 'business' WHERE id = $1", tenant_id)
        status, page, _ = await browser.request(
            "GET", "/api/v1/audit/events?action=api_keys.created"
        )
        assert status == 200, page
        assert [item["event_id"] for item in page["items"]] == [str(rows[0]["event_id"])]
        status, verdict, _ = await browser.request("POST", "/api/v1/audit/verify")
        assert status == 200, verdict
        assert verdict["ok"] is True
        assert verdict["first_broken_seq"] is None
    finally:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
