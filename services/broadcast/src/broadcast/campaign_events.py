"""Campaign progress from webhooks: statuses, replies, and the numbers' messaging tiers.

Status webhooks echo our send id (biz_opaque_callback_data), which is the recipient's id (a
reply's or an API message's is tagged, majlis.meta.callback, and skipped without a query); a
recipient only moves forward, so redelivered or late webhooks change nothing. A reply is an
inbound message from a recipient on the campaign's number after their campaign message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from broadcast import campaigns_repository as repo
from broadcast.campaign_lifecycle import CampaignDeps
from broadcast.campaign_runner import TIER_LIMITS
from broadcast.campaigns import RECIPIENT_PHONE_FIELD
from majlis.crypto import normalise_phone
from majlis.crypto.blind_index import InvalidPhoneNumber
from majlis.db import tenant_transaction
from majlis.events import Envelope, Event
from majlis.events.webhook_ingest import (
    AccountReceived,
    MessageReceived,
    PhoneQualityReceived,
    StatusReceived,
)
from majlis.logging import get_logger
from majlis.messaging import Handler
from majlis.meta.callback import read_echo

log = get_logger(__name__)
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
# A reply counts for the campaign message sent within the three days before it.
REPLY_WINDOW_S = 3 * 86_400.0
# A phone_number_quality_update event name (ONBOARDING, THROUGHPUT_UPGRADE, FLAGGED...).
_EVENT = re.compile(r"^[A-Z_]{1,32}$")
_ACCOUNT_EVENT = re.compile(r"^[A-Z_]{1,64}$")
# Account updates that mean the business can no longer send as it did: worth a warning line.
_ACCOUNT_ALARMS = frozenset(
    {
        "ACCOUNT_RESTRICTION",
        "ACCOUNT_VIOLATION",
        "DISABLED_UPDATE",
        "ACCOUNT_DELETED",
        "ACCOUNT_OFFBOARDED",
        "PARTNER_APP_UNINSTALLED",
        "PARTNER_REMOVED",
    }
)


def _timestamp(status: dict[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(status.get("timestamp", "")), UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback


def on_campaign_status(get: Callable[[], CampaignDeps]) -> Handler:
    """A status webhook for a campaign message moves its recipient forward."""

    async def handle(event: Event, envelope: Envelope) -> None:
        received = cast(StatusReceived, event)
        status = received.status
        echo, kind = read_echo(status.get("biz_opaque_callback_data")), status.get("status")
        if echo is None or echo.interactive or kind not in STATUSES:
            return  # not a campaign's send: no recipient to move, no query
        recipient_id = echo.send_id
        code, title = None, None
        errors = status.get("errors")
        if kind == "failed" and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            raw_code = errors[0].get("code")
            code = raw_code if isinstance(raw_code, int) else None
            title = str(errors[0].get("title") or errors[0].get("message") or "")[:200] or None
        at = _timestamp(status, received.received_at)
        async with tenant_transaction(get().pool, envelope.tenant_id) as conn:
            await repo.advance(conn, recipient_id, str(kind), at, code, title)

    return handle


def on_campaign_reply(get: Callable[[], CampaignDeps]) -> Handler:
    """An inbound message from a campaign recipient marks them replied."""

    async def handle(event: Event, envelope: Envelope) -> None:
        received = cast(MessageReceived, event)
        sender = received.message.get("from")
        if not isinstance(sender, str) or not sender.isdigit():
            return  # a username-only sender (BSUID) is never a campaign recipient's number
        deps = get()
        try:
            phone = normalise_phone("+" + sender, deps.region)
        except InvalidPhoneNumber:
            phone = "+" + sender  # Meta's wa_id is already E.164 digits
        key = deps.indexer.value(phone, tenant_id=envelope.tenant_id, field=RECIPIENT_PHONE_FIELD)
        async with tenant_transaction(deps.pool, envelope.tenant_id) as conn:
            await repo.mark_replied(
                conn, key, received.phone_number_id, received.received_at, REPLY_WINDOW_S
            )

    return handle


def on_phone_quality(get: Callable[[], CampaignDeps]) -> Handler:
    """A phone_number_quality_update sets the number's messaging tier."""

    async def handle(event: Event, envelope: Envelope) -> None:
        received = cast(PhoneQualityReceived, event)
        value = received.value
        tier = value.get("current_limit") or value.get("max_daily_conversations_per_business")
        digits = "".join(ch for ch in str(value.get("display_phone_number", "")) if ch.isdigit())
        if tier == "TIER_1000":
            tier = "TIER_1K"
        raw_event = value.get("event")
        kind = raw_event if isinstance(raw_event, str) and _EVENT.fullmatch(raw_event) else None
        known_tier = str(tier) if tier in TIER_LIMITS else None
        if not digits or (known_tier is None and kind is None):
            return
        async with tenant_transaction(get().pool, envelope.tenant_id) as conn:
            updated = await repo.set_tier(conn, received.waba_id, digits, known_tier, kind)
        log.info("campaign.tier_updated", tier=known_tier, quality_event=kind, numbers=updated)

    return handle


