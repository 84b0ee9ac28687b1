"""Outside the 24-hour window the composer turns into a template picker with a banner; the
template (created and approved through the API and the simulator) is sent with its fields."""

from __future__ import annotations

import uuid
from typing import Any

from majlis.db import create_pool, tenant_transaction
from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    customer_writes,
    eventually,
    json_of,
    sign_in,
)


async def _approved_template(platform: Platform, business: Business) -> str:
    name = f"order_ready_{uuid.uuid4().hex[:6]}"
    async with platform.session.post(
        f"{platform.base}/api/v1/templates",
        json={
            "number_id": business.number_id,
            "name": name,
            "category": "UTILITY",
            "language": "en",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hello {{1}}, your order {{2}} is ready for pick-up.",
                    "example": {"body_text": [["Mariam", "A-1001"]]},
                }
            ],
        },
        headers=business.headers,
    ) as response:
        await json_of(response, 201)

    async def approved() -> bool:
        async with platform.session.get(
            f"{platform.base}/api/v1/templates",
            params={"status": "APPROVED"},
            headers=business.headers,
        ) as response:
            return name in {t["name"] for t in (await json_of(response, 200))["items"]}

    await eventually(approved, 20)
    return name


async def test_a_closed_window_offers_templates_with_their_parameters(
    platform: Platform, business: Business, new_context: Any
) -> None:
    name = await _approved_template(platform, business)
    await customer_writes(platform, business, "Is my order ready?")
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:

        async def stored() -> bool:
            async with tenant_transaction(pool, business.tenant_id) as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM conversations"))

        await eventually(stored)
        # The customer wrote two days ago: WhatsApp would only deliver a template now.
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE conversations SET last_customer_message_at = now() - interval '2 days'"
            )
    finally:
        await pool.close()

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_test_id("conversation-item").first.click()
    await page.get_by_test_id("take-over").click()
    banner = page.get_by_test_id("window-closed")
    await banner.wait_for()
    assert "24-hour window is closed" in await banner.inner_text()
    assert await page.get_by_placeholder("Type a reply").count() == 0
    picker = page.get_by_test_id("template-picker")
    await picker.get_by_label("Templates").select_option(label=f"{name} · en")
    await picker.get_by_text("Hello {{1}}, your order {{2}} is ready").wait_for()
    await picker.get_by_label("Parameter 1").fill("Mariam")
    await picker.get_by_label("Parameter 2").fill("A-2042")
    await picker.get_by_role("button", name="Send template").click()
    sent = page.get_by_test_id("message").filter(has_text=f"Template: {name}")
    await sent.wait_for()
    ticks = sent.get_by_test_id("ticks")

    async def delivered() -> bool:
        return await ticks.get_attribute("data-status") in ("sent", "delivered", "read")

    await eventually(delivered, 20)


async def test_an_open_window_counts_down_and_closes_on_the_open_page(
    platform: Platform, business: Business, new_context: Any
) -> None:
    """The composer says how long free-form replies remain; when the window closes while the
    page is open, the composer turns into the template picker without a reload."""
    await customer_writes(platform, business, "Can I still change my order?")
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    item = page.get_by_test_id("conversation-item").first
    await item.click()
    await page.get_by_test_id("take-over").click()
    left = page.get_by_test_id("window-left")
    await left.wait_for()
    # Just written: 23 h 59 min (or 23 h 58 min, should a minute have turned meanwhile).
    said = await left.inner_text()
    assert said.startswith("Free-form replies for 23 h 5"), said
    assert "soon" not in (await left.get_attribute("class") or "")
    assert await page.get_by_placeholder("Type a reply").count() == 1

    # The customer's message is now 23 h 59 min 52 s old: eight seconds of window remain.
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE conversations SET last_customer_message_at ="
                " now() - interval '23 hours 59 minutes 52 seconds'"
            )
    finally:
        await pool.close()
    await page.reload()
    await item.click()
    await left.wait_for()
    assert await left.inner_text() == (
        "Free-form replies for less than a minute more; after that, templates only."
    )
    assert "soon" in (await left.get_attribute("class") or "")
    banner = page.get_by_test_id("window-closed")
    await banner.wait_for(timeout=20_000)  # closed on the open page: no reload
    assert await page.get_by_placeholder("Type a reply").count() == 0
    assert await left.count() == 0
    # This business has no approved template yet: the composer says so instead of a picker.
    await page.get_by_text("No approved templates").wait_for()
