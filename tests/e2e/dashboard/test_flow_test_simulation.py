"""The flow builder's test panel shows what the steps that reach outside would do: the wait's
length, the HTTP request it would make (its credential header masked), and the built-in
answerer's reply; nothing reaches WhatsApp."""

from __future__ import annotations

from typing import Any

from majlis.testing.dashboard_e2e import Business, Platform, json_of, sign_in

FLOW = {
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "seconds": 300},
        {"id": "call", "type": "http_request", "method": "POST",
         "url": "https://crm.example.test/hook?name={{contact.name}}",
         "headers": {"Authorization": "Bearer crm-token-123456"}, "body": "{{last_input}}"},
        {"id": "answer", "type": "ai_answer"},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "pause", "to": "call"},
        {"from": "call", "to": "answer"},
        {"from": "call", "to": "answer", "handle": "error"},
        {"from": "answer", "to": "done"},
    ],
}  # fmt: skip


async def _post(platform: Platform, business: Business, path: str, body: Any) -> Any:
    async with platform.session.post(
        f"{platform.base}{path}", json=body, headers=business.headers
    ) as response:
        return await json_of(response, 201)


async def test_panel_shows_the_wait_the_request_and_the_builtin_answer(
    platform: Platform, business: Business, new_context: Any
) -> None:
    entry = {"questions": ["Do you deliver?"], "answer": {"en": "Yes, across the UAE."}}
    await _post(platform, business, "/api/v1/knowledge/entries", entry)
    flow = await _post(platform, business, "/api/v1/flows", {"name": "Outside", "document": FLOW})
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.goto(f"{platform.base}/app/flows/{flow['id']}")
    await page.get_by_test_id("node-call").wait_for()
    await page.get_by_test_id("tab-test").click()
    await page.get_by_text("The pretend customer").click()
    await page.get_by_test_id("test-contact-name").fill("Sara")
    await page.get_by_test_id("test-input").fill("Do you deliver?")
    await page.get_by_test_id("test-input").press("Enter")
    panel = page.get_by_test_id("test-panel")
    await panel.get_by_text("Yes, across the UAE.").wait_for()
    assert "Would wait 5 min" in await panel.get_by_test_id("test-sim-wait").inner_text()
    http = await panel.get_by_test_id("test-sim-http_request").inner_text()
    assert "POST https://crm.example.test/hook?name=Sara" in http
    assert "Authorization: •••" in http
    assert "crm-token-123456" not in await page.content()
    assert "built-in answerer" in await panel.get_by_test_id("test-sim-ai_answer").inner_text()
    async with platform.session.get(
        f"{platform.sim}/_sim/sent", params={"phone_number_id": business.phone_number_id}
    ) as response:
        assert (await response.json())["data"] == []
