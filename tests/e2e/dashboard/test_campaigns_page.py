"""Campaigns: build a campaign in the UI from an approved template (variables mapped from the
contact's name and an attribute, checked before saving), an audience by tag and consent with who
it reaches and who is skipped and why, start it, watch the funnel fill from the simulator's
statuses with Meta's failure reason, download the CSV report; the page in Arabic (mirrored);
the plan's monthly limit said plainly. Screenshots campaigns-en, campaigns-ar and
campaigns-editor-en (to docs/screenshots/ with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from pathlib import Path
from typing import Any

from majlis.db import create_pool, tenant_transaction
from majlis.testing.dashboard_e2e import Business, Platform, eventually, json_of, sign_in

ROOT = Path(__file__).resolve().parents[3]
BODY = "Hello {{1}}, our {{2}} store has new offers for you this week."


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


def _phone() -> str:
    return "+97150" + str(uuid.uuid4().int % 10**7).zfill(7)


async def _post(platform: Platform, business: Business, path: str, body: Any, status: int) -> Any:
    async with platform.session.post(
        f"{platform.base}{path}", json=body, headers=business.headers
    ) as response:
        return await json_of(response, status)


async def _get(platform: Platform, business: Business, path: str) -> Any:
    async with platform.session.get(f"{platform.base}{path}", headers=business.headers) as r:
        return await json_of(r, 200)


async def _approved_template(platform: Platform, business: Business) -> str:
    """A template created through the API; the simulator's review approves it by webhook."""
    created = await _post(platform, business, "/api/v1/templates", {
        "number_id": business.number_id, "name": f"spring_{uuid.uuid4().hex[:6]}",
        "category": "MARKETING", "language": "en",
        "components": [{"type": "BODY", "text": BODY,
                        "example": {"body_text": [["Sara", "Dubai"]]}}],
    }, 201)  # fmt: skip
    template_id = str(created["id"])

    async def approved() -> bool:
        body = await _get(platform, business, f"/api/v1/templates/{template_id}")
        return str(body["status"]) == "APPROVED"

    await eventually(approved, 30)
    return template_id


async def _audience(platform: Platform, business: Business) -> list[str]:
    """Three VIPs who opted in, one who opted out, one who never said; one non-VIP."""
    await _post(platform, business, "/api/v1/contact-attributes",
                {"key": "city", "label": "City", "type": "text"}, 201)  # fmt: skip
    people = [
        ("Sara", "Dubai", "opted_in"), ("Omar", "Sharjah", "opted_in"),
        ("Huda", None, "opted_in"), ("Khalid", "Ajman", "opted_out"),
        ("Noura", "Dubai", "unknown"),
    ]  # fmt: skip
    phones = []
    for name, city, marketing in people:
        phone = _phone()
        phones.append(phone)
        body: dict[str, Any] = {"phone": phone, "name": name, "tags": ["vip"],
                                "marketing": marketing}  # fmt: skip
        if city:
            body["attributes"] = {"city": city}
        await _post(platform, business, "/api/v1/contacts", body, 201)
    await _post(platform, business, "/api/v1/contacts",
                {"phone": _phone(), "name": "Not VIP", "tags": ["other"],
                 "marketing": "opted_in"}, 201)  # fmt: skip
    return phones


async def _count(page: Any, test_id: str) -> int:
    return int(await page.get_by_test_id(test_id).get_attribute("data-count"))


