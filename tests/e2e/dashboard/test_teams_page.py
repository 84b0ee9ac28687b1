"""Teams on the Team page: an owner creates a team and adds a member, hands a conversation to
the team from the conversation's header, and filters the inbox by the team; the page in
Arabic mirrors. Screenshots teams-en/teams-ar (to docs/screenshots/ with
MAJLIS_UPDATE_SCREENSHOTS=1). And an owner assigns and resolves several conversations at once,
picked in the list."""

from __future__ import annotations

import asyncio
import csv
import io
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
    team_member,
)

ROOT = Path(__file__).resolve().parents[3]


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _conversations(platform: Platform, business: Business, query: str) -> list[Any]:
    async with platform.session.get(
        f"{platform.base}/api/v1/conversations?{query}", headers=business.headers
    ) as response:
        items: list[Any] = (await json_of(response, 200))["items"]
    return items


async def test_create_a_team_add_a_member_and_filter_the_inbox_by_it(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    _, agent_name = await team_member(platform, business, "agent")
    await customer_writes(platform, business, "Do you deliver to Sharjah?", "+971501110011")
    await customer_writes(platform, business, "What does the oud box cost?", "+971501110012")

    async def both_stored() -> bool:
        return len(await _conversations(platform, business, "status=all")) == 2

    await eventually(both_stored, 20)

    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Team", exact=True).click()
    section = page.get_by_test_id("teams-section")
    await section.get_by_text("No teams yet.").wait_for()
    await section.get_by_test_id("new-team-name").fill("Sales")
    await section.get_by_label("Description").first.fill("Prices and orders")
    await section.get_by_role("button", name="Create team").click()
    card = section.locator('[data-testid=team-card][aria-label="Sales"]')
    await card.wait_for()
    assert await card.get_by_test_id("team-name").input_value() == "Sales"
    await card.get_by_test_id("member-pick").select_option(label=agent_name)
    await card.get_by_role("button", name="Add member").click()
    await card.get_by_test_id("team-member").filter(has_text=agent_name).wait_for()
    await page.screenshot(path=str(shots / "teams-en.png"))

    async with platform.session.get(
        f"{platform.base}/api/v1/teams", headers=business.headers
    ) as response:
        [team] = (await json_of(response, 200))["items"]
    assert (team["name"], len(team["member_ids"])) == ("Sales", 1)

    # Hand one conversation to the team from its header.
    await page.get_by_role("link", name="Inbox", exact=True).click()
    items = page.get_by_test_id("conversation-item")
    await items.nth(1).wait_for()
    await items.first.click()
    await page.wait_for_url("**/app/inbox/*")
    chosen = page.url.rsplit("/", 1)[-1]
    await page.get_by_test_id("conversation-team").select_option(label="Sales")

    async def handed() -> bool:
        found = await _conversations(platform, business, f"team={team['id']}")
        return [c["id"] for c in found] == [chosen]

    await eventually(handed)

    # The list filtered by the team shows that conversation only, with its team.
    await page.get_by_test_id("team-filter").select_option(label="Sales")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=conversation-item]').length === 1"
    )
    assert (await items.first.get_attribute("href") or "").endswith(f"/inbox/{chosen}")
    assert await items.first.get_by_test_id("item-team").inner_text() == "Sales"
    await page.get_by_test_id("team-filter").select_option(label="Any team")
    await items.nth(1).wait_for()

    # Arabic: the page mirrors and the team section is translated.
    await page.get_by_role("link", name="Team", exact=True).click()
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="الفرق", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await section.get_by_role("button", name="إنشاء فريق").wait_for()
    await page.screenshot(path=str(shots / "teams-ar.png"))


async def test_pick_conversations_in_the_list_then_assign_and_resolve_them_at_once(
    platform: Platform, business: Business, new_context: Any
) -> None:
    _, agent = await team_member(platform, business, "agent")
    phones = ["+971501112201", "+971501112202", "+971501112203"]
    for n, phone in enumerate(phones):
        await customer_writes(platform, business, f"Question {n}", phone=phone)

    async def all_three() -> bool:
        return len(await _conversations(platform, business, "status=all")) == 3

    await eventually(all_three)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    items = page.get_by_test_id("conversation-item")
    await items.nth(2).wait_for()
    picks = page.get_by_test_id("pick")
    bar = page.get_by_test_id("bulk-bar")
    await picks.nth(2).check()
    await bar.get_by_role("button", name="Select all 3 shown").click()
    await bar.get_by_text("Conversations selected: 3").wait_for()
    await bar.get_by_role("button", name="Clear the selection").click()
    await bar.wait_for(state="detached")
    assert [await pick.is_checked() for pick in await picks.all()] == [False] * 3

    await picks.nth(0).check()
    await picks.nth(1).check()
    await bar.get_by_text("Conversations selected: 2").wait_for()

    await bar.get_by_label("Assign to…").select_option(label=agent)
    await bar.wait_for(state="detached")  # done: the pick is cleared
    await items.filter(has_text=agent).nth(1).wait_for()
    assert await items.filter(has_text=agent).count() == 2

    await picks.nth(0).check()
    await picks.nth(1).check()
    await bar.get_by_role("button", name="Resolve").click()
    await bar.wait_for(state="detached")

    async def only_the_open_one_listed() -> bool:  # the list shows open ones unless filtered
        return bool(await items.count() == 1)

    await eventually(only_the_open_one_listed)
    listed = await _conversations(platform, business, "status=all")
    resolved = [c for c in listed if c["status"] == "resolved"]
    assert len(resolved) == 2
    assert {c["assigned_user_id"] for c in resolved} != {None}
    assert [c["status"] for c in listed if c not in resolved] == ["open"]  # the third: untouched

    # The owner exports what the filters select: the two resolved ones, one row each.
    await page.get_by_label("Status", exact=True).select_option(value="resolved")
    await items.nth(1).wait_for()
    async with page.expect_download() as download_info:
        await page.get_by_test_id("conversations-export").click()
    download = await download_info.value
    assert download.suggested_filename == "conversations.csv"
    saved = Path(await download.path())
    text = await asyncio.to_thread(saved.read_text, encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert sorted(r["id"] for r in rows) == sorted(c["id"] for c in resolved)
    assert {(r["status"], r["assignee"]) for r in rows} == {("resolved", agent)}
