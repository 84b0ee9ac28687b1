"""Every gateway action publishes an audit event through the outbox, with no secrets in it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from majlis.messaging import Bus, queue_name
from majlis.settings import Settings
from majlis.testing.browser import PASSWORD, GatewayUnderTest


async def _audit_actions(
    settings: Settings, tenant_id: str, want: set[str]
) -> list[dict[str, Any]]:
    bus = await Bus.connect(settings)
    found: list[dict[str, Any]] = []
    try:
        channel = await bus.channel(publisher_confirms=False)
        queue = await channel.get_queue(
            queue_name(settings.bus_prefix, "audit.events"), ensure=False
        )
        async with asyncio.timeout(15):
            while not want <= {e["payload"]["action"] for e in found}:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.1)
                    continue
                await message.ack()
                envelope = json.loads(message.body)
                if (
                    envelope["type"] == "gateway.audit.recorded"
                    and envelope["tenant_id"] == tenant_id
                ):
                    found.append(envelope)
    finally:
        await bus.close()
    return found


async def test_actions_are_audited_without_secrets(gateway: GatewayUnderTest) -> None:
    browser, email, tenant_id = await gateway.owner()
    assert (await gateway.browser().login(email, "a wrong password"))[0] == 401
    await browser.request(
        "POST", "/api/v1/api-keys", json={"name": "audit me", "scopes": ["contacts:read"]}
    )
    await browser.request("POST", "/api/v1/auth/logout")
    events = await _audit_actions(
        gateway.settings,
        str(tenant_id),
        {
            "auth.registered",
            "auth.login.succeeded",
            "auth.login.failed",
            "api_keys.created",
            "auth.logout",
        },
    )
    text = json.dumps(events)
    for secret in (PASSWORD, "a wrong password", "mjk_", email):
        assert secret not in text
    failed = next(e for e in events if e["payload"]["action"] == "auth.login.failed")
    assert failed["payload"]["outcome"] == "failure"
    assert failed["payload"]["ip"] is not None


async def test_refresh_token_reuse_is_audited(gateway: GatewayUnderTest) -> None:
    """A rotated refresh token presented after the grace window (a stolen copy) revokes the
    family (test_auth.py) and leaves an audit entry that names the session, not the token."""
    browser, _, tenant_id = await gateway.owner()
    stolen = browser.cookies["__Host-majlis_refresh"]
    assert (await browser.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 200
    await asyncio.sleep(gateway.settings.refresh_grace_seconds + 0.2)
    thief = gateway.browser()
    thief.cookies = {**browser.cookies, "__Host-majlis_refresh": stolen}
    assert (await thief.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    events = await _audit_actions(gateway.settings, str(tenant_id), {"auth.refresh.reuse_detected"})
    [event] = [e for e in events if e["payload"]["action"] == "auth.refresh.reuse_detected"]
    payload = event["payload"]
    assert (payload["outcome"], payload["actor_type"]) == ("failure", "anonymous")
    assert payload["target_type"] == "session"
    assert payload["target_id"]
    assert payload["ip"] is not None
    text = json.dumps(events)
    for secret in (stolen, browser.cookies["__Host-majlis_refresh"]):
        assert secret not in text
