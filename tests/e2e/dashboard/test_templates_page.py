"""Templates: the live WhatsApp-style preview, a template submitted and approved by the
simulator, a rejected one with Meta's reason, delete; the page in Arabic; an Authentication
template (preset text, expiry, copy-code button) approved, then used for the owner companion's
code. Screenshots templates-en/templates-ar (to docs/screenshots/ with
MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from majlis.testing.dashboard_e2e import Business, Platform, eventually, sign_in

ROOT = Path(__file__).resolve().parents[3]


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _create(page: Any, name: str, *, footer: str = "", button: str = "") -> None:
    await page.get_by_test_id("template-name").fill(name)
    await page.get_by_test_id("template-header").fill("Order update")
    await page.get_by_test_id("template-body").fill(
        "Hello {{1}}, your order {{2}} is ready for pick-up."
    )
    await page.get_by_test_id("template-example-1").fill("Mariam")
    await page.get_by_test_id("template-example-2").fill("A-1001")
    if footer:
        await page.get_by_test_id("template-footer").fill(footer)
    if button:
        await page.get_by_test_id("template-add-button").click()
        await page.get_by_test_id("template-button-0").fill(button)


async def test_create_preview_approve_reject_and_delete(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Templates", exact=True).click()
    await page.get_by_role("heading", name="Templates", exact=True).wait_for()

    good = f"order_ready_{uuid.uuid4().hex[:6]}"
    await _create(page, good, footer="Dana Perfumes", button="Thanks!")
    preview = page.get_by_test_id("template-preview")
    text = await preview.inner_text()
    assert "Hello Mariam, your order A-1001 is ready for pick-up." in text
    assert "Order update" in text
    assert "Dana Perfumes" in text
    assert "Thanks!" in text
    await page.screenshot(path=str(shots / "templates-en.png"))
    await page.get_by_test_id("template-submit").click()
    row = page.get_by_test_id("template-row").filter(has_text=good)
    await row.wait_for()
    status = row.get_by_test_id("template-status")
    await status.filter(has_text="Approved").wait_for(timeout=20_000)

    # A template the simulator's review refuses shows Meta's reason.
    bad = f"reject_me_{uuid.uuid4().hex[:6]}"
    await _create(page, bad)
    await page.get_by_test_id("template-submit").click()
    refused = page.get_by_test_id("template-row").filter(has_text=bad)
    await (
        refused.get_by_test_id("template-status")
        .filter(has_text="Rejected")
        .wait_for(timeout=20_000)
    )
    assert (await refused.get_by_test_id("template-reason").inner_text()).startswith("Reason: ")

    page.on("dialog", lambda dialog: dialog.accept())
    await refused.get_by_test_id("template-delete").click()
    await refused.wait_for(state="detached")

    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="القوالب", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await row.get_by_test_id("template-status").filter(has_text="معتمد").wait_for()
    await _create(page, f"eid_offer_{uuid.uuid4().hex[:6]}", footer="عطور دانة")
    await page.get_by_test_id("template-body").fill("مرحبا {{1}}، طلبك {{2}} جاهز للاستلام.")
    assert "مرحبا Mariam، طلبك A-1001 جاهز للاستلام." in await preview.inner_text()
    await page.screenshot(path=str(shots / "templates-ar.png"))


async def test_authentication_template_then_the_companion_code_goes_with_it(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Templates", exact=True).click()
    await page.get_by_role("heading", name="Templates", exact=True).wait_for()
    name = f"login_code_{uuid.uuid4().hex[:6]}"
    await page.get_by_test_id("template-name").fill(name)
    await page.get_by_label("Category").select_option("AUTHENTICATION")
    await page.get_by_test_id("template-auth-hint").wait_for()
    assert await page.get_by_test_id("template-body").count() == 0  # Meta writes the text
    await page.get_by_test_id("template-auth-expiry").fill("5")
    text = await page.get_by_test_id("template-preview").inner_text()
    assert "123456 is your verification code. For your security, do not share this code." in text
    assert "This code expires in 5 minutes." in text
    assert "Copy code" in text
    await page.get_by_test_id("template-submit").click()
    row = page.get_by_test_id("template-row").filter(has_text=name)
    await row.get_by_test_id("template-status").filter(has_text="Approved").wait_for(timeout=20_000)

    # The owner companion's code now goes with it, to a number that never wrote to the business.
    await page.goto(f"{platform.base}/app/ai")
    await page.get_by_test_id("companion-phone").fill("+971 50 111 2233")
    await page.get_by_test_id("companion-register").click()
    shown = await page.get_by_test_id("companion-delivery-template").inner_text()
    assert name in shown

    async def sent() -> list[dict[str, Any]]:
        async with platform.session.get(
            f"{platform.sim}/_sim/sent", params={"phone_number_id": business.phone_number_id}
        ) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
        return [m for m in data if m["wa_id"] == "971501112233"]

    async def arrived() -> bool:
        return bool(await sent())

    await eventually(arrived)
    [message] = await sent()
    assert (message["type"], message["payload"]["template"]["name"]) == ("template", name)
