"""Leads: captured by a real flow (ai_lead_capture, the built-in extractor), shown on the
pipeline board; a card dragged to the next stage and moved on with its button (each a PATCH);
the table; the detail opens the conversation the lead came from; Arabic. Screenshots
leads-en/leads-ar (to docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    customer_writes,
    eventually,
    json_of,
    sign_in,
)

ROOT = Path(__file__).resolve().parents[3]
LEAD_FLOW = {
    "start": "lead",
    "nodes": [
        {"id": "lead", "type": "ai_lead_capture"},
        {"id": "thanks", "type": "send_text", "text": "Thank you, we will be in touch."},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "lead", "to": "thanks"}, {"from": "thanks", "to": "done"}],
}


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _leads(platform: Platform, business: Business) -> list[dict[str, Any]]:
    async with platform.session.get(
        f"{platform.base}/api/v1/leads", headers=business.headers
    ) as response:
        items: list[dict[str, Any]] = (await json_of(response, 200))["items"]
    return items


async def test_board_moves_table_and_the_conversation_behind_a_lead(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    triggers = [{"type": "keyword", "match": "contains", "value": "interested"}]
    body = {"name": "Leads", "triggers": triggers, "document": LEAD_FLOW}
    async with platform.session.post(
        f"{platform.base}/api/v1/flows", json=body, headers=business.headers
    ) as response:
        flow = await json_of(response, 201)
    async with platform.session.post(
        f"{platform.base}/api/v1/flows/{flow['id']}/publish", headers=business.headers
    ) as response:
        await json_of(response, 201)
    await customer_writes(
        platform, business,
        "I am interested in the oud gift box, my email is sara@example.com, budget 5000 AED",
        "+971501110001",
    )  # fmt: skip
    await customer_writes(
        platform, business, "interested in wholesale, omar@example.com", "+971501110002"
    )

    async def captured() -> bool:
        return len(await _leads(platform, business)) == 2

    await eventually(captured, 20)

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Leads", exact=True).click()
    board = page.get_by_test_id("leads-board")
    new_column = board.get_by_test_id("stage-new")
    await new_column.get_by_test_id("lead-card").nth(1).wait_for()
    sara = new_column.get_by_test_id("lead-card").filter(has_text="sara@example.com")
    # Drag the card to the next column: one PATCH to `qualified`.
    await sara.drag_to(board.get_by_test_id("stage-qualified"))
    moved = board.get_by_test_id("stage-qualified").get_by_test_id("lead-card")
    await moved.filter(has_text="sara@example.com").wait_for()

    async def qualified() -> bool:
        stages = {lead["email"]: lead["stage"] for lead in await _leads(platform, business)}
        return bool(stages["sara@example.com"] == "qualified")

    await eventually(qualified)
    await moved.get_by_test_id("move-won").click()
    await board.get_by_test_id("stage-won").get_by_test_id("lead-card").wait_for()
    stages = {lead["email"]: lead["stage"] for lead in await _leads(platform, business)}
    assert stages == {"sara@example.com": "won", "omar@example.com": "new"}

    await board.get_by_test_id("stage-won").get_by_role("button", name="sara@example.com").click()
    detail = page.get_by_test_id("lead-detail")
    await detail.wait_for()
    assert "5,000 AED" in await detail.inner_text()
    await page.screenshot(path=str(shots / "leads-en.png"))
    await page.get_by_test_id("leads-table-view").click()
    await page.get_by_test_id("leads-table").get_by_text("omar@example.com").first.wait_for()

    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="العملاء المحتملون", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await page.get_by_role("button", name="مسار المبيعات").click()
    columns = [await page.get_by_test_id(f"stage-{s}").bounding_box() for s in ("new", "qualified")]
    assert columns[0] is not None
    assert columns[1] is not None
    assert columns[0]["x"] > columns[1]["x"]  # the pipeline reads right to left
    await page.screenshot(path=str(shots / "leads-ar.png"))

    await page.get_by_test_id("lead-conversation").click()
    await page.wait_for_url("**/app/inbox/*")
    await page.get_by_text("I am interested in the oud gift box").first.wait_for()
