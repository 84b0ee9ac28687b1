"""The dispatcher against the Graph API simulator: sends once, reports every outcome, handles
Meta's error codes, pauses numbers whose token died, paces, and serves interactive first."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broadcast.dispatcher import WINDOW_TITLE
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import StatusReceived
from majlis.meta.callback import callback_data

# The world's class lives in this folder's conftest.py (not importable under mypy's paths).
DispatchWorld = Any

SENT, FAILED = "broadcast.message.sent", "broadcast.message.failed"


async def _until_paused(world: DispatchWorld, number: Any) -> None:
    """Wait until the dispatcher paused the number for want of a usable token."""
    async with asyncio.timeout(10):
        while True:
            async with tenant_transaction(world.pool, number.tenant_id) as conn:
                paused = await conn.fetchval(
                    "SELECT token_invalid_at FROM whatsapp_numbers WHERE id = $1", number.number_id
                )
            if paused is not None:
                return
            await asyncio.sleep(0.02)


async def test_reply_is_sent_once_and_reported_with_the_wamid(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    envelope = world.command(number, to, "مرحبا / hello")
    message_id = uuid.UUID(envelope.payload["message_id"])
    await world.publisher.publish(envelope)

    event = await world.observed.wait(SENT, message_id)
    [sent] = await world.sent(number)
    assert sent["to"] == to
    assert sent["type"] == "text"
    assert sent["payload"]["text"] == {"body": "مرحبا / hello"}
    # A reply echoes its id behind the interactive tag (campaign progress passes it over).
    assert sent["payload"]["biz_opaque_callback_data"] == "i:" + str(message_id)
    assert event["wamid"] == sent["id"]
    row = await world.row(number, message_id)
    assert (row["state"], row["wamid"], row["attempts"]) == ("sent", sent["id"], 1)
    assert row["payload_enc"] is None  # the content is not kept once sent

    # Redelivery of the same command (and a copy with a new event id): nothing is sent again.
    await world.publisher.publish(envelope)
    await world.publisher.publish(world.command(number, to, "again", message_id=message_id))
    await asyncio.sleep(0.6)
    assert len(await world.sent(number)) == 1
    assert len(world.observed.of(SENT, message_id)) == 1
    assert world.observed.of(FAILED, message_id) == []


@pytest.mark.parametrize("held", [False, True], ids=["sent-at-once", "held-number"])
async def test_a_command_whose_send_is_already_final_is_never_sent(
    dispatch_world: DispatchWorld, held: bool
) -> None:
    """The contract a contact's erasure relies on (test_contacts_privacy.py): a reply whose
    command is still on its way when the person is erased gets its send row failed first,
    and the command, when it comes, sends nothing, whether it would go out at once or wait."""
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    message_id = uuid.uuid4()
    async with tenant_transaction(world.pool, number.tenant_id, "owner") as conn:
        if held:
            await conn.execute(
                "UPDATE whatsapp_numbers SET token_invalid_at = now() WHERE id = $1",
                number.number_id,
            )
        await conn.execute(
            "INSERT INTO outbound_sends (tenant_id, id, number_id, state, error_title)"
            " VALUES ($1, $2, $3, 'failed', 'contact-erased')",
            number.tenant_id, message_id, number.number_id,
        )  # fmt: skip
    await world.publisher.publish(world.command(number, to, "erased", message_id=message_id))
    # A later command on another number goes through: the first had its turn by then.
    other = await world.number()
    await world.open_window(other, to)
    control = await world.send(other, to, "control")
    await world.observed.wait(SENT, control)
    await asyncio.sleep(0.5)
    assert await world.sent(number) == []
    row = await world.row(number, message_id)
    assert (row["state"], row["attempts"], row["payload_enc"]) == ("failed", 0, None)
    assert row["error_title"] == "contact-erased"
    assert world.observed.of(SENT, message_id) == []
    assert world.observed.of(FAILED, message_id) == []


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare-id-of-an-older-send"])
async def test_a_send_left_in_sending_is_reconciled_by_its_status_echo_never_resent(
    dispatch_world: DispatchWorld, tagged: bool
) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    lost, stale = uuid.uuid4(), uuid.uuid4()
    # A crash between Meta's answer and our commit leaves the row claimed ('sending').
    async with tenant_transaction(world.pool, number.tenant_id) as conn:
        for send_id, age in ((lost, timedelta(0)), (stale, timedelta(minutes=11))):
            await conn.execute(
                "INSERT INTO outbound_sends (tenant_id, id, number_id, state, attempts,"
                " payload_enc, updated_at) VALUES ($1, $2, $3, 'sending', 1, '\\x00',"
                " now() - $4::interval)",
                number.tenant_id, send_id, number.number_id, age,
            )  # fmt: skip
    await world.publisher.publish(world.command(number, to, message_id=lost))  # redelivered

    wamid = "wamid.reconciled" + uuid.uuid4().hex
    status = StatusReceived(
        phone_number_id=number.phone_number_id,
        waba_id="1",
        status={
            "id": wamid,
            "status": "sent",
            "biz_opaque_callback_data": callback_data(lost, bulk=not tagged),
        },
        received_at=datetime.now(UTC),
    )
    await world.publisher.publish(make_envelope(status, tenant_id=number.tenant_id))
    assert (await world.observed.wait(SENT, lost))["wamid"] == wamid
    assert (await world.state_becomes(number, lost, "sent"))["wamid"] == wamid

    # Never settled for 10 minutes: failed as outcome-unknown, and not sent either.
    failed = await world.observed.wait(FAILED, stale)
    assert failed["error_title"] == "outcome-unknown"
    assert failed["retryable"] is False
    await world.state_becomes(number, stale, "failed")
    assert await world.sent(number) == []
    # A second echo changes nothing.
    await world.publisher.publish(make_envelope(status, tenant_id=number.tenant_id))
    await asyncio.sleep(0.3)
    assert len(world.observed.of(SENT, lost)) == 1


async def test_outside_the_window_fails_with_131047(dispatch_world: DispatchWorld) -> None:
    world = dispatch_world
    number = await world.number()
    message_id = await world.send(number, world.fresh_phone())  # no window opened
    failed = await world.observed.wait(FAILED, message_id)
    assert failed["error_code"] == 131047
    assert failed["error_title"] == WINDOW_TITLE
    assert failed["retryable"] is False
    row = await world.state_becomes(number, message_id, "failed")
    assert (row["error_code"], row["attempts"]) == (131047, 1)


async def test_throughput_and_pair_limits_are_retried_not_failed(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    await world.fail_next(number, 130429, count=2)
    throttled = await world.send(number, to)
    await world.state_becomes(number, throttled, "sent")
    assert (await world.row(number, throttled))["attempts"] == 3

    other = world.fresh_phone()
    await world.open_window(number, other)
    await world.fail_next(number, 131056)
    paired = await world.send(number, other)
    await world.state_becomes(number, paired, "sent")
    row = await world.row(number, paired)
    assert (row["attempts"], row["transient_failures"]) == (2, 0)
    assert world.observed.of(FAILED, throttled) == world.observed.of(FAILED, paired) == []
    assert len(await world.sent(number)) == 2


async def test_server_errors_are_retried_with_a_bound(dispatch_world: DispatchWorld) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    await world.fail_next(number, 131016, status=503)
    recovered = await world.send(number, to)
    await world.state_becomes(number, recovered, "sent")
    assert (await world.row(number, recovered))["transient_failures"] == 1

    await world.fail_next(number, 1, status=500, count=5)
    doomed = await world.send(number, to)
    failed = await world.observed.wait(FAILED, doomed)
    assert failed["error_code"] == 1
    assert failed["retryable"] is True
    row = await world.state_becomes(number, doomed, "failed")
    assert row["attempts"] == 3  # max_transient_failures in TEST_CONFIG
    assert len(await world.sent(number)) == 1


async def test_other_client_errors_fail_with_metas_code_and_title(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    await world.fail_next(number, 131026)
    message_id = await world.send(number, to)
    failed = await world.observed.wait(FAILED, message_id)
    assert failed["error_code"] == 131026
    assert "Message undeliverable" in failed["error_title"]
    assert failed["retryable"] is False
    assert (await world.row(number, message_id))["attempts"] == 1


async def test_invalid_token_pauses_the_number_until_the_token_is_replaced(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number(token="revoked-token")  # the simulator answers 190
    to = world.fresh_phone()
    await world.open_window(number, to)
    first = await world.send(number, to, "one")
    await _until_paused(world, number)
    second = await world.send(number, to, "two")
    await asyncio.sleep(0.5)
    for message_id in (first, second):
        row = await world.row(number, message_id)
        assert row["state"] == "queued"
        assert world.observed.of(FAILED, message_id) == []
    # The paused number's second message never reached Meta.
    assert (await world.row(number, second))["attempts"] == 0
    assert await world.sent(number) == []

    token_enc = world.cipher.encrypt(
        "EAAnew" + uuid.uuid4().hex,
        tenant_id=number.tenant_id,
        field="whatsapp_numbers.access_token",
    )
    async with tenant_transaction(world.pool, number.tenant_id, "admin") as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET access_token_enc = $2 WHERE id = $1",
            number.number_id, token_enc,
        )  # fmt: skip
    await world.state_becomes(number, first, "sent")
    await world.state_becomes(number, second, "sent")
    assert sorted(s["payload"]["text"]["body"] for s in await world.sent(number)) == ["one", "two"]


async def test_another_tenants_token_copied_into_a_number_is_never_used(
    dispatch_world: DispatchWorld,
) -> None:
    """Checklist 29: tenant B's sealed token pasted into tenant A's number (a database write
    past the API) does not decrypt there (it is bound to B and the column), so nothing reaches
    Meta with it; the number waits for a token of its own, as with a revoked one."""
    world = dispatch_world
    victim, number = await world.number(), await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    async with tenant_transaction(world.pool, victim.tenant_id) as conn:
        stolen = await conn.fetchval(
            "SELECT access_token_enc FROM whatsapp_numbers WHERE id = $1", victim.number_id
        )
    async with tenant_transaction(world.pool, number.tenant_id, "owner") as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET access_token_enc = $2 WHERE id = $1",
            number.number_id, stolen,
        )  # fmt: skip
    message_id = await world.send(number, to, "hello")
    await _until_paused(world, number)
    row = await world.row(number, message_id)
    assert (row["state"], row["wamid"]) == ("queued", None)
    assert await world.sent(number) == []
    assert await world.sent(victim) == []
    assert world.observed.of(SENT, message_id) == []


@pytest.mark.parametrize(("code", "reason"), [(131031, "account-locked"), (368, "policy-block")])
async def test_a_blocked_account_holds_the_numbers_sends_until_the_block_ends(
    dispatch_world: DispatchWorld, code: int, reason: str
) -> None:
    """Meta blocked the account: the refused send and every later one wait (queued, never
    failed, never offered to Meta again) until the block is lifted, then all are sent once."""
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    await world.fail_next(number, code)
    first = await world.send(number, to, "one")

    async def block() -> Any:
        async with tenant_transaction(world.pool, number.tenant_id) as conn:
            return await conn.fetchrow(
                "SELECT sending_blocked_at, sending_blocked_reason FROM whatsapp_numbers"
                " WHERE id = $1",
                number.number_id,
            )

    async with asyncio.timeout(10):
        while (await block())["sending_blocked_at"] is None:  # noqa: ASYNC110  # polls the db
            await asyncio.sleep(0.02)
    assert (await block())["sending_blocked_reason"] == reason
    second = await world.send(number, to, "two")
    await asyncio.sleep(0.5)
    for message_id in (first, second):
        assert (await world.row(number, message_id))["state"] == "queued"
        assert world.observed.of(FAILED, message_id) == []
    assert (await world.row(number, first))["attempts"] == 1
    assert (await world.row(number, second))["attempts"] == 0
    assert await world.sent(number) == []

    # Lifted (Meta reinstated the account, or a manager resumed sending).
    async with tenant_transaction(world.pool, number.tenant_id, "admin") as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET sending_blocked_at = NULL, sending_blocked_reason = NULL"
            " WHERE id = $1",
            number.number_id,
        )
    await world.state_becomes(number, first, "sent")
    await world.state_becomes(number, second, "sent")
    assert sorted(s["payload"]["text"]["body"] for s in await world.sent(number)) == ["one", "two"]
    for message_id in (first, second):
        await world.observed.wait(SENT, message_id)
        assert len(world.observed.of(SENT, message_id)) == 1


@pytest.mark.parametrize("restricted", ["bulk", "replies"])
async def test_a_restriction_holds_its_kind_of_send_until_it_expires(
    dispatch_world: DispatchWorld, restricted: str
) -> None:
    """Meta restricts starting conversations (campaign sends held) or answering customers
    (replies held) until a time: the other kind still goes; the held sends go once the
    restriction has expired, each once."""
    world = dispatch_world
    number = await world.number()
    to_bulk, to_reply = world.fresh_phone(), world.fresh_phone()
    for to in (to_bulk, to_reply):
        await world.open_window(number, to)
    column = f"restricted_{restricted}_until"
    async with tenant_transaction(world.pool, number.tenant_id) as conn:
        await conn.execute(
            f"UPDATE whatsapp_numbers SET {column} = now() + interval '1 hour'"  # noqa: S608
            " WHERE id = $1",
            number.number_id,
        )
    campaign = await world.send(number, to_bulk, "promo", bulk=True)
    reply = await world.send(number, to_reply, "reply")
    held, free = (campaign, reply) if restricted == "bulk" else (reply, campaign)
    await world.state_becomes(number, free, "sent")
    await asyncio.sleep(0.5)
    row = await world.row(number, held)
    assert (row["state"], row["attempts"]) == ("queued", 0)
    assert world.observed.of(FAILED, held) == []
    assert len(await world.sent(number)) == 1

    async with tenant_transaction(world.pool, number.tenant_id) as conn:
        await conn.execute(
            f"UPDATE whatsapp_numbers SET {column} = now() - interval '1 second'"  # noqa: S608
            " WHERE id = $1",
            number.number_id,
        )
    await world.state_becomes(number, held, "sent")
    assert sorted(s["payload"]["text"]["body"] for s in await world.sent(number)) == [
        "promo",
        "reply",
    ]


async def test_a_numbers_rate_is_respected_over_a_burst(dispatch_world: DispatchWorld) -> None:
    world = dispatch_world
    number = await world.number(rate=20)
    recipients = [world.fresh_phone() for _ in range(30)]
    for to in recipients:
        await world.open_window(number, to)
    started = time.monotonic()
    ids = [await world.send(number, to) for to in recipients]
    for message_id in ids:
        await world.state_becomes(number, message_id, "sent", within=15)
    elapsed = time.monotonic() - started
    # 30 sends at 20/s with a bucket of 1: at least ~1.45 s; loosely bounded above.
    assert 1.3 <= elapsed <= 8.0, elapsed
    rows = [await world.row(number, m) for m in ids]
    assert all(r["attempts"] == 1 for r in rows)  # never throttled by Meta


async def test_messages_to_one_recipient_are_paced(dispatch_world: DispatchWorld) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    ids = [await world.send(number, to, f"bubble {i}") for i in range(4)]
    rows = [await world.state_becomes(number, m, "sent") for m in ids]
    sent_at = sorted(r["updated_at"] for r in rows)
    # TEST_CONFIG: 1 per second per recipient, bursts of 2 → the 4th goes ≥ ~2 s after the 1st.
    assert (sent_at[-1] - sent_at[0]).total_seconds() >= 1.5
    assert all(r["attempts"] == 1 for r in rows)  # no 131056 from Meta


async def test_interactive_overtakes_a_backlog_of_bulk(dispatch_world: DispatchWorld) -> None:
    world = dispatch_world
    number = await world.number(rate=10)  # bulk may use 8/s of it
    recipients = [world.fresh_phone() for _ in range(25)]
    for to in recipients:
        await world.open_window(number, to)
    bulk = [await world.send(number, to, "promo", bulk=True) for to in recipients[:24]]
    await asyncio.sleep(0.3)
    reply = await world.send(number, recipients[24], "agent reply")
    replied = await world.state_becomes(number, reply, "sent", within=5)
    last = [await world.state_becomes(number, m, "sent", within=15) for m in bulk]
    order = [s["payload"]["text"]["body"] for s in await world.sent(number)]
    assert order.index("agent reply") <= 8, order
    assert (max(r["updated_at"] for r in last) - replied["updated_at"]).total_seconds() > 1.0
    # Results say which sends were bulk (the inbox skips those: never its messages).
    assert (await world.observed.wait(SENT, reply))["bulk"] is False
    assert [(await world.observed.wait(SENT, m))["bulk"] for m in bulk] == [True] * len(bulk)