async def test_build_start_watch_the_funnel_and_download_the_report(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    template_id = await _approved_template(platform, business)
    await _audience(platform, business)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Campaigns", exact=True).click()
    await page.get_by_role("heading", name="Campaigns", exact=True).wait_for()
    await page.get_by_test_id("campaign-new").click()

    await page.get_by_test_id("campaign-name").fill("Spring offers")
    await page.get_by_test_id("campaign-template").select_option(template_id)
    # The template's two body variables are offered; a fixed text left empty is refused
    # before anything is sent to the API.
    first, second = "campaign-var-body-1", "campaign-var-body-2"
    await page.get_by_test_id(second).wait_for()
    assert await page.get_by_test_id("campaign-var-body-3").count() == 0
    await page.get_by_test_id(f"{second}-source").select_option("text")
    problems = page.get_by_test_id("campaign-mapping-problems")
    await problems.wait_for()
    assert "Body variable 2" in await problems.inner_text()
    assert await page.get_by_test_id("campaign-save").is_disabled()
    await page.get_by_test_id(f"{first}-source").select_option("name")
    await page.get_by_test_id(f"{first}-fallback").fill("friend")
    await page.get_by_test_id(f"{second}-source").select_option("attribute")
    await page.get_by_test_id(f"{second}-key").select_option("city")
    await page.get_by_test_id(f"{second}-fallback").fill("UAE")
    await problems.wait_for(state="detached")
    await page.get_by_test_id("campaign-tags").fill("vip")
    await page.get_by_test_id("campaign-opted-in").check()
    assert "Asia/Dubai" in await page.get_by_test_id("campaign-zone").inner_text()
    await page.get_by_test_id("campaign-save").click()
    await page.wait_for_url("**/app/campaigns/*-*")
    campaign_id = page.url.rsplit("/", 1)[-1]

    # Who it reaches, and who is skipped and why.
    reach = page.get_by_test_id("campaign-reach")
    await reach.get_by_test_id("campaign-reachable").wait_for()
    assert await _count(reach, "campaign-reachable") == 3
    assert await _count(reach, "campaign-skipped") == 2
    assert "Reaches 3 of 5" in await reach.inner_text()
    reasons = reach.get_by_test_id("skip-reason")
    assert {
        await r.get_attribute("data-reason"): await r.get_attribute("data-count")
        for r in await reasons.all()
    } == {"opted-out": "1", "no-consent": "1"}
    assert "Opted out of marketing" in await reach.inner_text()
    await page.screenshot(path=str(shots / "campaigns-editor-en.png"), full_page=True)

    # Meta refuses the first send (a 4xx that is not retried): its reason is shown.
    async with platform.session.post(
        f"{platform.sim}/_sim/faults",
        json={"phone_number_id": business.phone_number_id, "code": 131026, "count": 1},
    ) as response:
        await json_of(response, 200)
    dialogs: list[str] = []

    async def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.get_by_test_id("campaign-start").click()
    funnel = page.get_by_test_id("campaign-funnel")
    await funnel.wait_for(timeout=15_000)
    assert len(dialogs) == 1
    assert "3 recipients" in dialogs[0]

    async def filled() -> bool:
        return (
            await _count(page, "funnel-sent") == 2
            and await _count(page, "funnel-delivered") == 2
            and await _count(page, "funnel-failed") == 1
        )

    await eventually(filled, 30)  # the page polls; statuses come by the simulator's webhooks
    assert await _count(page, "funnel-queued") == 3
    assert await _count(page, "funnel-skipped") == 2
    state = page.get_by_test_id("campaign-state")
    await state.filter(has_text="Completed").wait_for(timeout=15_000)
    failure = page.get_by_test_id("failure-row")
    await failure.wait_for()
    assert await failure.get_attribute("data-code") == "131026"
    assert "Message undeliverable" in await failure.inner_text()
    detail = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")

    async def read_matches() -> bool:
        body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
        return await _count(page, "funnel-read") == int(body["progress"]["read"])

    await eventually(read_matches, 15)
    assert detail["failed_by_reason"][0]["code"] == 131026
    await page.screenshot(path=str(shots / "campaigns-en.png"), full_page=True)

    async with page.expect_download() as download_info:
        await page.get_by_test_id("campaign-report").click()
    download = await download_info.value
    assert download.suggested_filename == f"campaign-{campaign_id}.csv"
    saved = Path(await download.path())
    report = list(csv.DictReader(io.StringIO(await asyncio.to_thread(saved.read_text))))
    assert len(report) == 5
    reached = {r["state"] for r in report if r["state"] != "skipped"}
    assert reached <= {"delivered", "read", "failed"}
    assert sorted(r["reason_code"] for r in report if r["state"] == "skipped") == [
        "no-consent",
        "opted-out",
    ]
    assert [r["error_code"] for r in report if r["state"] == "failed"] == ["131026"]

    # The list shows it with its counts.
    await page.get_by_role("link", name="Campaigns", exact=True).click()
    row = page.get_by_test_id("campaign-row").filter(has_text="Spring offers")
    await row.get_by_test_id("campaign-state").filter(has_text="Completed").wait_for()
    await row.get_by_role("link", name="Spring offers").click()
    await funnel.wait_for()

    # Arabic: mirrored, translated stages and reasons.
    await page.get_by_test_id("language-switch").click()
    await page.get_by_test_id("campaign-state").filter(has_text="مكتملة").wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert "وصلت" in await funnel.inner_text()
    assert "ألغى الاشتراك في الرسائل التسويقية" in await page.inner_text("main")
    nav = await page.locator("nav.sidebar").bounding_box()
    main = await page.locator("main").bounding_box()
    assert nav["x"] > main["x"]  # the navigation is on the right
    label = await page.locator(".funnel-sent .funnel-label").bounding_box()
    bar = await page.locator(".funnel-sent progress").bounding_box()
    assert label["x"] > bar["x"]  # each stage's name at the start (right) of its bar
    await page.screenshot(path=str(shots / "campaigns-ar.png"), full_page=True)


async def test_the_plans_monthly_limit_is_said_plainly(
    platform: Platform, business: Business, new_context: Any
) -> None:
    template_id = await _approved_template(platform, business)
    good = {
        "name": "Offers", "number_id": business.number_id, "template_id": template_id,
        "parameters": {"body": [{"source": "name", "fallback": "friend"},
                                {"source": "text", "text": "Dubai"}]},
    }  # fmt: skip
    for _ in range(30):  # Starter: thirty a month
        await _post(platform, business, "/api/v1/campaigns", good, 201)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.goto(f"{platform.base}/app/campaigns/new")
    await page.get_by_test_id("campaign-name").fill("One too many")
    await page.get_by_test_id("campaign-template").select_option(template_id)
    await page.get_by_test_id("campaign-var-body-2-source").select_option("text")
    await page.get_by_test_id("campaign-var-body-2-text").fill("Dubai")
    await page.get_by_test_id("campaign-save").click()
    refusal = page.get_by_test_id("campaign-plan-limit")
    await refusal.wait_for()
    assert "allows 30 campaigns a month" in await refusal.inner_text()
    assert page.url.endswith("/app/campaigns/new")  # nothing was created


async def _new_draft(page: Any, platform: Platform, name: str, template_id: str) -> None:
    await page.goto(f"{platform.base}/app/campaigns/new")
    await page.get_by_test_id("campaign-name").fill(name)
    await page.get_by_test_id("campaign-template").select_option(template_id)
    await page.get_by_test_id("campaign-var-body-1-fallback").fill("friend")
    await page.get_by_test_id("campaign-var-body-2-source").select_option("text")
    await page.get_by_test_id("campaign-var-body-2-text").fill("Dubai")


async def _saved(page: Any) -> str:
    await page.get_by_test_id("campaign-save").click()
    await page.wait_for_url("**/app/campaigns/*-*")
    return str(page.url.rsplit("/", 1)[-1])


async def test_csv_chosen_contacts_schedule_in_the_business_zone_and_cancel(
    platform: Platform, business: Business, new_context: Any
) -> None:
    template_id = await _approved_template(platform, business)
    await _audience(platform, business)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)

    # A CSV audience: saved first, then the file; invalid and repeated numbers are skipped.
    await _new_draft(page, platform, "From the fair", template_id)
    await page.get_by_test_id("campaign-audience-csv").click()
    await page.get_by_text("Save the draft first, then upload the file.").wait_for()
    campaign_id = await _saved(page)
    phone = _phone()
    rows = f"phone,name\n{phone},Mariam\n{_phone()},\n12,Bad\n{phone},Again\n"
    await page.get_by_test_id("campaign-csv-file").set_input_files(
        files=[{"name": "fair.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    await page.get_by_test_id("campaign-csv-upload").click()
    await page.get_by_text("4 rows uploaded.").wait_for()
    reach = page.get_by_test_id("campaign-reach")

    async def csv_reach() -> bool:
        shown = reach.get_by_test_id("campaign-reachable")
        return bool(await shown.count() == 1 and await shown.inner_text() == "Reaches 2 of 4")

    await eventually(csv_reach)
    reasons = {
        await r.get_attribute("data-reason"): await r.get_attribute("data-count")
        for r in await reach.get_by_test_id("skip-reason").all()
    }
    assert reasons == {"invalid-phone": "1", "duplicate": "1"}
    body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
    assert (body["audience"]["source"], body["audience"]["csv_rows"]) == ("csv", 4)

    # Chosen contacts: exactly those.
    await _new_draft(page, platform, "Just Sara", template_id)
    await page.get_by_test_id("campaign-audience-contact_ids").click()
    await page.get_by_label("Search contacts").fill("Sara")
    await page.get_by_role("checkbox", name="Sara").check()
    assert await page.get_by_test_id("campaign-chosen").inner_text() == "1 chosen"
    await _saved(page)
    await reach.get_by_test_id("campaign-reachable").filter(has_text="Reaches 1 of 1").wait_for()

    # A schedule typed in the business's time zone (Asia/Dubai, UTC+4), started, cancelled.
    await _new_draft(page, platform, "Eid greetings", template_id)
    await page.get_by_test_id("campaign-tags").fill("vip")
    await page.get_by_test_id("campaign-schedule").fill("2030-06-01T09:00")
    campaign_id = await _saved(page)
    body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
    assert body["scheduled_at"] == "2030-06-01T05:00:00+00:00"
    assert await page.get_by_test_id("campaign-schedule").input_value() == "2030-06-01T09:00"
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("campaign-start").filter(has_text="Schedule").click()
    await page.get_by_test_id("campaign-state").filter(has_text="Scheduled").wait_for()
    assert "1 Jun 2030, 09:00" in await page.inner_text("main")
    assert await page.get_by_test_id("campaign-pause").count() == 0
    await page.get_by_test_id("campaign-cancel").click()
    await page.get_by_test_id("campaign-state").filter(has_text="Cancelled").wait_for()
    assert await page.get_by_test_id("campaign-cancel").count() == 0
    body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
    assert body["state"] == "cancelled"


async def test_the_daily_tier_holds_the_rest_pause_resume_and_cancel(
    platform: Platform, business: Business, new_context: Any
) -> None:
    template_id = await _approved_template(platform, business)
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:  # Meta's lowest messaging tier: fifty new recipients a day
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE whatsapp_numbers SET messaging_tier = 'TIER_50' WHERE id = $1",
                uuid.UUID(business.number_id),
            )
    finally:
        await pool.close()
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await _new_draft(page, platform, "Big list", template_id)
    await page.get_by_test_id("campaign-audience-csv").click()
    await _saved(page)
    rows = "phone,name\n" + "".join(f"{_phone()},Guest {i}\n" for i in range(52))
    await page.get_by_test_id("campaign-csv-file").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    await page.get_by_test_id("campaign-csv-upload").click()
    reach = page.get_by_test_id("campaign-reach")
    await reach.get_by_test_id("campaign-reachable").filter(has_text="Reaches 52 of 52").wait_for()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("campaign-start").click()

    # Fifty go out today; the page says why the other two wait, and the campaign still runs.
    limit = page.get_by_text("lets it reach 0 more today")
    await limit.wait_for(timeout=20_000)
    assert await _count(page, "funnel-queued") == 50
    await page.get_by_test_id("campaign-state").filter(has_text="Sending").wait_for()
    assert await page.get_by_test_id("campaign-held").count() == 0

    async def restricted(until: str | None) -> None:
        pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
        try:  # what an ACCOUNT_RESTRICTION of starting conversations records
            async with tenant_transaction(pool, business.tenant_id) as conn:
                await conn.execute(
                    "UPDATE whatsapp_numbers SET restricted_bulk_until = $2::text::timestamptz"
                    " WHERE id = $1",
                    uuid.UUID(business.number_id),
                    until,
                )
        finally:
            await pool.close()

    # Meta restricts starting conversations: the page says the sends wait, and until when.
    await restricted("infinity")
    await page.reload()
    held = page.get_by_test_id("campaign-held")
    await held.filter(has_text="queued, not sent").wait_for()
    assert "Campaigns held" in await held.inner_text()
    assert "until Meta lifts it" in await held.inner_text()
    await restricted(None)
    await page.get_by_test_id("campaign-pause").click()
    await page.get_by_test_id("campaign-state").filter(has_text="Paused").wait_for()
    await page.get_by_test_id("campaign-resume").click()
    await page.get_by_test_id("campaign-state").filter(has_text="Sending").wait_for()
    await page.get_by_test_id("campaign-cancel").click()
    await page.get_by_test_id("campaign-state").filter(has_text="Cancelled").wait_for()
    cancelled = page.get_by_test_id("campaign-skip-reasons").get_by_test_id("skip-reason")
    await cancelled.filter(has_text="Campaign cancelled before sending").wait_for()
    # The two held back, and those still waiting at the dispatcher when it was cancelled.
    campaign_id = page.url.rsplit("/", 1)[-1]
    body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
    shown = int(await cancelled.get_attribute("data-count"))
    assert shown == body["skipped_by_reason"]["campaign-cancelled"]
    assert shown >= 2
    assert await _count(page, "funnel-skipped") == shown
    assert await page.get_by_test_id("campaign-pause").count() == 0
