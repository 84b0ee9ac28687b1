"""The campaign funnel and its days, through a real campaign run against the Graph API
simulator, status webhooks and a reply on the bus, read through `/api/v1/analytics/campaigns`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import MessageReceived, StatusReceived

CampaignWorld = Any  # the world's classes live in this folder's conftest.py
BODY = "Hello {{1}}, our new offers are in."


def fresh_phone() -> str:
    return "+97150" + str(uuid.uuid4().int % 10**7).zfill(7)


async def test_campaign_funnel_and_days(campaign_world: CampaignWorld) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara"])
    phones = [fresh_phone() for _ in range(3)]
    contacts = [await world.contact(team, p, "Sara", tags=("vip",)) for p in phones]
    await world.contact(team, fresh_phone(), "Omar", tags=("vip",), opt_out=True)
    body = {
        "name": "December offers", "number_id": str(team.number_id), "template_id": template_id,
        "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
        "audience": {"tags": ["vip"]},
    }  # fmt: skip
    status, campaign = await world.request(team, "owner", "POST", "/api/v1/campaigns", body)
    assert status == 201, campaign
    campaign_id = uuid.UUID(campaign["id"])
    path = f"/api/v1/campaigns/{campaign_id}"
    assert (await world.request(team, "owner", "POST", f"{path}/start"))[0] == 200

    async def states() -> dict[uuid.UUID, Any]:
        async with tenant_transaction(world.pool, team.tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT id, contact_id, state FROM campaign_recipients WHERE campaign_id = $1",
                campaign_id,
            )
        return {r["contact_id"]: r for r in rows}

    async def until(expected: dict[uuid.UUID, str]) -> dict[uuid.UUID, Any]:
        async with asyncio.timeout(15):
            while True:
                now = await states()
                if all(c in now and now[c]["state"] == s for c, s in expected.items()):
                    return now
                await asyncio.sleep(0.05)

    rows = await until(dict.fromkeys(contacts, "sent"))
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        pnid = await conn.fetchval(
            "SELECT phone_number_id FROM whatsapp_numbers WHERE id = $1", team.number_id
        )
    now = datetime.now(UTC)

    async def webhook(contact: uuid.UUID, phone: str, kind: str) -> None:
        status: dict[str, Any] = {"id": f"wamid.{uuid.uuid4().hex}", "status": kind,
                  "recipient_id": phone.lstrip("+"), "timestamp": str(int(now.timestamp())),
                  "biz_opaque_callback_data": str(rows[contact]["id"])}  # fmt: skip
        if kind == "failed":
            status["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
        event = StatusReceived(
            phone_number_id=pnid, waba_id=team.waba_id, received_at=now, status=status
        )
        await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    # Recipient 1 reads and replies; recipient 2's message is delivered; recipient 3's fails.
    await webhook(contacts[0], phones[0], "read")
    await webhook(contacts[1], phones[1], "delivered")
    await webhook(contacts[2], phones[2], "failed")
    await until({contacts[0]: "read", contacts[1]: "delivered", contacts[2]: "failed"})
    reply = MessageReceived(
        phone_number_id=pnid, waba_id=team.waba_id, received_at=now,
        message={"from": phones[0].lstrip("+"), "id": f"wamid.{uuid.uuid4().hex}",
                 "type": "text", "timestamp": str(int(now.timestamp())),
                 "text": {"body": "Interested"}},
    )  # fmt: skip
    await world.publisher.publish(make_envelope(reply, tenant_id=team.tenant_id))
    await until({contacts[0]: "replied"})

    today = now.astimezone(ZoneInfo("Asia/Dubai")).date()  # the tenant's default zone
    query = f"from={today - timedelta(days=1)}&to={today}"
    status, report = await world.request(
        team, "viewer", "GET", f"/api/v1/analytics/campaigns?{query}"
    )
    assert status == 200, report
    [item] = [i for i in report["items"] if i["campaign_id"] == str(campaign_id)]
    # Funnel, "reached at least": replied (1) + delivered (1) + failed (1) were all queued: 3;
    # sent: replied + delivered = 2 (the failed one never counts as sent); delivered: 2;
    # read: the replier, 1; replied 1; failed 1; skipped: the opted-out contact, 1.
    assert item["funnel"] == {
        "queued": 3, "sent": 2, "delivered": 2, "read": 1, "replied": 1, "failed": 1,
        "skipped": 1,
    }  # fmt: skip
    # Over time: entries into each state per local day, summed over the (at most two) days:
    # queued 3, sent 3 (all three were sent before one failed), delivered 1 (recipient 2;
    # recipient 1 went from sent straight to read), read 1, replied 1, failed 1, skipped 1.
    summed = {k: sum(day[k] for day in item["daily"]) for k in item["funnel"]}
    assert summed == {
        "queued": 3, "sent": 3, "delivered": 1, "read": 1, "replied": 1, "failed": 1,
        "skipped": 1,
    }  # fmt: skip

    # Volumes count the three sends Meta accepted as campaign messages out of the number.
    status, volumes = await world.request(
        team, "agent", "GET", f"/api/v1/analytics/volumes?{query}"
    )
    assert status == 200, volumes
    assert volumes["totals"]["campaign_messages_out"] == 3
    assert {i["number_id"] for i in volumes["items"]} == {str(team.number_id)}

    # Another tenant sees no campaign of this one.
    other = await world.team()
    _status, theirs = await world.request(
        other, "owner", "GET", f"/api/v1/analytics/campaigns?{query}"
    )
    assert theirs["items"] == []
