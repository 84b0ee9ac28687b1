"""The audit log page: a Starter tenant sees what the Business plan gives; on Business, entries
with filters and detail, the CSV export and "verify chain" with its result; Arabic.
Screenshots audit-en/audit-ar (to docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from majlis.db import create_pool, tenant_transaction
from majlis.testing.dashboard_e2e import Business, Platform, eventually, json_of, sign_in

ROOT = Path(__file__).resolve().parents[3]
FLOW = {
    "start": "hi",
    "nodes": [{"id": "hi", "type": "send_text", "text": "Hi"}, {"id": "done", "type": "end"}],
    "edges": [{"from": "hi", "to": "done"}],
}


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def test_starter_sees_what_business_gives(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Audit log", exact=True).click()
    upsell = page.get_by_test_id("audit-upsell")
    await upsell.wait_for()
    assert "Business plan" in await upsell.inner_text()
    assert await page.get_by_test_id("audit-verify").count() == 0


async def test_business_filters_detail_export_and_verify(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE tenants SET plan = 'business' WHERE id = $1", business.tenant_id
            )
    finally:
        await pool.close()
    for name in ("Welcome", "Opening hours"):
        async with platform.session.post(
            f"{platform.base}/api/v1/flows",
            json={"name": name, "document": FLOW},
            headers=business.headers,
        ) as response:
            await json_of(response, 201)

    async def recorded() -> bool:
        async with platform.session.get(
            f"{platform.base}/api/v1/audit/events",
            params={"action": "flows.created"},
            headers=business.headers,
        ) as response:
            return len((await json_of(response, 200))["items"]) == 2

    await eventually(recorded, 20)

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Audit log", exact=True).click()
    await page.get_by_test_id("audit-row").first.wait_for()
    await page.get_by_test_id("audit-filter-action").fill("flows.created")
    await page.get_by_test_id("audit-apply").click()

    async def filtered() -> bool:
        rows = await page.get_by_test_id("audit-row").all_inner_texts()
        return len(rows) == 2 and all("flows.created" in row for row in rows)

    await eventually(filtered)
    await page.get_by_test_id("audit-row").first.get_by_role("button").click()
    detail = page.get_by_test_id("audit-detail")
    await detail.wait_for()
    assert "Opening hours" in await detail.inner_text()  # the newest first, its name in details

    async with page.expect_download() as download_info:
        await page.get_by_test_id("audit-export").click()
    download = await download_info.value
    assert download.suggested_filename == "audit-log.csv"
    saved = Path(await download.path())
    csv_text = await asyncio.to_thread(saved.read_text, encoding="utf-8")
    assert csv_text.startswith("seq,")
    assert csv_text.count("flows.created") == 2

    await page.get_by_test_id("audit-verify").click()
    verdict = page.get_by_test_id("audit-verdict")
    await verdict.wait_for()
    assert "The chain is intact" in await verdict.inner_text()
    await page.screenshot(path=str(shots / "audit-en.png"))

    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="سجل التدقيق", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await page.get_by_test_id("audit-verify").click()
    await page.get_by_test_id("audit-verdict").get_by_text("السلسلة سليمة").wait_for()
    await page.screenshot(path=str(shots / "audit-ar.png"))
