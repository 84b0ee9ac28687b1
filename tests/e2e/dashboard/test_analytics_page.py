"""Analytics: real activity (customers writing through the Graph API simulator, the owner
taking over, replying and resolving, a published flow capturing a lead, a campaign sent to
two contacts), the rollups awaited through the API, then every number the page shows
compared with the API's; the CSP; the number and date filters (an empty range shows empty
states); Arabic with Arabic-Indic digits and the layout mirrored. Screenshots
analytics-en/analytics-ar (to docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import math
import os
import uuid
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
REPORTS = ("volumes", "response-times", "agents", "campaigns", "flows", "leads")
VOLUME_KEYS = (
    "conversations_opened",
    "conversations_resolved",
    "messages_in",
    "messages_out",
    "campaign_messages_out",
)
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


async def _call(
    platform: Platform, business: Business, method: str, path: str, body: Any = None,
    status: int = 200, headers: dict[str, str] | None = None,
) -> Any:  # fmt: skip
    async with platform.session.request(
        method, f"{platform.base}{path}", json=body, headers=business.headers | (headers or {})
    ) as response:
        return await json_of(response, status)


async def _reports(platform: Platform, business: Business) -> dict[str, Any]:
    return {
        name: await _call(platform, business, "GET", f"/api/v1/analytics/{name}")
        for name in REPORTS
    }


def duration(seconds: float | None) -> str:
    """The page's duration format (format.ts rules, English), written independently."""
    if seconds is None:
        return "—"
    s = math.floor(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{math.floor(s / 60 + 0.5)} min"
    return f"{s // 3600} h {math.floor((s % 3600) / 60 + 0.5)} min"


async def _activity(platform: Platform, business: Business) -> None:
    """Two customers write; the owner takes one over, replies and resolves it; a third
    customer runs a published lead-capture flow to its end."""
    flow = await _call(
        platform, business, "POST", "/api/v1/flows",
        {"name": "Leads", "document": LEAD_FLOW,
         "triggers": [{"type": "keyword", "match": "contains", "value": "interested"}]},
        status=201,
    )  # fmt: skip
    await _call(platform, business, "POST", f"/api/v1/flows/{flow['id']}/publish", status=201)
    await customer_writes(platform, business, "Do you deliver to Sharjah?", "+971501230001")
    await customer_writes(platform, business, "Is the musk oil back?", "+971501230002")
    await customer_writes(
        platform, business, "I am interested in oud, sara@example.com", "+971501230003"
    )

    async def three() -> bool:
        page = await _call(platform, business, "GET", "/api/v1/conversations")
        return len(page["items"]) == 3

    await eventually(three, 20)
    items = (await _call(platform, business, "GET", "/api/v1/conversations"))["items"]
    [first] = [c for c in items if c["contact"]["phone"] and c["contact"]["phone"].endswith("0001")]
    base = f"/api/v1/conversations/{first['id']}"
    await _call(platform, business, "POST", f"{base}/takeover", {})
    await asyncio.sleep(1.2)  # a first response time of at least a second
    await _call(
        platform, business, "POST", f"{base}/messages",
        {"type": "text", "text": "Yes, tomorrow morning."}, status=201,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    await _call(platform, business, "POST", f"{base}/status", {"status": "resolved"})


async def _campaign(platform: Platform, business: Business) -> None:
    """An approved template (the simulator's review) sent to two tagged contacts."""
    body = "Hello {{1}}, the new oud collection is in store."
    template = await _call(
        platform, business, "POST", "/api/v1/templates",
        {"number_id": business.number_id, "name": f"oud_{uuid.uuid4().hex[:6]}",
         "category": "MARKETING", "language": "en_US",
         "components": [{"type": "BODY", "text": body, "example": {"body_text": [["Sara"]]}}]},
        status=201,
    )  # fmt: skip

    async def approved() -> bool:
        listed = await _call(platform, business, "GET", "/api/v1/templates")
        return any(t["id"] == template["id"] and t["status"] == "APPROVED" for t in listed["items"])

    await eventually(approved, 20)
    for phone, name in (("+971501239001", "Sara"), ("+971501239002", "Omar")):
        contact = {"phone": phone, "name": name, "tags": ["vip"]}
        await _call(platform, business, "POST", "/api/v1/contacts", contact, status=201)
    campaign = await _call(
        platform, business, "POST", "/api/v1/campaigns",
        {"name": "Oud launch", "number_id": business.number_id, "template_id": template["id"],
         "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
         "audience": {"tags": ["vip"]}},
        status=201,
    )  # fmt: skip
    await _call(platform, business, "POST", f"/api/v1/campaigns/{campaign['id']}/start")


async def test_the_page_shows_the_apis_numbers_filters_and_arabic(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    await _activity(platform, business)
    await _campaign(platform, business)

    last: dict[str, Any] = {}

    async def settled() -> bool:
        nonlocal last
        now = await _reports(platform, business)
        totals = now["volumes"]["totals"]
        flows = now["flows"]["items"]
        done = (
            totals["messages_in"] == 3
            and totals["messages_out"] >= 2
            and totals["conversations_opened"] >= 3
            and totals["campaign_messages_out"] == 2
            and len(now["campaigns"]["items"]) == 1
            and now["campaigns"]["items"][0]["funnel"]["delivered"] == 2
            and totals["conversations_resolved"] == 1
            and now["response-times"]["first_response"]["count"] == 1
            and now["response-times"]["resolution"]["count"] == 1
            and len(now["agents"]["items"]) == 1
            and len(flows) == 1
            and flows[0]["completed"] == 1
            and now["leads"]["total"] == 1
        )
        stable, last = done and now == last, now
        return stable

    await eventually(settled, 40)
    # The simulator reports "read" (to 80 % of recipients) 3 s after a send: past that, the
    # funnel no longer moves. Then the API's answer is what the page must show.
    await asyncio.sleep(4)
    api = await _reports(platform, business)

    page = await (await new_context()).new_page()
    # The gateway's strict CSP (no inline style or script): the charts must need neither.
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Analytics", exact=True).click()
    await page.get_by_role("heading", name="Analytics", exact=True).wait_for()

    async def tile(locator: Any) -> str:
        return str(await locator.get_by_test_id("value").inner_text())

    # Volumes: every total equals the API's.
    totals = api["volumes"]["totals"]
    first_tile = page.get_by_test_id(f"total-{VOLUME_KEYS[0]}")
    await first_tile.get_by_test_id("value").filter(has_text=str(totals[VOLUME_KEYS[0]])).wait_for()
    for key in VOLUME_KEYS:
        assert await tile(page.get_by_test_id(f"total-{key}")) == str(totals[key]), key
    zone = api["volumes"]["timezone"]
    assert zone in await page.get_by_test_id("analytics-range").inner_text()
    # The daily numbers behind the charts, as their table.
    volumes = page.get_by_test_id("analytics-volumes")
    charts = volumes.locator("figure.chart")
    assert await charts.count() == 2
    assert await volumes.locator("rect.chart-bar").count() > 0

    # Times: median and p90 in working time, said to be business hours without bot time.
    note = await page.get_by_test_id("working-time-note").inner_text()
    assert "Business hours, bot time excluded" in note
    for kind in ("first_response", "resolution"):
        group = page.get_by_test_id(f"times-{kind}")
        expected = api["response-times"][kind]
        assert await tile(group.get_by_test_id("median")) == duration(expected["median_seconds"])
        assert await tile(group.get_by_test_id("p90")) == duration(expected["p90_seconds"])
        assert await tile(group.get_by_test_id("count")) == str(expected["count"])

    # The leaderboard: the owner by name, with the API's counts.
    [agent] = api["agents"]["items"]
    row = page.get_by_test_id("agent-row")
    assert await row.count() == 1
    assert "Dana Owner" in await row.inner_text()
    assert await row.get_by_test_id("handled").inner_text() == str(agent["conversations_handled"])
    assert await row.get_by_test_id("replies").inner_text() == str(agent["replies"])
    assert await row.get_by_test_id("first-responses").inner_text() == str(agent["first_responses"])

    # Flow completion and the lead, as the API counts them; no campaign: its empty state.
    [flow] = api["flows"]["items"]
    report = page.get_by_test_id("flow-report")
    assert await report.get_by_test_id("flow-started").get_by_test_id("value").inner_text() == str(
        flow["started"]
    )
    assert await tile(report.get_by_test_id("flow-completed")) == str(flow["completed"])
    assert await tile(report.get_by_test_id("flow-dropped")) == str(flow["dropped"])
    assert await report.get_by_test_id("flow-node").count() == len(flow["nodes"])
    for stage in api["leads"]["by_stage"]:
        shown = page.get_by_test_id(f"leads-stage-{stage['stage']}").get_by_test_id("value")
        assert await shown.inner_text() == str(stage["count"])
    for source in api["leads"]["by_source"]:
        shown = page.get_by_test_id(f"leads-source-{source['source']}").get_by_test_id("value")
        assert await shown.inner_text() == str(source["count"])
    # The campaign's funnel, stage by stage.
    [campaign] = api["campaigns"]["items"]
    funnel = page.get_by_test_id("campaign-funnel")
    assert "Oud launch" in await funnel.inner_text()
    for stage, count in campaign["funnel"].items():
        shown = funnel.get_by_test_id(f"funnel-{campaign['campaign_id']}-{stage}")
        assert await shown.get_by_test_id("value").inner_text() == str(count), stage
    await page.set_viewport_size({"width": 1280, "height": 1700})  # the whole page
    await page.screenshot(path=str(shots / "analytics-en.png"), full_page=True)

    # The number filter (the only number: the same totals) and a range with no activity.
    await page.get_by_test_id("analytics-number").select_option(business.number_id)
    await page.get_by_test_id("analytics-apply").click()
    await page.get_by_test_id("analytics-range").wait_for()
    for key in VOLUME_KEYS:
        assert await tile(page.get_by_test_id(f"total-{key}")) == str(totals[key]), key
    await page.get_by_test_id("analytics-from").fill("2025-01-01")
    await page.get_by_test_id("analytics-to").fill("2025-01-31")
    await page.get_by_test_id("analytics-apply").click()
    await page.get_by_text("No conversations or messages in this range.").wait_for()
    for key in VOLUME_KEYS:
        assert await tile(page.get_by_test_id(f"total-{key}")) == "0", key
    await page.get_by_text("No agent has replied or resolved a conversation").wait_for()
    await page.get_by_text("No flow started in this range.").wait_for()
    await page.get_by_text("No campaign ran in this range.").wait_for()
    await page.get_by_text("No lead was captured in this range.").wait_for()
    assert "2025" in await page.get_by_test_id("analytics-range").inner_text()

    # Arabic: right to left, Arabic-Indic digits (the default), the same numbers.
    await page.get_by_test_id("analytics-from").fill("")
    await page.get_by_test_id("analytics-to").fill("")
    await page.get_by_test_id("analytics-number").select_option("")
    await page.get_by_test_id("analytics-apply").click()
    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="التحليلات", exact=True).wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    key = "messages_in"
    arabic = str(totals[key]).translate(ARABIC_DIGITS)
    shown = page.get_by_test_id(f"total-{key}").get_by_test_id("value")
    await shown.filter(has_text=arabic).wait_for()
    boxes = [
        await page.get_by_test_id(f"total-{k}").bounding_box()
        for k in ("conversations_opened", "conversations_resolved")
    ]
    assert boxes[0] is not None
    assert boxes[1] is not None
    assert boxes[0]["x"] > boxes[1]["x"]  # the tiles read right to left
    await page.get_by_text("ضمن ساعات العمل، ومن دون الوقت الذي تولّى فيه الروبوت").wait_for()
    bar = page.get_by_test_id("leads-stage-new")
    label, track = bar.locator(".hbar-label"), bar.locator(".hbar-track")
    label_box, track_box = await label.bounding_box(), await track.bounding_box()
    assert label_box is not None
    assert track_box is not None
    assert label_box["x"] > track_box["x"]  # the label on the right, the bar grows leftwards
    await page.screenshot(path=str(shots / "analytics-ar.png"), full_page=True)
    csp = await page.evaluate(
        "fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert refused == []