def ban_state(value: dict[str, Any]) -> str | None:
    """DISABLE, REINSTATE or SCHEDULE_FOR_DISABLE from a DISABLED_UPDATE's ban_info (Meta's
    examples give a string; a list is read as its last entry); None if absent or unknown."""
    info = value.get("ban_info")
    state = info.get("waba_ban_state") if isinstance(info, dict) else None
    if isinstance(state, list) and state:
        state = state[-1]
    if isinstance(state, str) and state in {"DISABLE", "REINSTATE", "SCHEDULE_FOR_DISABLE"}:
        return state
    return None


# Restriction types that hold sends (migration 0027): starting conversations (campaigns) and
# answering customers (agents' and the bot's replies). Others (adding numbers) hold nothing.
_HOLDS = {
    "RESTRICTED_BIZ_INITIATED_MESSAGING": "bulk",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING": "replies",
}
_FOREVER = "infinity"


def _expiration(value: object) -> datetime | None:
    """Meta's expiration: seconds since 1970 (a number or digits) or an ISO 8601 text."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value), UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            return aware.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def restriction_holds(value: dict[str, Any]) -> dict[str, str | None]:
    """Until when an ACCOUNT_RESTRICTION holds bulk sends and replies: the latest expiration
    of each kind's restrictions (ISO text), 'infinity' for one without a readable expiration
    (until a newer update or a manager resumes), None for no hold."""
    ends: dict[str, list[datetime | None]] = {"bulk": [], "replies": []}
    entries = value.get("restriction_info")
    for entry in entries if isinstance(entries, list) else []:
        name = entry.get("restriction_type") if isinstance(entry, dict) else None
        kind = _HOLDS.get(name) if isinstance(name, str) else None
        if kind is not None:
            ends[kind].append(_expiration(entry.get("expiration")))
    holds: dict[str, str | None] = {}
    for kind, found in ends.items():
        known = [end for end in found if end is not None]
        if not found:
            holds[kind] = None
        elif len(known) < len(found):
            holds[kind] = _FOREVER
        else:
            holds[kind] = max(known).isoformat()
    return holds


def on_account_update(get: Callable[[], CampaignDeps]) -> Handler:
    """An account_update (restriction, ban, partner removed, ...) is kept on the account's
    numbers with its time, for Settings; the alarming kinds are logged as warnings. A
    DISABLED_UPDATE whose ban state is DISABLE stops the numbers' sends (the dispatcher holds
    them, migration 0026); REINSTATE lets them go again. SCHEDULE_FOR_DISABLE is a warning:
    the account still sends until Meta disables it. An ACCOUNT_RESTRICTION holds campaign
    sends and/or replies until Meta's expiration (restriction_holds)."""

    async def handle(event: Event, envelope: Envelope) -> None:
        received = cast(AccountReceived, event)
        raw_event = received.value.get("event")
        if not isinstance(raw_event, str) or not _ACCOUNT_EVENT.fullmatch(raw_event):
            log.info("number.account_update_ignored")
            return
        state = ban_state(received.value) if raw_event == "DISABLED_UPDATE" else None
        # Meta's time of the update orders them (webhooks arrive out of order).
        at = _timestamp({"timestamp": received.entry_time}, received.received_at)
        async with tenant_transaction(get().pool, envelope.tenant_id) as conn:
            updated = await repo.set_account_event(conn, received.waba_id, raw_event, at)
            if state in ("DISABLE", "REINSTATE"):
                reached = await repo.set_ban_state(conn, received.waba_id, state == "DISABLE", at)
                log.warning("number.ban_state", ban_state=state, numbers=reached)
            elif raw_event == "ACCOUNT_RESTRICTION":
                holds = restriction_holds(received.value)
                reached = await repo.set_restrictions(
                    conn, received.waba_id, holds["bulk"], holds["replies"], at
                )
                log.warning(
                    "number.restricted",
                    bulk_held=holds["bulk"] is not None,
                    replies_held=holds["replies"] is not None,
                    numbers=reached,
                )
        if raw_event in _ACCOUNT_ALARMS:
            log.warning("number.account_update", account_event=raw_event, numbers=updated)
        else:
            log.info("number.account_update", account_event=raw_event, numbers=updated)

    return handle
