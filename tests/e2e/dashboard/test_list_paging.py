"""The flows list and the leads board and table load keyset pages of 100 and fetch the next
page on "Load more" (through the APIs' cursors), until nothing is left."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chatflow.leads.model import LeadData
from majlis.crypto import FieldCipher, KeyRing
from majlis.db import create_pool, tenant_transaction
from majlis.settings import Settings
from majlis.testing.dashboard_e2e import Business, Platform, json_of, sign_in

COUNT = 101  # one more than a page
DOCUMENT = {
    "start": "hello",
    "nodes": [{"id": "hello", "type": "send_text", "text": "Hello"}, {"id": "done", "type": "end"}],
    "edges": [{"from": "hello", "to": "done"}],
}


async def test_flows_list_loads_more_than_one_page(
    platform: Platform, business: Business, new_context: Any
) -> None:
    # Starter allows 20 flows; Business 500.
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE tenants SET plan = 'business' WHERE id = $1", business.tenant_id
            )
    finally:
        await pool.close()
    for n in range(COUNT):
        async with platform.session.post(
            f"{platform.base}/api/v1/flows",
            json={"name": f"Flow {n:03}", "document": DOCUMENT},
            headers=business.headers,
        ) as response:
            await json_of(response, 201)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Flows", exact=True).click()
    rows = page.locator("tbody tr")
    await page.get_by_role("link", name="Flow 100", exact=True).wait_for()  # the newest first
    assert await rows.count() == 100
    assert await page.get_by_role("link", name="Flow 000", exact=True).count() == 0
    await page.get_by_test_id("flows-more").click()
    await page.get_by_role("link", name="Flow 000", exact=True).wait_for()
    assert await rows.count() == COUNT
    assert await page.get_by_test_id("flows-more").count() == 0


async def _seed_leads(settings: Settings, platform_database: str, business: Business) -> None:
    """101 leads as the capturer stores them (encrypted for the tenant), a second apart."""
    cipher = FieldCipher(KeyRing.from_settings(settings))
    pool = await create_pool(platform_database, min_size=1, max_size=1)
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            for n in range(COUNT):
                contact_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                    business.tenant_id, contact_id, secrets.token_bytes(32),
                )  # fmt: skip
                data = LeadData(name=f"Lead {n:03}", company="Oud House")
                await conn.execute(
                    "INSERT INTO leads (tenant_id, id, contact_id, source, data_enc, created_at)"
                    " VALUES ($1, $2, $3, 'manual', $4, $5)",
                    business.tenant_id, uuid.uuid4(), contact_id,
                    data.seal(cipher, business.tenant_id), start + timedelta(seconds=n),
                )  # fmt: skip
    finally:
        await pool.close()


async def test_leads_board_and_table_load_more_than_one_page(
    platform: Platform, business: Business, new_context: Any, settings: Settings
) -> None:
    await _seed_leads(settings, platform.env["MAJLIS_DATABASE_URL"], business)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Leads", exact=True).click()
    column = page.get_by_test_id("stage-new")
    await column.get_by_role("button", name="Lead 100", exact=True).wait_for()
    assert await column.get_by_test_id("lead-card").count() == 100
    await page.get_by_test_id("leads-table-view").click()
    table_rows = page.get_by_test_id("leads-table").locator("tbody tr")
    assert await table_rows.count() == 100
    await page.get_by_test_id("leads-more").click()
    await page.get_by_test_id("leads-table").get_by_role("button", name="Lead 000").wait_for()
    assert await table_rows.count() == COUNT
    assert await page.get_by_test_id("leads-more").count() == 0
    await page.get_by_role("button", name="Pipeline", exact=True).click()
    assert await column.get_by_test_id("lead-card").count() == COUNT
