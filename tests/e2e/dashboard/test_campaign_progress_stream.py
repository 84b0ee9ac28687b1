"""Live campaign progress on the WebSocket stream, against the whole platform: a sending
campaign reports its funnel at most once a second (counts only, never a phone number), to its
own tenant's streams only; the end comes with the final counts the API shows."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from datetime import datetime
from typing import Any

import aiohttp

from majlis.db import create_pool, tenant_transaction
from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    eventually,
    json_of,
    new_business,
    sign_in,
)

BODY = "Hello {{1}}, our Dubai store has new offers for you this week."
RECIPIENTS = 60
RATE = 5  # messages a second on the number: the campaign sends for about fifteen seconds
FUNNEL_KEYS = {
    "queued", "sent", "delivered", "read", "replied", "failed", "skipped", "pending", "in_flight",
}  # fmt: skip


async def _post(platform: Platform, business: Business, path: str, body: Any, status: int) -> Any:
    async with platform.session.post(
        f"{platform.base}{path}", json=body, headers=business.headers
    ) as response:
        return await json_of(response, status)


async def _get(platform: Platform, business: Business, path: str) -> Any:
    async with platform.session.get(f"{platform.base}{path}", headers=business.headers) as r:
        return await json_of(r, 200)


class StreamReader:
    """One authenticated stream of a business owner, keeping every frame it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.raw: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("type") in ("ready", "authenticated"):
                self.ready.set()
            elif frame.get("type") == "ping":
                await self.ws.send_str(json.dumps({"type": "pong"}))
            elif frame.get("type") == "event":
                self.raw.append(message.data)
                self.events.append(frame)

    def of(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"].startswith(prefix)]


async def _stream(platform: Platform, business: Business) -> StreamReader:
    ws = await platform.session.ws_connect(
        f"{platform.base}/api/v1/stream",
        headers={"X-Forwarded-For": business.headers["X-Forwarded-For"]},
    )
    token = business.headers["Authorization"].removeprefix("Bearer ")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    reader = StreamReader(ws)
    async with asyncio.timeout(10):
        await reader.ready.wait()
    return reader


async def _close(reader: StreamReader) -> None:
    await reader.ws.close()
    reader.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader.task


async def _approved_template(platform: Platform, business: Business) -> str:
    created = await _post(platform, business, "/api/v1/templates", {
        "number_id": business.number_id, "name": f"progress_{uuid.uuid4().hex[:6]}",
        "category": "MARKETING", "language": "en",
        "components": [{"type": "BODY", "text": BODY, "example": {"body_text": [["Sara"]]}}],
    }, 201)  # fmt: skip
    template_id = str(created["id"])

    async def approved() -> bool:
        body = await _get(platform, business, f"/api/v1/templates/{template_id}")
        return str(body["status"]) == "APPROVED"

    await eventually(approved, 30)
    return template_id


async def _slow_number(platform: Platform, business: Business) -> None:
    """The number sends RATE messages a second: a campaign takes seconds, not a blink."""
    pool = await create_pool(platform.env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, business.tenant_id) as conn:
            await conn.execute(
                "UPDATE whatsapp_numbers SET send_rate_per_second = $2 WHERE id = $1",
                uuid.UUID(business.number_id),
                RATE,
            )
    finally:
        await pool.close()


async def test_a_sending_campaign_streams_coalesced_progress_to_its_tenant_only(
    platform: Platform, business: Business
) -> None:
    other = await new_business(platform)
    await _slow_number(platform, business)
    template_id = await _approved_template(platform, business)
    phones = [f"+97150{uuid.uuid4().int % 10**7:07d}" for _ in range(RECIPIENTS)]
    for i, phone in enumerate(phones):
        await _post(platform, business, "/api/v1/contacts", {
            "phone": phone, "name": f"Guest {i}", "tags": ["spring"], "marketing": "opted_in",
        }, 201)  # fmt: skip
    campaign = await _post(platform, business, "/api/v1/campaigns", {
        "name": "Spring offers", "number_id": business.number_id, "template_id": template_id,
        "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
        "audience": {"source": "contacts", "tags": ["spring"], "only_opted_in": True},
    }, 201)  # fmt: skip
    campaign_id = str(campaign["id"])

    mine, theirs = await _stream(platform, business), await _stream(platform, other)
    try:
        await _post(platform, business, f"/api/v1/campaigns/{campaign_id}/start", None, 200)

        async def finished() -> bool:
            return any(
                e["event"] == "broadcast.campaign.finished"
                and e["data"]["campaign_id"] == campaign_id
                for e in mine.events
            )

        await eventually(finished, 60)
        # The other business's stream is alive (it hears its own contact change)...
        await _post(platform, other, "/api/v1/contacts", {"phone": phones[0], "name": "Sara"}, 201)

        async def heard_own() -> bool:
            return bool(theirs.of("inbox.contact."))

        await eventually(heard_own, 15)
    finally:
        await _close(mine)
        await _close(theirs)

    # ...and never heard a word of this campaign.
    assert theirs.of("broadcast.campaign.") == []
    assert not any(campaign_id in raw for raw in theirs.raw)

    progress = [
        e for e in mine.of("broadcast.campaign.progress") if e["data"]["campaign_id"] == campaign_id
    ]
    # A report a second while it sends (one sending a message at a time would be sixty).
    assert 3 <= len(progress) < RECIPIENTS / 2, len(progress)
    for event in progress:
        assert set(event["data"]) == {"campaign_id", "state", "progress"}
        assert event["data"]["state"] == "running"
        assert set(event["data"]["progress"]) <= FUNNEL_KEYS
        assert all(isinstance(n, int) for n in event["data"]["progress"].values())
        assert event["data"]["progress"]["queued"] + event["data"]["progress"]["pending"] <= (
            RECIPIENTS
        )
    # Coalesced: at most one a second per campaign, and only when something changed.
    times = [datetime.fromisoformat(e["occurred_at"]) for e in progress]
    for earlier, later in itertools.pairwise(times):
        assert (later - earlier).total_seconds() >= 0.9, (earlier, later)
    reported = [json.dumps(e["data"]["progress"], sort_keys=True) for e in progress]
    assert len(set(reported)) == len(reported), "the same counts were sent twice"
    # The funnel only moves forward from one report to the next.
    for earlier_counts, later_counts in itertools.pairwise(progress):
        before, after = earlier_counts["data"]["progress"], later_counts["data"]["progress"]
        assert after["queued"] >= before["queued"]
        assert after["sent"] >= before["sent"]
    # Counts only: no recipient's number in any frame this tenant's stream received.
    for raw in mine.raw:
        for phone in phones:
            assert phone.lstrip("+") not in raw

    end = next(
        e for e in mine.of("broadcast.campaign.finished") if e["data"]["campaign_id"] == campaign_id
    )
    assert end["data"]["state"] == "completed"
    assert sum(end["data"]["counts"].values()) == RECIPIENTS
    body = await _get(platform, business, f"/api/v1/campaigns/{campaign_id}")
    assert body["progress"]["queued"] == RECIPIENTS


async def test_the_campaign_page_fills_its_funnel_from_the_stream(
    platform: Platform, business: Business, new_context: Any
) -> None:
    """With the page's polling of the campaign cut off once it is sending, the funnel still
    fills: the numbers come from the stream's progress events."""
    await _slow_number(platform, business)
    template_id = await _approved_template(platform, business)
    for i in range(RECIPIENTS // 2):
        await _post(platform, business, "/api/v1/contacts", {
            "phone": f"+97150{uuid.uuid4().int % 10**7:07d}", "name": f"Guest {i}",
            "tags": ["autumn"], "marketing": "opted_in",
        }, 201)  # fmt: skip
    campaign = await _post(platform, business, "/api/v1/campaigns", {
        "name": "Autumn offers", "number_id": business.number_id, "template_id": template_id,
        "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
        "audience": {"source": "contacts", "tags": ["autumn"], "only_opted_in": True},
    }, 201)  # fmt: skip
    campaign_id = str(campaign["id"])
    page = await (await new_context()).new_page()
    await sign_in(page, platform, business.email)
    await page.goto(f"{platform.base}/app/campaigns/{campaign_id}")
    state = page.get_by_test_id("campaign-state")
    await state.filter(has_text="Draft").wait_for()

    polls = {"blocked": False, "refused": 0}

    async def campaign_get(route: Any) -> None:
        if polls["blocked"] and route.request.method == "GET":
            polls["refused"] += 1
            await route.abort()
        else:
            await route.continue_()

    await page.route(f"**/api/v1/campaigns/{campaign_id}", campaign_get)
    await _post(platform, business, f"/api/v1/campaigns/{campaign_id}/start", None, 200)
    await state.filter(has_text="Sending").wait_for(timeout=15_000)  # the state event's reload
    polls["blocked"] = True
    queued = page.get_by_test_id("funnel-queued")
    seen: set[int] = set()

    async def all_queued() -> bool:
        count = int(await queued.get_attribute("data-count") or "0")
        seen.add(count)
        return count == RECIPIENTS // 2

    await eventually(all_queued, 40)
    assert len(seen) >= 2, seen  # it moved while we watched, without a single poll answered
