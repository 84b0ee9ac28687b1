"""Integrations: a webhook endpoint created on the page, pointing at a receiver this test runs
on 127.0.0.1 (loopback is allowed only outside production, see conftest.py); the signing
secret shown once (copied, then gone after a reload and absent from every API answer); a test
delivery the receiver verifies with a Standard Webhooks verifier written here from the
specification; the delivery log; a redelivery (same webhook-id); a rotation with an overlap
(both secrets sign); disable/enable; the banner of an endpoint the platform disabled; delete
with confirmation; agents see no Integrations; Arabic. An endpoint edited on the page: its
URL, description and event types (the list, the API and the next delivery follow), a refused
URL shown beside its field with nothing changed, and one the platform disabled enabled again
from the form. Screenshots integrations-en/-ar (to
docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.db import create_pool, tenant_transaction
from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    eventually,
    json_of,
    sign_in,
    team_member,
)

ROOT = Path(__file__).resolve().parents[3]
TOLERANCE_S = 300


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


def verify(secret: str, headers: dict[str, str], body: bytes) -> Any:
    """Standard Webhooks: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the base64 key after
    `whsec_`; space-separated `v1,<base64>` signatures; stale timestamps refused."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > TOLERANCE_S:
        raise AssertionError("timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(body)
    raise AssertionError("no valid signature")


@dataclass
class Receiver:
    url: str = ""
    hits: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def handle(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        found.hits.append((headers, await request.read()))
        found.paths.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/crm", handle)
    app.router.add_post("/crm/edited", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.url = str(server.make_url("/crm"))
    yield found
    await server.close()


async def _get(platform: Platform, business: Business, path: str) -> Any:
    async with platform.session.get(f"{platform.base}{path}", headers=business.headers) as r:
        return await json_of(r, 200)


async def test_endpoint_secret_once_signed_delivery_log_redelivery_rotation(
    platform: Platform, business: Business, receiver: Receiver, new_context: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = await new_context(permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    refused: list[str] = []  # CSP violations the browser reports
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Integrations", exact=True).click()
    await page.get_by_role("heading", name="Integrations", exact=True).wait_for()
    await page.get_by_test_id("no-endpoints").wait_for()

    # The event checkboxes are the API's catalogue.
    catalogue = (await _get(platform, business, "/api/v1/webhooks/event-types"))["items"]
    boxes = page.get_by_test_id("webhook-event-types").get_by_role("checkbox")
    assert await boxes.count() == len(catalogue)
    assert [await boxes.nth(i).get_attribute("value") for i in range(len(catalogue))] == catalogue

    await page.get_by_test_id("webhook-url").fill(receiver.url)
    await page.get_by_test_id("webhook-description").fill("Our CRM")
    await page.get_by_label("Message received").check()
    await page.get_by_label("Lead captured").check()
    await page.get_by_test_id("webhook-create-submit").click()
    secret = await page.get_by_test_id("webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    await page.get_by_test_id("copy-secret").click()
    await page.get_by_test_id("copy-secret").filter(has_text="Copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    endpoint = page.get_by_test_id("webhook-endpoint")
    await endpoint.wait_for()
    [listed] = (await _get(platform, business, "/api/v1/webhooks"))["items"]
    assert listed["event_types"] == ["lead.captured", "message.received"]
    assert listed["url"] == receiver.url
    assert secret not in json.dumps(listed)

    # Shown once: after a reload it is nowhere on the page (nor in storage).
    await page.reload()
    await endpoint.wait_for()
    assert await page.get_by_test_id("webhook-secret-panel").count() == 0
    assert secret not in await page.content()
    stored = await page.evaluate("JSON.stringify([localStorage, sessionStorage])")
    assert secret not in stored

    # Send a test: the receiver verifies it; the log shows it delivered.
    await endpoint.get_by_test_id("endpoint-test").click()
    await eventually(lambda: _count(receiver, 1), 20)
    headers, body = receiver.hits[0]
    payload = verify(secret, headers, body)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == listed["id"]
    log = endpoint.get_by_test_id("delivery-log")
    await log.wait_for()
    row = log.get_by_test_id("delivery-row").first
    await log.locator('[data-testid="delivery-row"][data-state="succeeded"]').wait_for(
        timeout=15_000
    )
    assert await row.get_by_test_id("delivery-state").inner_text() == "Delivered"
    assert "HTTP 200" in await row.inner_text()
    assert await row.get_by_test_id("delivery-attempt").inner_text() == "1"
    assert (await row.get_by_test_id("delivery-latency").inner_text()).endswith(" ms")
    deliveries = await _get(platform, business, f"/api/v1/webhooks/{listed['id']}/deliveries")
    [delivery] = deliveries["items"]
    assert await row.get_attribute("data-delivery-id") == delivery["id"]
    assert f"msg_{uuid.UUID(delivery['id']).hex}" == headers["webhook-id"]

    # Redeliver: sent again, the same webhook-id, still verifiable.
    await row.get_by_test_id("redeliver").click()
    await eventually(lambda: _count(receiver, 2), 20)
    again_headers, again_body = receiver.hits[1]
    assert again_headers["webhook-id"] == headers["webhook-id"]
    assert verify(secret, again_headers, again_body)["type"] == "webhook.test"

    # Rotate with a one-hour overlap: a new secret shown once; both secrets sign meanwhile.
    await endpoint.get_by_test_id("rotate-overlap").select_option("3600")
    await endpoint.get_by_test_id("endpoint-rotate").click()
    panel = page.get_by_test_id("webhook-secret-panel")
    await panel.get_by_text("The new signing secret").wait_for()
    rotated = await page.get_by_test_id("webhook-secret").inner_text()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    await endpoint.get_by_test_id("overlap-note").wait_for()
    await page.get_by_test_id("secret-done").click()
    assert await panel.count() == 0
    await endpoint.get_by_test_id("endpoint-test").click()
    await eventually(lambda: _count(receiver, 3), 20)
    third_headers, third_body = receiver.hits[2]
    assert len(third_headers["webhook-signature"].split(" ")) == 2
    verify(rotated, third_headers, third_body)
    verify(secret, third_headers, third_body)
    # Two rows (a redelivery reuses its row), both delivered.
    await log.locator('[data-testid="delivery-row"][data-state="succeeded"]').nth(1).wait_for()
    # No secret on the screenshot: it was dismissed above.
    await page.screenshot(path=str(shots / "integrations-en.png"), full_page=True)

    # Disable and enable again.
    await endpoint.get_by_test_id("endpoint-toggle").click()
    await endpoint.get_by_test_id("endpoint-status").filter(has_text="Disabled").wait_for()
    assert await endpoint.get_by_test_id("endpoint-test").is_disabled()
    await endpoint.get_by_test_id("endpoint-toggle").click()
    await endpoint.get_by_test_id("endpoint-status").filter(has_text="Enabled").wait_for()

    # An endpoint the platform disabled for failing: the banner says why.
    reason = "failing: the last 10 messages all failed since 2026-12-01T08:00:00+00:00"
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2"
                " WHERE id = $1",
                uuid.UUID(listed["id"]), reason,
            )  # fmt: skip
    finally:
        await pool.close()
    await page.reload()
    banner = endpoint.get_by_test_id("disabled-banner")
    await banner.wait_for()
    assert "kept failing" in await banner.inner_text()
    assert await banner.get_by_test_id("disabled-reason").inner_text() == reason
    await endpoint.get_by_test_id("endpoint-toggle").click()
    await banner.wait_for(state="detached")

    # Arabic: mirrored, the same controls.
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="التكاملات", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await endpoint.get_by_test_id("endpoint-log").click()
    await endpoint.get_by_test_id("delivery-row").first.wait_for()
    head = await page.get_by_role("heading", name="التكاملات", exact=True).bounding_box()
    status = await endpoint.get_by_test_id("endpoint-status").bounding_box()
    url = await endpoint.get_by_test_id("endpoint-url").bounding_box()
    assert head is not None
    assert status is not None
    assert url is not None
    assert url["x"] > status["x"]  # the URL starts on the right, its status on the left
    await page.screenshot(path=str(shots / "integrations-ar.png"), full_page=True)
    assert refused == []

    # Delete, after a confirmation.
    await page.get_by_test_id("language-switch").click()
    await endpoint.get_by_test_id("endpoint-delete").click()
    await endpoint.get_by_test_id("endpoint-delete-confirm").click()
    await page.get_by_test_id("no-endpoints").wait_for()
    assert (await _get(platform, business, "/api/v1/webhooks"))["items"] == []

    # An agent has no Integrations entry (and the page says the role may not).
    agent_email, _ = await team_member(platform, business, "agent")
    agent_page = await (await new_context()).new_page()
    await sign_in(agent_page, platform, agent_email)
    await agent_page.get_by_role("link", name="Analytics", exact=True).wait_for()
    assert await agent_page.get_by_role("link", name="Integrations").count() == 0
    await agent_page.goto(f"{platform.base}/app/integrations")
    await agent_page.get_by_text("Your role does not allow this.").wait_for()


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.hits) >= n


async def _disable_for_failing(platform: Platform, business: Business, endpoint_id: str) -> str:
    """What the delivery worker does after repeated failures (its own tests cover when)."""
    reason = "failing: the last 10 messages all failed since 2026-12-01T08:00:00+00:00"
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2,"
                " exhausted_in_row = 10 WHERE id = $1",
                uuid.UUID(endpoint_id), reason,
            )  # fmt: skip
    finally:
        await pool.close()
    return reason


async def test_edit_endpoint_url_events_refused_url_and_enable_again(
    platform: Platform, business: Business, receiver: Receiver, new_context: Any
) -> None:
    async with platform.session.post(
        f"{platform.base}/api/v1/webhooks",
        json={"url": receiver.url, "description": "Our CRM", "event_types": ["message.received"]},
        headers=business.headers,
    ) as response:
        created = await json_of(response, 201)
    saved = {key: value for key, value in created.items() if key != "secret"}
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.goto(f"{platform.base}/app/integrations")
    card = page.get_by_role("article", name=receiver.url)
    await card.wait_for()

    # The form opens pre-filled with the endpoint's settings, the keyboard on its URL.
    await card.get_by_role("button", name="Edit", exact=True).click()
    form = card.get_by_role("form", name="Edit endpoint")
    url = form.get_by_label("URL")
    assert await url.input_value() == receiver.url
    assert await url.evaluate("input => input === document.activeElement")
    assert await form.get_by_label("Description").input_value() == "Our CRM"
    assert await form.get_by_label("Message received").is_checked()
    assert not await form.get_by_label("Lead captured").is_checked()
    assert await form.get_by_label("Enabled").is_checked()

    # A URL the API refuses (the cloud metadata address): its reason beside the field, the form
    # still open, nothing changed.
    await url.fill("http://169.254.169.254/latest/meta-data/")
    await form.get_by_label("Lead captured").check()
    await form.get_by_role("button", name="Save", exact=True).click()
    problem = form.get_by_test_id("edit-url-error")
    await problem.wait_for()
    assert "This URL cannot be used:" in await problem.inner_text()
    assert "not public" in await problem.inner_text()
    assert await url.get_attribute("aria-invalid") == "true"
    assert await url.get_attribute("aria-describedby") == await problem.get_attribute("id")
    assert await form.get_by_role("alert").count() == 1  # beside the field, not twice
    assert await _get(platform, business, f"/api/v1/webhooks/{created['id']}") == saved

    # Cancel leaves the endpoint as it was; opened again, the form shows the saved settings.
    await form.get_by_role("button", name="Cancel", exact=True).click()
    await form.wait_for(state="detached")
    assert await card.get_by_test_id("endpoint-url").inner_text() == receiver.url
    await card.get_by_role("button", name="Edit", exact=True).click()
    assert await url.input_value() == receiver.url
    assert not await form.get_by_label("Lead captured").is_checked()
    assert await url.get_attribute("aria-invalid") == "false"

    # Save a new URL, description and event types: the list shows them, and so does the API.
    edited = receiver.url + "/edited"
    await url.fill(edited)
    await form.get_by_label("Description").fill("Our CRM, second receiver")
    await form.get_by_label("Lead captured").check()
    await form.get_by_label("Message received").uncheck()
    await form.get_by_role("button", name="Save", exact=True).click()
    await form.wait_for(state="detached")
    card = page.get_by_role("article", name=edited)
    await card.get_by_test_id("endpoint-saved").wait_for()
    assert await card.get_by_test_id("endpoint-url").inner_text() == edited
    assert await card.get_by_test_id("endpoint-event-types").inner_text() == "Lead captured"
    assert await card.get_by_text("Our CRM, second receiver").count() == 1
    assert await page.evaluate("document.activeElement.dataset.testid") == "endpoint-edit"
    [listed] = (await _get(platform, business, "/api/v1/webhooks"))["items"]
    assert listed["id"] == created["id"]
    assert listed["url"] == edited
    assert listed["description"] == "Our CRM, second receiver"
    assert listed["event_types"] == ["lead.captured"]
    assert listed["enabled"] is True

    # The next delivery goes to the new URL; a reload shows what was saved.
    await card.get_by_test_id("endpoint-test").click()
    await eventually(lambda: _count(receiver, 1), 20)
    assert receiver.paths == ["/crm/edited"]
    await page.reload()
    assert await card.get_by_test_id("endpoint-url").inner_text() == edited

    # An endpoint the platform disabled for failing is enabled again from the form: the banner
    # goes, the API shows it enabled with no reason.
    reason = await _disable_for_failing(platform, business, created["id"])
    await page.reload()
    banner = card.get_by_test_id("disabled-banner")
    await banner.wait_for()
    assert await banner.get_by_test_id("disabled-reason").inner_text() == reason
    await card.get_by_role("button", name="Edit", exact=True).click()
    form = card.get_by_role("form", name="Edit endpoint")
    enabled = form.get_by_label("Enabled")
    assert not await enabled.is_checked()
    await enabled.check()
    await form.get_by_text("clears its failure count").wait_for()
    await form.get_by_role("button", name="Save", exact=True).click()
    await banner.wait_for(state="detached")
    await card.get_by_test_id("endpoint-status").filter(has_text="Enabled").wait_for()
    again = await _get(platform, business, f"/api/v1/webhooks/{created['id']}")
    assert again["enabled"] is True
    assert again["disabled_reason"] is None
    assert again["url"] == edited

    # Arabic: the same form, mirrored, the URL still left to right.
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="التكاملات", exact=True).wait_for()
    await card.get_by_role("button", name="تعديل", exact=True).click()
    arabic = card.get_by_role("form", name="تعديل نقطة الاستقبال")
    await arabic.wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await arabic.get_by_label("الرابط").get_attribute("dir") == "ltr"
    await arabic.get_by_role("button", name="إلغاء", exact=True).click()
    await arabic.wait_for(state="detached")

    # The create form shares the fields: a refused URL is explained beside it, nothing created.
    await page.get_by_test_id("language-switch").click()
    create = page.get_by_role("form", name="New endpoint")
    await create.get_by_label("URL").fill("http://10.0.0.1/hooks")
    await create.get_by_label("Message received").check()
    await create.get_by_role("button", name="Create endpoint").click()
    refused = create.get_by_test_id("webhook-url-error")
    await refused.wait_for()
    assert "not public" in await refused.inner_text()
    assert len((await _get(platform, business, "/api/v1/webhooks"))["items"]) == 1
