"""Arabic mirrors the layout (dir="rtl", the navigation on the right) and is remembered;
screenshots of the main screens in both languages (written to docs/screenshots/ when
MAJLIS_UPDATE_SCREENSHOTS=1, else to a temporary folder)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from playwright.async_api import TimeoutError as PlaywrightTimeout

from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    customer_writes,
    json_of,
    sign_in,
    team_member,
)

ROOT = Path(__file__).resolve().parents[3]


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _box(page: Any, selector: str) -> dict[str, float]:
    box = await page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return dict(box)


async def _some_data(platform: Platform, business: Business) -> None:
    """Contacts, a teammate and a pending invitation, so every screen has something to show."""
    for phone, name, tags in (
        ("+971501230001", "Aisha Rahman", ["vip", "perfume"]),
        ("+971501230002", "عمر الحداد", ["wholesale"]),
        ("+971501230003", "Fatima Al Zaabi", []),
    ):
        async with platform.session.post(
            f"{platform.base}/api/v1/contacts",
            json={"phone": phone, "name": name, "tags": tags},
            headers=business.headers,
        ) as response:
            await json_of(response, 201)
    await team_member(platform, business, "agent")
    async with platform.session.post(
        f"{platform.base}/api/v1/team/invites",
        json={"email": "new.agent@example.test", "role": "viewer"},
        headers=business.headers,
    ) as response:
        await json_of(response, 201)


async def _settled(page: Any, text: str, live: str) -> None:
    """The screen's data is there and, best effort, the live badge (for the screenshot only:
    the live updates themselves are asserted in test_inbox_live)."""
    await page.get_by_text(text, exact=False).first.wait_for()
    with contextlib.suppress(PlaywrightTimeout):
        await page.locator(".badge-live", has_text=live).wait_for(timeout=15_000)


async def test_arabic_is_right_to_left_remembered_and_both_languages_are_shown(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    await _some_data(platform, business)
    await customer_writes(platform, business, "مرحبا، هل العطر متوفر بحجم 100 مل؟")
    await customer_writes(platform, business, "Do you deliver to Sharjah?", "+971502223344")
    page = await (await new_context(timezone_id="Asia/Dubai")).new_page()
    await page.goto(f"{platform.base}/app/signin")
    await page.screenshot(path=str(shots / "signin-en.png"))
    await sign_in(page, platform, business.email)
    item = page.get_by_test_id("conversation-item").first
    await item.wait_for()
    await page.get_by_test_id("conversation-item").nth(1).wait_for()
    await item.click()
    await page.get_by_test_id("take-over").click()
    await page.get_by_placeholder("Type a reply").fill("Yes, 100 ml is in stock.")
    await page.get_by_placeholder("Type a reply").press("Enter")
    await page.get_by_test_id("ticks").first.wait_for()
    await page.get_by_test_id("note-tab").click()
    await page.get_by_placeholder("Write a note").fill("Prefers Arabic; VIP.")
    await page.get_by_role("button", name="Send").click()
    await page.get_by_test_id("note").first.wait_for()
    assert await page.evaluate("document.documentElement.dir") == "ltr"
    en_nav, en_main = await _box(page, "nav.sidebar"), await _box(page, "main")
    assert en_nav["x"] < en_main["x"]
    with contextlib.suppress(PlaywrightTimeout):
        await page.locator(".badge-live").wait_for(timeout=15_000)
    await page.screenshot(path=str(shots / "inbox-en.png"))

    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="المحادثات").wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await page.evaluate("document.documentElement.lang") == "ar"
    # Mirrored: the navigation now sits to the right of the content.
    ar_nav, ar_main = await _box(page, "nav.sidebar"), await _box(page, "main")
    assert ar_nav["x"] > ar_main["x"]
    rtl = await page.screenshot(path=str(shots / "inbox-ar.png"))
    assert len(rtl) > 10_000
    # Remembered across a reload (only the preference is stored).
    await page.reload()
    await page.get_by_role("heading", name="المحادثات").wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"

    for language, live, names in (
        ("ar", "متصل", ("جهات الاتصال", "الفريق", "الإعدادات")),
        ("en", "Live", ("Contacts", "Team", "Settings")),
    ):
        for (path, seen), heading in zip(
            (
                ("contacts", "Aisha Rahman"),
                ("team", "Khalid Agent"),
                ("settings", "+971 4 555 0100"),
            ),
            names,
            strict=True,
        ):
            await page.get_by_role("link", name=heading, exact=True).click()
            await page.get_by_role("heading", name=heading, exact=True).wait_for()
            await _settled(page, seen, live)
            await page.screenshot(path=str(shots / f"{path}-{language}.png"))
        if language == "ar":
            await page.get_by_test_id("language-switch").click()
    # The owner sees the plan's limits and how much of each the business uses.
    limits = page.get_by_test_id("plan-limits")
    await limits.get_by_text("WhatsApp numbers").wait_for()
    assert " of 2" in await limits.inner_text()  # Starter: two numbers
    # A phone-sized screen shows one pane at a time: the list, then the conversation.
    await page.set_viewport_size({"width": 390, "height": 780})
    await page.get_by_role("link", name="Inbox").click()
    await page.get_by_test_id("conversation-item").first.wait_for()
    assert await page.locator(".conversation").is_hidden()
    await page.screenshot(path=str(shots / "phone-list-en.png"))
    await page.get_by_test_id("conversation-item").first.click()
    await page.get_by_test_id("messages").wait_for()
    assert await page.locator(".conversation-list").is_hidden()
    await page.screenshot(path=str(shots / "phone-conversation-en.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="تسجيل الدخول إلى مجلس").wait_for()
    await page.screenshot(path=str(shots / "signin-ar.png"))
