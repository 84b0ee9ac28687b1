"""Rich messages in the inbox, business hours, number quality and account updates in Settings,
and the typing indicator between two agents — through the real platform and the Graph API
simulator.

An image attached in the composer is uploaded (POST /api/v1/media → the simulator's
/{phone-number-id}/media), sent by its media id (the simulator records the send) and shown from
a blob: URL; inbound image, location, interactive reply and a reaction arrive as signed webhooks
from the simulator and render as such. Screenshots settings-hours-en/ar (to docs/screenshots/
with MAJLIS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
import zlib
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
CUSTOMER = "+971501234567"


def _shots(tmp_path: Path) -> Path:
    if os.environ.get("MAJLIS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def customer_sends(platform: Platform, business: Business, **what: Any) -> str:
    """Any message through the simulator (a signed webhook to the ingest); returns its wamid."""
    async with platform.session.post(
        f"{platform.sim}/_sim/inbound",
        json={"phone_number_id": business.phone_number_id, "from": CUSTOMER,
              "name": "Mariam Al Mansoori", **what},
    ) as response:  # fmt: skip
        wamid: str = (await json_of(response, 201))["wamid"]
    return wamid


async def image_loaded(image: Any) -> bool:
    """The <img> shows a decoded picture (from a blob: URL, not a URL with a token)."""
    state = await image.evaluate(
        "img => ({src: img.src, width: img.naturalWidth, done: img.complete})"
    )
    return bool(state["done"] and state["width"] > 0 and state["src"].startswith("blob:"))


async def open_conversation(page: Any) -> None:
    item = page.get_by_test_id("conversation-item").filter(has_text="Mariam Al Mansoori")
    await item.wait_for(timeout=15_000)
    await item.click()


async def test_an_image_attached_in_the_composer_is_sent_and_shown(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await sign_in(page, platform, business.email)
    await customer_writes(platform, business, "Can you send me a photo of the bottle?")
    await open_conversation(page)
    await page.get_by_test_id("take-over").click()

    picture = png(40, 30, (180, 30, 60))
    # The browser says text/plain: the server sniffs the bytes and sends an image.
    await page.get_by_test_id("attach-input").set_input_files(
        {"name": "bottle.png", "mimeType": "text/plain", "buffer": picture}
    )
    await page.get_by_test_id("attachment").filter(has_text="bottle.png").wait_for()
    await page.get_by_placeholder("Type a reply").fill("Here it is, 100 ml")
    await page.get_by_role("button", name="Send").click()

    sent = page.locator("[data-testid=message][data-direction=outbound][data-type=image]")
    await sent.filter(has_text="Here it is, 100 ml").wait_for()
    image = sent.get_by_test_id("media-image")
    await image.wait_for()
    await eventually(lambda: image_loaded(image), 15)
    assert await image.get_attribute("alt") == "Here it is, 100 ml"

    # The simulator (Meta) received the upload and then the image message by its id.
    async def recorded() -> list[Any]:
        async with platform.session.get(
            f"{platform.sim}/_sim/sent",
            params={"phone_number_id": business.phone_number_id, "to": CUSTOMER},
        ) as response:
            items: list[Any] = (await json_of(response, 200))["data"]
        return [s for s in items if "image" in json.dumps(s)]

    async def was_sent() -> bool:
        return len(await recorded()) == 1

    await eventually(was_sent, 20)
    (send,) = await recorded()
    assert "Here it is, 100 ml" in json.dumps(send)
    # The file was fetched with the token in a header: no URL carried a token.
    assert not [u for u in urls if "token" in u.lower() or "access_token" in u]
    assert [u for u in urls if "/api/v1/media/" in u]


async def test_inbound_image_location_interactive_reply_and_reaction_render(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await customer_writes(platform, business, "Hello!")
    await open_conversation(page)
    await page.get_by_test_id("take-over").click()
    await page.get_by_placeholder("Type a reply").fill("Would you like to book a visit?")
    await page.get_by_placeholder("Type a reply").press("Enter")
    ours = page.get_by_test_id("message").filter(has_text="Would you like to book a visit?")
    await ours.get_by_test_id("ticks").wait_for()

    # The reply's wamid (once Meta accepted it) is what the customer's reaction names.
    async def our_wamid() -> str | None:
        async with platform.session.get(
            f"{platform.base}/api/v1/conversations", headers=business.headers
        ) as response:
            conversation = (await json_of(response, 200))["items"][0]["id"]
        async with platform.session.get(
            f"{platform.base}/api/v1/conversations/{conversation}/messages",
            headers=business.headers,
        ) as response:
            items = (await json_of(response, 200))["items"]
        found = [m["wamid"] for m in items if m["direction"] == "outbound" and m["wamid"]]
        return found[0] if found else None

    async def accepted() -> bool:
        return await our_wamid() is not None

    await eventually(accepted, 20)
    wamid = await our_wamid()

    picture = png(24, 24, (20, 120, 90))
    await customer_sends(
        platform, business,
        image={"data": base64.b64encode(picture).decode(), "mime_type": "image/png",
               "caption": "Is this the one?"},
    )  # fmt: skip
    await customer_sends(
        platform, business,
        message={"type": "location", "location": {"latitude": 25.1972, "longitude": 55.2744,
                                                  "name": "Dubai Mall", "address": "Downtown"}},
    )  # fmt: skip
    await customer_sends(
        platform, business,
        message={"type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": "book", "title": "Yes, book it"}}},
    )  # fmt: skip
    await customer_sends(
        platform, business,
        message={"type": "reaction", "reaction": {"message_id": wamid, "emoji": "❤️"}},
    )  # fmt: skip

    inbound = page.locator("[data-testid=message][data-direction=inbound]")
    image = inbound.filter(has_text="Is this the one?").get_by_test_id("media-image")
    await image.wait_for(timeout=20_000)
    await eventually(lambda: image_loaded(image), 20)
    location = inbound.get_by_test_id("location")
    await location.filter(has_text="Dubai Mall").wait_for(timeout=20_000)
    assert "25.19720, 55.27440" in await location.inner_text()
    choice = inbound.get_by_test_id("interactive-reply")
    await choice.filter(has_text="Yes, book it").wait_for(timeout=20_000)
    assert "Tapped a button" in await choice.inner_text()
    # The reaction sits on the message it reacts to, not as a message of its own.
    await ours.get_by_test_id("reactions").filter(has_text="❤️").wait_for(timeout=20_000)
    assert await page.locator("[data-testid=message][data-type=reaction]").count() == 0


async def test_business_hours_are_saved_and_reloaded_in_both_languages(
    platform: Platform, business: Business, new_context: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Settings").click()
    hours = page.get_by_test_id("business-hours")
    await hours.get_by_text("Not set yet").wait_for()
    await hours.get_by_label("Time zone").fill("Asia/Riyadh")
    for day in ("Friday", "Saturday"):
        await hours.get_by_label(f"Open on {day}").uncheck()
    sunday_from = hours.get_by_label("Sunday, range 1: from")
    await sunday_from.fill("08:30")
    await hours.get_by_label("Sunday, range 1: to").fill("16:00")
    await page.locator("#holiday-date").fill("2026-12-02")
    await hours.get_by_role("button", name="Add holiday").click()
    await hours.get_by_role("button", name="Save").click()
    await hours.get_by_test_id("hours-saved").wait_for()

    async with platform.session.get(
        f"{platform.base}/api/v1/settings/business-hours", headers=business.headers
    ) as response:
        stored = await json_of(response, 200)
    assert stored["timezone"] == "Asia/Riyadh"
    assert stored["weekly"]["sun"] == [["08:30", "16:00"]]
    assert stored["weekly"]["fri"] == []
    assert stored["weekly"]["sat"] == []
    assert stored["weekly"]["mon"] == [["00:00", "24:00"]]  # the 24/7 default, kept
    assert stored["holidays"] == ["2026-12-02"]

    await page.reload()
    hours = page.get_by_test_id("business-hours")
    await hours.get_by_label("Sunday, range 1: from").wait_for()
    assert await hours.get_by_label("Time zone").input_value() == "Asia/Riyadh"
    assert await hours.get_by_label("Sunday, range 1: from").input_value() == "08:30"
    assert not await hours.get_by_label("Open on Friday").is_checked()
    await hours.get_by_text("2026").wait_for()
    await hours.scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "settings-hours-en.png"))

    await page.get_by_test_id("language-switch").click()
    await page.get_by_role("heading", name="ساعات العمل").wait_for()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await hours.get_by_label("مفتوح يوم الجمعة").wait_for()
    await hours.scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "settings-hours-ar.png"))


def _signed(secret: str, payload: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_number_quality_and_quality_and_account_webhooks_show_in_settings(
    platform: Platform, business: Business, new_context: Any
) -> None:
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.get_by_role("link", name="Settings").click()
    row = page.get_by_role("row").filter(has_text="+971 4 555 0100")
    quality = row.get_by_test_id("quality")
    # Meta's rating, read when the number was connected (the simulator's numbers are GREEN).
    await quality.locator("[data-rating=GREEN]").filter(has_text="High").wait_for()
    assert await row.get_by_test_id("messaging-tier").inner_text() == "1,000 customers / 24 h"

    # The number's WhatsApp Business Account, which Meta's webhooks name.
    async with platform.session.get(
        f"{platform.base}/api/v1/numbers", headers=business.headers
    ) as response:
        waba_id = (await json_of(response, 200))["numbers"][0]["waba_id"]
    ingest = f"http://127.0.0.1:{platform.env['MAJLIS_WEBHOOK_INGEST_PORT']}/webhooks/whatsapp"
    secret = platform.env["MAJLIS_META_APP_SECRET"]

    async def webhook_shows(field: str, value: dict[str, Any], test_id: str) -> Any:
        """A signed webhook of `field` for the number's account reaches the ingest; Settings
        (reloaded until it does) shows the element `test_id` in the number's row."""
        update = {
            "object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "time": int(time.time()),
                       "changes": [{"field": field, "value": value}]}],
        }  # fmt: skip
        payload = json.dumps(update).encode()
        async with platform.session.post(
            ingest, data=payload, headers=_signed(secret, payload)
        ) as response:
            assert response.status == 200

        async def shown() -> bool:
            await page.reload()
            row = page.get_by_role("row").filter(has_text="+971 4 555 0100")
            await row.get_by_test_id("quality").wait_for()
            count: int = await row.get_by_test_id(test_id).count()
            return count == 1

        await eventually(shown, 20)
        return page.get_by_role("row").filter(has_text="+971 4 555 0100")

    # Meta flags the number: a phone_number_quality_update.
    flagged = {"display_phone_number": "97145550100", "event": "FLAGGED",
               "current_limit": "TIER_250"}  # fmt: skip
    row = await webhook_shows("phone_number_quality_update", flagged, "quality-event")
    assert "Flagged for low quality" in await row.get_by_test_id("quality-event").inner_text()
    assert await row.get_by_test_id("messaging-tier").inner_text() == "250 customers / 24 h"

    # Meta restricts the WhatsApp Business Account: an account_update.
    limits = [
        {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
         "expiration": int(time.time()) + 86400},
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
         "expiration": int(time.time()) + 86400},
    ]  # fmt: skip
    restriction = {"phone_number": "97145550100", "event": "ACCOUNT_RESTRICTION",
                   "restriction_info": limits}  # fmt: skip
    row = await webhook_shows("account_update", restriction, "account-event")
    event = row.get_by_test_id("account-event")
    assert "Account restricted by Meta" in await event.inner_text()
    assert await event.get_attribute("data-event") == "ACCOUNT_RESTRICTION"
    # Starting conversations is restricted: campaigns are held until Meta's expiration.
    held = row.get_by_test_id("restriction")
    assert await held.get_attribute("data-kind") == "campaigns"
    assert "Campaigns held" in await held.inner_text()

    # Meta disables the account: its sends are held, and Settings says so. Once Meta lifted
    # the block, an owner resumes sending from the row.
    ban = {"event": "DISABLED_UPDATE",
           "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026-12-07"}}  # fmt: skip
    row = await webhook_shows("account_update", ban, "sending-paused")
    paused = row.get_by_test_id("sending-paused")
    assert await paused.get_attribute("data-reason") == "account-disabled"
    assert "Meta disabled the account" in await paused.inner_text()
    # An agent answering a customer on that number learns that replies wait.
    await customer_writes(platform, business, "Are you open today?")
    inbox = await (await new_context()).new_page()
    await sign_in(inbox, platform, business.email)
    await open_conversation(inbox)
    waiting = inbox.get_by_test_id("replies-held")
    await waiting.wait_for(timeout=15_000)
    assert "queued, not sent" in await waiting.inner_text()
    assert "Meta disabled the account" in await waiting.inner_text()
    await row.get_by_role("button", name="Resume sending").click()
    await paused.wait_for(state="detached")
    await row.get_by_test_id("restriction").wait_for(state="detached")
    async with platform.session.get(
        f"{platform.base}/api/v1/numbers", headers=business.headers
    ) as response:
        (number,) = (await json_of(response, 200))["numbers"]
    assert (number["sending_paused"], number["restrictions"]) == (None, [])


async def test_typing_shows_to_a_teammate_and_expires(
    platform: Platform, business: Business, new_context: Any
) -> None:
    email, name = await team_member(platform, business, "agent")
    await customer_writes(platform, business, "Is the shop open on Friday?")
    watcher = await (await new_context()).new_page()
    typist = await (await new_context()).new_page()
    await sign_in(watcher, platform, business.email)
    await sign_in(typist, platform, email)
    await open_conversation(typist)
    await typist.get_by_test_id("take-over").click()
    await open_conversation(watcher)
    line = watcher.get_by_test_id("presence-line")
    await line.filter(has_text=f"{name} viewing").wait_for(timeout=20_000)

    await typist.get_by_placeholder("Type a reply").press_sequentially("Yes, from 4 pm")
    await line.filter(has_text=f"{name} typing").wait_for(timeout=15_000)

    # Nobody types any more: the indicator goes away on its own (8 s expiry on the server).
    async def stopped() -> bool:
        shown = await line.inner_text()
        return "typing" not in shown and f"{name} viewing" in shown

    await eventually(stopped, 40)
