"""Campaigns through the HTTP API against the Graph API simulator: audience and skips, per-
recipient parameters, the state machine, pause/resume/cancel, the daily tier, the funnel from
status webhooks and replies, the CSV report, schedules in the tenant's time zone, roles,
validation and tenant isolation (404)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import (
    AccountReceived,
    MessageReceived,
    PhoneQualityReceived,
    StatusReceived,
)
from majlis.meta.callback import callback_data
from majlis.plans import set_plan

# The world's classes live in this folder's conftest.py (not importable under mypy's paths).
CampaignWorld = Any
Team = Any
BODY = "Hello {{1}}, our {{2}} store has new offers for you this week."
FINISHED, AUDIT = "broadcast.campaign.finished", "broadcast.audit.recorded"


def fresh_phone() -> str:
    return "+97150" + str(uuid.uuid4().int % 10**7).zfill(7)


async def finished_event(world: CampaignWorld, campaign_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while not world.of(FINISHED, "campaign_id", campaign_id):  # noqa: ASYNC110  # polls another process
            await asyncio.sleep(0.05)
    return world.of(FINISHED, "campaign_id", campaign_id)[0]  # type: ignore[no-any-return]


async def pnid(world: CampaignWorld, team: Team) -> str:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        value: str = await conn.fetchval(
            "SELECT phone_number_id FROM whatsapp_numbers WHERE id = $1", team.number_id
        )
    return value


def mapping() -> dict[str, Any]:
    return {
        "body": [
            {"source": "name", "fallback": "friend"},
            {"source": "attribute", "key": "city", "fallback": "UAE"},
        ]
    }


async def draft(world: CampaignWorld, team: Team, template_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Spring offers",
        "number_id": str(team.number_id),
        "template_id": template_id,
        "parameters": mapping(),
        "audience": {"tags": ["vip"]},
        **extra,
    }
    status, created = await world.request(team, "owner", "POST", "/api/v1/campaigns", body)
    assert status == 201, created
    return created  # type: ignore[no-any-return]


async def state_becomes(
    world: CampaignWorld, team: Team, campaign_id: str, state: str, within: float = 15.0
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            status, body = await world.request(
                team, "viewer", "GET", f"/api/v1/campaigns/{campaign_id}"
            )
            assert status == 200, body
            if body["state"] == state:
                return body  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def recipients(world: CampaignWorld, team: Team, campaign_id: str) -> list[Any]:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM campaign_recipients WHERE campaign_id = $1 ORDER BY seq",
                uuid.UUID(campaign_id),
            )
        )


async def test_parameters_per_recipient_reach_the_simulator_and_opted_out_are_skipped(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    sara, bare = fresh_phone(), fresh_phone()
    await world.contact(team, sara, "Sara", tags=("vip",), attributes={"city": "Dubai"})
    await world.contact(team, bare, None, tags=("vip", "new"))
    await world.contact(team, fresh_phone(), "Omar", tags=("vip",), opt_out=True)
    await world.contact(team, fresh_phone(), "Huda", tags=("vip",), restricted=True)
    await world.contact(team, fresh_phone(), "Not VIP", tags=("other",))
    campaign = await draft(world, team, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"

    status, preview = await world.request(team, "agent", "POST", f"{path}/audience-preview")
    assert status == 200, preview
    assert preview == {
        "total": 4,
        "reachable": 2,
        "skipped": 2,
        "skipped_by_reason": {"opted-out": 1, "restricted": 1},
    }
    status, started = await world.request(team, "admin", "POST", f"{path}/start")
    assert status == 200, started
    done = await state_becomes(world, team, campaign["id"], "completed")
    assert done["progress"]["sent"] == 2
    assert done["progress"]["skipped"] == 2
    assert done["skipped_by_reason"] == {"opted-out": 1, "restricted": 1}

    sent = await world.sent(await pnid(world, team))
    by_phone = {"+" + m["to"].lstrip("+"): m for m in sent}
    assert set(by_phone) == {sara, bare}

    def texts(message: dict[str, Any]) -> list[str]:
        [body] = [c for c in message["payload"]["template"]["components"] if c["type"] == "body"]
        return [p["text"] for p in body["parameters"]]

    assert texts(by_phone[sara]) == ["Sara", "Dubai"]
    assert texts(by_phone[bare]) == ["friend", "UAE"]
    rows = await recipients(world, team, campaign["id"])
    assert sorted(r["state"] for r in rows) == ["sent", "sent", "skipped", "skipped"]
    assert all(sara.encode() not in (r["phone_enc"] or b"") for r in rows)  # encrypted
    finished = await finished_event(world, campaign["id"])
    assert finished["state"] == "completed"
    assert finished["counts"] == {"sent": 2, "skipped": 2}  # no personal data in it
    actions = {p["action"] for p in world.of(AUDIT, "target_id", campaign["id"])}
    assert {"campaigns.created", "campaigns.start"} <= actions

    # The report: every recipient with state and reason, phones shown, formulas neutralised.
    status, raw = await world.raw(team, "owner", "GET", f"{path}/report.csv", b"", "text/plain")
    assert status == 200
    report = list(csv.DictReader(io.StringIO(raw.decode())))
    assert len(report) == 4
    phones = {r["phone"] for r in report if r["state"] == "sent"}
    assert phones == {"'" + sara, "'" + bare}  # "+..." would be a formula in a spreadsheet
    assert sorted(r["reason_code"] for r in report if r["state"] == "skipped") == [
        "opted-out",
        "restricted",
    ]
    status, _ = await world.raw(team, "agent", "GET", f"{path}/report.csv", b"", "text/plain")
    assert status == 403


async def test_csv_audience_normalises_phones_and_skips_invalid_and_duplicates(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    new, known = fresh_phone(), fresh_phone()
    await world.contact(team, known, "Known", opt_out=True)
    campaign = await draft(world, team, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"
    national = "0" + new.removeprefix("+971")  # a UAE national form
    data = (
        f"phone,name,city\n{national},Layla,Sharjah\n{new},Dup,\n{known},K,\nnot-a-phone,X,\n"
    ).encode()
    status, body = await world.raw(team, "owner", "PUT", f"{path}/audience.csv", data, "text/csv")
    assert status == 200, body
    status, preview = await world.request(team, "owner", "POST", f"{path}/audience-preview")
    assert preview["skipped_by_reason"] == {"duplicate": 1, "opted-out": 1, "invalid-phone": 1}
    assert preview["reachable"] == 1
    await world.request(team, "owner", "POST", f"{path}/start")
    await state_becomes(world, team, campaign["id"], "completed")
    [message] = await world.sent(await pnid(world, team))
    assert message["to"].lstrip("+") == new.lstrip("+")
    [body_component] = message["payload"]["template"]["components"]
    assert [p["text"] for p in body_component["parameters"]] == ["Layla", "Sharjah"]


async def test_pause_holds_queued_sends_resume_continues_cancel_stops(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET send_rate_per_second = 4 WHERE id = $1", team.number_id
        )
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    for index in range(12):
        await world.contact(team, fresh_phone(), f"C{index}", tags=("vip",))
    campaign = await draft(world, team, template_id)
    path, number = f"/api/v1/campaigns/{campaign['id']}", await pnid(world, team)
    await world.request(team, "owner", "POST", f"{path}/start")
    async with asyncio.timeout(10):
        while len(await world.sent(number)) < 2:  # noqa: ASYNC110  # polls another process
            await asyncio.sleep(0.05)
    status, paused = await world.request(team, "owner", "POST", f"{path}/pause")
    assert status == 200, paused
    assert paused["state"] == "paused"
    await asyncio.sleep(0.3)  # sends already at Meta (claimed before the pause) settle
    at_pause = len(await world.sent(number))
    rows = await recipients(world, team, campaign["id"])
    held = [r["id"] for r in rows if r["state"] == "queued"]
    await asyncio.sleep(1.5)
    assert len(await world.sent(number)) == at_pause  # nothing goes out while paused
    assert at_pause < 12
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        states = await conn.fetch(
            "SELECT state FROM outbound_sends WHERE id = ANY($1::uuid[])", held
        )
    assert all(s["state"] == "queued" for s in states)  # handed over, held back

    status, problem = await world.request(team, "owner", "POST", f"{path}/pause")
    assert status == 409
    assert problem["state"] == "paused"
    status, resumed = await world.request(team, "owner", "POST", f"{path}/resume")
    assert status == 200
    assert resumed["state"] == "running"
    async with asyncio.timeout(10):
        while len(await world.sent(number)) < at_pause + 2:  # noqa: ASYNC110  # polls another process
            await asyncio.sleep(0.05)
    status, cancelled = await world.request(team, "admin", "POST", f"{path}/cancel")
    assert status == 200, cancelled
    assert cancelled["state"] == "cancelled"
    await asyncio.sleep(0.3)
    after_cancel = len(await world.sent(number))
    await asyncio.sleep(1.0)
    assert len(await world.sent(number)) == after_cancel
    assert after_cancel < 12
    done = await state_becomes(world, team, campaign["id"], "cancelled")
    skipped = done["skipped_by_reason"]["campaign-cancelled"]
    assert skipped == 12 - done["progress"]["queued"]
    assert skipped >= 12 - after_cancel - 1
    for action in ("resume", "pause", "start", "cancel"):
        status, problem = await world.request(team, "owner", "POST", f"{path}/{action}")
        assert status == 409, (action, problem)
        assert problem["slug"] if "slug" in problem else problem["type"]
    status, _ = await world.request(team, "owner", "PATCH", path, {"name": "Renamed"})
    assert status == 409
    status, _ = await world.request(team, "owner", "DELETE", path)
    assert status == 409
    assert (await finished_event(world, campaign["id"]))["state"] == "cancelled"


async def test_the_daily_tier_limits_new_recipients_and_waits_for_the_window(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET messaging_tier = 'TIER_50' WHERE id = $1", team.number_id
        )
        # 47 people messaged by this number in the last 24 hours: 3 new ones left today.
        await conn.execute(
            "INSERT INTO number_recipient_contacts (tenant_id, number_id, phone_bidx, messaged_at)"
            " SELECT $1, $2, sha256(random()::text::bytea), now() - interval '1 hour'"
            " FROM generate_series(1, 47)",
            team.tenant_id, team.number_id,
        )  # fmt: skip
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    for index in range(5):
        await world.contact(team, fresh_phone(), f"C{index}", tags=("vip",))
    campaign = await draft(world, team, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"
    await world.request(team, "owner", "POST", f"{path}/start")
    number = await pnid(world, team)
    async with asyncio.timeout(10):
        while len(await world.sent(number)) < 3:  # noqa: ASYNC110  # polls another process
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the runner ticks every 0.1 s: it must not send more
    assert len(await world.sent(number)) == 3
    _status, body = await world.request(team, "viewer", "GET", path)
    assert body["state"] == "running"
    assert body["reachable_today"] == 0
    assert body["progress"]["pending"] == 2
    next_feed = datetime.fromisoformat(body["next_feed_at"])
    assert (next_feed - datetime.now(UTC)).total_seconds() > 60  # no busy loop
    # The window moves on (the old sends age past 24 h): the campaign continues.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE number_recipient_contacts SET messaged_at = now() - interval '25 hours'"
            " WHERE messaged_at < now() - interval '30 minutes'"
        )
        await conn.execute("UPDATE campaigns SET next_feed_at = now() WHERE id = $1",
                           uuid.UUID(campaign["id"]))  # fmt: skip
    await state_becomes(world, team, campaign["id"], "completed")
    assert len(await world.sent(number)) == 5


async def test_funnel_follows_statuses_and_replies_and_never_moves_backwards(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    phone = fresh_phone()
    await world.contact(team, phone, "Sara", tags=("vip",))
    campaign = await draft(world, team, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"
    await world.request(team, "owner", "POST", f"{path}/start")
    await state_becomes(world, team, campaign["id"], "completed")
    [recipient] = await recipients(world, team, campaign["id"])
    number, now = await pnid(world, team), datetime.now(UTC)

    async def status(kind: str, echoed: str = str(recipient["id"])) -> None:
        event = StatusReceived(
            phone_number_id=number, waba_id=team.waba_id, received_at=now,
            status={"id": "wamid.X", "status": kind, "recipient_id": phone.lstrip("+"),
                    "timestamp": str(int(now.timestamp())),
                    "biz_opaque_callback_data": echoed},
        )  # fmt: skip
        await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    async def recipient_state(expected: str) -> None:
        async with asyncio.timeout(10):
            while (await recipients(world, team, campaign["id"]))[0]["state"] != expected:  # noqa: ASYNC110  # polls another process
                await asyncio.sleep(0.05)

    # A reply's echo is tagged: the same id behind the tag is never taken for a recipient.
    await status("read", callback_data(recipient["id"], bulk=False))
    await status("delivered")  # a marker: once it is processed, the tagged one was too
    await recipient_state("delivered")
    await status("read")
    await recipient_state("read")
    for late in ("delivered", "sent", "failed"):
        await status(late)
    await status("read")  # a marker: once it is processed, the late ones were too
    await asyncio.sleep(0.5)
    [row] = await recipients(world, team, campaign["id"])
    assert row["state"] == "read"
    assert row["delivered_at"] is not None
    reply = MessageReceived(
        phone_number_id=number, waba_id=team.waba_id, received_at=datetime.now(UTC),
        message={"from": phone.lstrip("+"), "id": "wamid.in", "type": "text",
                 "timestamp": str(int(now.timestamp())), "text": {"body": "Interested"}},
    )  # fmt: skip
    await world.publisher.publish(make_envelope(reply, tenant_id=team.tenant_id))
    await recipient_state("replied")
    await status("read")
    await asyncio.sleep(0.3)
    _status_code, body = await world.request(team, "viewer", "GET", path)
    assert (await recipients(world, team, campaign["id"]))[0]["state"] == "replied"
    progress = body["progress"]
    assert {k: progress[k] for k in ("queued", "sent", "delivered", "read", "replied")} == {
        "queued": 1, "sent": 1, "delivered": 1, "read": 1, "replied": 1,
    }  # fmt: skip


async def test_schedule_is_read_in_the_tenants_time_zone_and_starts_when_due(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    await world.contact(team, fresh_phone(), "Sara", tags=("vip",))
    campaign = await draft(world, team, template_id, scheduled_at="2099-03-01T09:00:00")
    assert campaign["timezone"] == "Asia/Dubai"
    assert campaign["scheduled_at"] == "2099-03-01T05:00:00+00:00"
    assert campaign["scheduled_at_local"] == "2099-03-01T09:00:00+04:00"
    path = f"/api/v1/campaigns/{campaign['id']}"
    status, with_offset = await world.request(
        team, "owner", "PATCH", path, {"scheduled_at": "2099-03-01T09:00:00+01:00"}
    )
    assert with_offset["scheduled_at"] == "2099-03-01T08:00:00+00:00"
    status, past = await world.request(
        team, "owner", "PATCH", path, {"scheduled_at": "2001-01-01T09:00:00"}
    )
    assert status == 422, past
    status, scheduled = await world.request(team, "owner", "POST", f"{path}/start")
    assert status == 200
    assert scheduled["state"] == "scheduled"
    status, _ = await world.request(team, "owner", "POST", f"{path}/pause")
    assert status == 409
    await asyncio.sleep(0.3)
    assert (await state_becomes(world, team, campaign["id"], "scheduled"))["started_at"] is None
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE campaigns SET scheduled_at = now() WHERE id = $1", uuid.UUID(campaign["id"])
        )
    await state_becomes(world, team, campaign["id"], "completed")
    assert len(await world.sent(await pnid(world, team))) == 1

    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute("UPDATE tenants SET timezone = 'Europe/London' WHERE id = $1",
                           team.tenant_id)  # fmt: skip
    london = await draft(world, team, template_id, scheduled_at="2099-07-01T09:00:00")
    assert london["scheduled_at"] == "2099-07-01T08:00:00+00:00"  # BST


async def test_validation_errors_are_problem_details(campaign_world: CampaignWorld) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    good = {
        "name": "Offers", "number_id": str(team.number_id), "template_id": template_id,
        "parameters": mapping(),
    }  # fmt: skip

    async def refused(body: dict[str, Any], role: str = "owner", code: int = 422) -> Any:
        status, problem = await world.request(team, role, "POST", "/api/v1/campaigns", body)
        assert status == code, problem
        assert "title" in problem
        assert "type" in problem
        return problem

    await refused({**good, "colour": "red"})
    await refused({**good, "parameters": {"body": [{"source": "name"}]}})  # 1 of 2
    await refused({**good, "parameters": {"body": [{"source": "attribute"}] * 2}})  # no key
    await refused({**good, "audience": {"source": "contact_ids"}})
    await refused({**good, "template_id": str(uuid.uuid4())})
    await refused(good, role="agent", code=403)
    await refused(good, role="viewer", code=403)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE templates SET status = 'PENDING' WHERE id = $1", uuid.UUID(template_id)
        )
    problem = await refused(good)
    assert problem["errors"][0]["code"] == "template-not-approved"


async def test_another_tenants_campaign_is_not_found_on_every_endpoint(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    owner, other = await world.team(), await world.team()
    template_id = await world.approved_template(owner, BODY, ["Sara", "Dubai"])
    campaign = await draft(world, owner, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", path, None),
        ("PATCH", path, {"name": "Mine now"}),
        ("DELETE", path, None),
        ("POST", f"{path}/audience-preview", None),
        ("POST", f"{path}/start", None),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/resume", None),
        ("POST", f"{path}/cancel", None),
    ]
    for method, url, body in calls:
        status, problem = await world.request(other, "owner", method, url, body)
        assert status == 404, (method, url, problem)
    for url, data, kind in (
        (f"{path}/report.csv", b"", "text/plain"),
        (f"{path}/audience.csv", b"phone\n+971501234567\n", "text/csv"),
    ):
        method = "GET" if url.endswith("report.csv") else "PUT"
        status, _ = await world.raw(other, "owner", method, url, data, kind)
        assert status == 404, url
    status, listing = await world.request(other, "owner", "GET", "/api/v1/campaigns")
    assert listing["items"] == []
    # Another tenant's template or number cannot be used either.
    status, problem = await world.request(
        other, "owner", "POST", "/api/v1/campaigns",
        {"name": "X", "number_id": str(other.number_id), "template_id": template_id},
    )  # fmt: skip
    assert status == 422, problem
    # Another tenant's contact in an explicit list is unknown there, never reached.
    foreign = await world.contact(owner, fresh_phone(), "Owner's customer")
    other_template = await world.approved_template(other, BODY, ["Sara", "Dubai"])
    mine = await draft(
        world, other, other_template,
        audience={"source": "contact_ids", "contact_ids": [str(foreign)]},
    )  # fmt: skip
    status, preview = await world.request(
        other, "owner", "POST", f"/api/v1/campaigns/{mine['id']}/audience-preview"
    )
    assert preview["reachable"] == 0
    assert preview["skipped_by_reason"] == {"unknown-contact": 1}
    status, still = await world.request(owner, "viewer", "GET", path)
    assert status == 200
    assert still["name"] == "Spring offers"
    assert still["state"] == "draft"


async def test_account_update_webhook_is_kept_on_the_accounts_numbers(
    campaign_world: CampaignWorld,
) -> None:
    """Meta restricts a WhatsApp Business Account: every number of that account (of the
    tenant the webhook was routed to) keeps the event and its time, for Settings; another
    tenant's numbers are untouched, and an event that is not one of Meta's names is ignored."""
    world = campaign_world
    team, other = await world.team(), await world.team()

    async def account(of: Team) -> tuple[str | None, datetime | None]:
        async with tenant_transaction(world.pool, of.tenant_id) as conn:
            row = await conn.fetchrow(
                "SELECT account_event, account_updated_at FROM whatsapp_numbers WHERE id = $1",
                of.number_id,
            )
        assert row is not None
        return row["account_event"], row["account_updated_at"]

    for value in ({"event": "not an event; DROP TABLE"}, {"event": "ACCOUNT_RESTRICTION"}):
        event = AccountReceived(
            waba_id=team.waba_id,
            value={"phone_number": "97143000000", **value},
            received_at=datetime.now(UTC),
        )
        await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))
    async with asyncio.timeout(10):
        while (await account(team))[0] is None:  # noqa: ASYNC110  # polls the database
            await asyncio.sleep(0.05)
    kind, at = await account(team)
    assert kind == "ACCOUNT_RESTRICTION"
    assert at is not None
    assert await account(other) == (None, None)


async def test_a_disabled_account_stops_its_numbers_sends_until_reinstated(
    campaign_world: CampaignWorld,
) -> None:
    """DISABLED_UPDATE with ban state DISABLE blocks the account's numbers (the dispatcher
    holds their sends), REINSTATE lifts it; SCHEDULE_FOR_DISABLE only warns. Webhooks arrive
    out of order: an update older (by Meta's time) than the one applied changes neither the
    block nor the event shown. Another tenant's numbers are untouched."""
    world = campaign_world
    team, other = await world.team(), await world.team()
    t0 = int(time.time()) - 100

    async def shown(of: Team) -> tuple[str | None, str | None]:
        async with tenant_transaction(world.pool, of.tenant_id) as conn:
            row = await conn.fetchrow(
                "SELECT sending_blocked_reason, account_event FROM whatsapp_numbers WHERE id = $1",
                of.number_id,
            )
        assert row is not None
        return row["sending_blocked_reason"], row["account_event"]

    async def update(at: int, ban_state: str | None = None) -> None:
        value: dict[str, Any] = {"event": "ACCOUNT_VIOLATION"}
        if ban_state is not None:
            value = {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": ban_state}}
        event = AccountReceived(
            waba_id=team.waba_id, value=value, entry_time=t0 + at, received_at=datetime.now(UTC)
        )
        await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    async def becomes(want: tuple[str | None, str | None], *, stays: bool = False) -> None:
        async with asyncio.timeout(10):
            while await shown(team) != want:  # noqa: ASYNC110  # polls the database
                await asyncio.sleep(0.05)
        if stays:  # a late update published before must not change it once handled
            await asyncio.sleep(0.5)
            assert await shown(team) == want

    await update(0, "SCHEDULE_FOR_DISABLE")
    await becomes((None, "DISABLED_UPDATE"))
    await update(10, "DISABLE")
    await becomes(("account-disabled", "DISABLED_UPDATE"))
    assert await shown(other) == (None, None)

    await update(5, "REINSTATE")  # late: older than the ban
    await update(20)
    await becomes(("account-disabled", "ACCOUNT_VIOLATION"), stays=True)
    await update(30, "REINSTATE")
    await becomes((None, "DISABLED_UPDATE"))
    await update(25, "DISABLE")  # late: older than the reinstatement
    await update(40)
    await becomes((None, "ACCOUNT_VIOLATION"), stays=True)
    # Bans are ordered among themselves: one newer than the reinstatement applies, though an
    # event newer than it stays the one shown.
    await update(35, "DISABLE")
    await becomes(("account-disabled", "ACCOUNT_VIOLATION"))
    assert await shown(other) == (None, None)


async def test_an_account_restriction_holds_campaigns_or_replies_until_it_expires(
    campaign_world: CampaignWorld,
) -> None:
    """ACCOUNT_RESTRICTION states the account's restrictions: starting conversations
    restricted holds bulk sends, answering customers holds replies, each until Meta's
    expiration (seconds or ISO text; none readable: until lifted); adding numbers holds
    nothing. A late update changes nothing; a newer one replaces the holds."""
    world = campaign_world
    team, other = await world.team(), await world.team()
    t0 = int(time.time()) - 100
    soon, later = t0 + 3700, t0 + 7300

    async def holds(of: Team) -> tuple[Any, Any]:
        async with tenant_transaction(world.pool, of.tenant_id) as conn:
            row = await conn.fetchrow(
                "SELECT extract(epoch FROM restricted_bulk_until) AS bulk,"
                " extract(epoch FROM restricted_replies_until) AS replies"
                " FROM whatsapp_numbers WHERE id = $1",
                of.number_id,
            )
        assert row is not None
        return (
            None if row["bulk"] is None else float(row["bulk"]),
            None if row["replies"] is None else float(row["replies"]),
        )

    async def restrict(at: int, *entries: tuple[str, Any]) -> None:
        info = [{"restriction_type": f"RESTRICTED_{kind}", "expiration": ends}
                for kind, ends in entries]  # fmt: skip
        value = {"event": "ACCOUNT_RESTRICTION", "restriction_info": info}
        event = AccountReceived(
            waba_id=team.waba_id, value=value, entry_time=t0 + at, received_at=datetime.now(UTC)
        )
        await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    async def becomes(want: tuple[Any, Any]) -> None:
        async with asyncio.timeout(10):
            while await holds(team) != want:  # noqa: ASYNC110  # polls the database
                await asyncio.sleep(0.05)

    iso_later = datetime.fromtimestamp(later, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    await restrict(
        10,
        ("BIZ_INITIATED_MESSAGING", soon),
        ("BIZ_INITIATED_MESSAGING", iso_later),
        ("ADD_PHONE_NUMBER_ACTION", later),
    )
    await becomes((float(later), None))
    assert await holds(other) == (None, None)
    await restrict(5, ("CUSTOMER_INITIATED_MESSAGING", soon))  # late: older than the one shown
    await restrict(20, ("CUSTOMER_INITIATED_MESSAGING", "not a time"))
    await becomes((None, float("inf")))
    await asyncio.sleep(0.5)  # the late one, handled by now, changed nothing
    assert await holds(team) == (None, float("inf"))
    await restrict(30)  # Meta's word that no restriction remains
    await becomes((None, None))


async def test_phone_quality_webhook_sets_the_numbers_messaging_tier(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team, other = await world.team(), await world.team()
    value = {"display_phone_number": "97143000000", "event": "UPGRADE", "current_limit": "TIER_10K"}
    event = PhoneQualityReceived(waba_id=team.waba_id, value=value, received_at=datetime.now(UTC))
    await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    async def tier(of: Team) -> str:
        async with tenant_transaction(world.pool, of.tenant_id) as conn:
            found: str = await conn.fetchval(
                "SELECT messaging_tier FROM whatsapp_numbers WHERE id = $1", of.number_id
            )
        return found

    async with asyncio.timeout(10):
        while await tier(team) != "TIER_10K":  # noqa: ASYNC110  # polls the database
            await asyncio.sleep(0.05)
    assert await tier(other) == "TIER_1K"  # same display number, another tenant: untouched
    # The event is kept for Settings (GET /api/v1/numbers), with when it came.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT quality_event, quality_updated_at FROM whatsapp_numbers WHERE id = $1",
            team.number_id,
        )
    assert row is not None
    assert row["quality_event"] == "UPGRADE"
    assert row["quality_updated_at"] is not None
    async with tenant_transaction(world.pool, other.tenant_id) as conn:
        assert await conn.fetchval("SELECT quality_event FROM whatsapp_numbers") is None

    # An event without a tier (FLAGGED) is kept too; the tier stays.
    flagged = {"display_phone_number": "97143000000", "event": "FLAGGED"}
    event = PhoneQualityReceived(waba_id=team.waba_id, value=flagged, received_at=datetime.now(UTC))
    await world.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))

    async def last_event() -> str | None:
        async with tenant_transaction(world.pool, team.tenant_id) as conn:
            found: str | None = await conn.fetchval(
                "SELECT quality_event FROM whatsapp_numbers WHERE id = $1", team.number_id
            )
        return found

    async with asyncio.timeout(10):
        while await last_event() != "FLAGGED":  # noqa: ASYNC110  # polls the database
            await asyncio.sleep(0.05)
    assert await tier(team) == "TIER_10K"


async def test_the_plan_caps_campaigns_per_month(campaign_world: CampaignWorld) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    good = {
        "name": "Offers", "number_id": str(team.number_id), "template_id": template_id,
        "parameters": mapping(),
    }  # fmt: skip
    for _ in range(30):  # Starter: thirty a month
        status, created = await world.request(team, "owner", "POST", "/api/v1/campaigns", good)
        assert status == 201, created
    status, problem = await world.request(team, "owner", "POST", "/api/v1/campaigns", good)
    assert status == 403
    assert problem["type"].endswith("/plan-limit-reached")
    assert (problem["limit"], problem["used"]) == ("campaigns_per_month", 30)
    await set_plan(world.pool, team.tenant_id, "business")
    assert (await world.request(team, "owner", "POST", "/api/v1/campaigns", good))[0] == 201


async def test_failures_are_grouped_by_metas_code_and_title_and_listed_with_progress(
    campaign_world: CampaignWorld,
) -> None:
    world = campaign_world
    team = await world.team()
    template_id = await world.approved_template(team, BODY, ["Sara", "Dubai"])
    for name in ("Sara", "Omar", "Huda"):
        await world.contact(team, fresh_phone(), name, tags=("vip",))
    campaign = await draft(world, team, template_id)
    path = f"/api/v1/campaigns/{campaign['id']}"
    status, body = await world.request(team, "viewer", "GET", path)
    assert status == 200, body
    assert body["failed_by_reason"] == []
    # Meta refuses the first two sends (a 4xx that is not retried): "Message undeliverable".
    fault = {"phone_number_id": await pnid(world, team), "code": 131026, "count": 2}
    async with world.http.post(f"{world.sim}/_sim/faults", json=fault) as response:
        assert response.status == 200, await response.text()
    await world.request(team, "owner", "POST", f"{path}/start")
    done = await state_becomes(world, team, campaign["id"], "completed")
    assert (done["progress"]["failed"], done["progress"]["sent"]) == (2, 1)
    [group] = done["failed_by_reason"]
    assert group["code"] == 131026
    assert group["count"] == 2
    assert "Message undeliverable" in group["title"]
    # The list shows each campaign's progress too (counted in one statement per page).
    status, page = await world.request(team, "viewer", "GET", "/api/v1/campaigns")
    assert status == 200, page
    [listed] = [c for c in page["items"] if c["id"] == campaign["id"]]
    assert (listed["progress"]["failed"], listed["progress"]["sent"]) == (2, 1)
    # The same recipients' codes in the report: the groups add up to it.
    status, raw = await world.raw(team, "owner", "GET", f"{path}/report.csv", b"", "text/plain")
    assert status == 200
    report = list(csv.DictReader(io.StringIO(raw.decode())))
    assert sorted(r["error_code"] for r in report if r["state"] == "failed") == ["131026"] * 2
    # Another tenant sees neither the campaign nor its failures.
    other = await world.team()
    status, problem = await world.request(other, "owner", "GET", path)
    assert status == 404
    assert "failed_by_reason" not in problem
