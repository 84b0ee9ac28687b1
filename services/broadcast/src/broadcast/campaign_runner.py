"""The campaign runner: starts scheduled campaigns and feeds running ones to the dispatcher.

It runs in every replica. A campaign is fed under its row lock taken with SKIP LOCKED, so two
replicas never feed the same campaign at once. One feed moves pending recipients to queued,
inserting the dispatcher's outbound_sends rows and adding the SendBulkMessage commands to the
outbox in the SAME transaction: a crash before the commit leaves them pending (fed again), a
crash after leaves them queued with their sends recorded (the dispatcher sends each once).
Only a few seconds of the number's bulk rate are kept queued ahead, so a pause takes effect
within seconds; Meta's daily messaging tier caps how many new recipients go out per 24 h.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from broadcast import campaign_lifecycle as lifecycle
from broadcast import campaigns_repository as repo
from broadcast.campaign_lifecycle import CampaignDeps
from broadcast.campaign_progress import ProgressGate
from broadcast.campaigns import RECIPIENT_PARAMETERS_FIELD, RECIPIENT_PHONE_FIELD, funnel
from broadcast.dispatcher import PAYLOAD_FIELD
from majlis.db import tenant_transaction
from majlis.events.broadcast import SEND_PAYLOAD_FIELD, CampaignProgress, SendBulkMessage
from majlis.logging import get_logger

log = get_logger(__name__)

# Meta's messaging limits (unique users per moving 24 h); None = unlimited. TIER_NOT_SET is
# a new portfolio's 250.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_NOT_SET": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}


@dataclass(frozen=True)
class RunnerConfig:
    """Tuning of the runner."""

    interval_s: float = 1.0
    # How much of the number's bulk rate is kept queued at the dispatcher: a pause stops
    # new sends within about this long.
    feed_ahead_s: float = 5.0
    batch_max: int = 500
    due_batch: int = 100
    bulk_share: float = 0.8
    # The tier reached: look again when the window frees a slot, but at least this often
    # (a tier upgrade arrives by webhook).
    tier_recheck_s: float = 900.0


class CampaignRunner:
    """Periodically starts due scheduled campaigns and feeds running ones."""

    def __init__(
        self, deps: CampaignDeps, config: RunnerConfig, progress: ProgressGate | None = None
    ) -> None:
        """Run with `deps`; nothing starts until run(). With `progress`, sending campaigns
        report their funnel to the live stream (coalesced by the gate)."""
        self._deps = deps
        self._config = config
        self._progress = progress
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Run until stop()."""
        while not self._stopping.is_set():
            try:
                await self.run_once()
            # InterfaceError: a connection the server dropped (a restart) or a pool that lost
            # it; left out, one PostgreSQL restart ended the runner for good, silently.
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("campaign.runner_failed", error_type=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._config.interval_s)

    async def stop(self) -> None:
        """Stop after the current pass."""
        self._stopping.set()

    async def run_once(self) -> None:
        """One pass over the campaigns that need the runner."""
        for tenant_id, campaign_id in await repo.due_campaigns(
            self._deps.pool, self._config.due_batch
        ):
            if self._stopping.is_set():
                return
            await self.feed(tenant_id, campaign_id)

    async def feed(self, tenant_id: UUID, campaign_id: UUID) -> None:
        """Start a due scheduled campaign, or queue the next window of a running one."""
        async with tenant_transaction(self._deps.pool, tenant_id) as conn:
            row = await repo.get(conn, campaign_id, lock="FOR UPDATE SKIP LOCKED")
            if row is None:
                return  # another replica has it
            if row["state"] == "scheduled" and row["scheduled_at"] <= datetime.now(UTC):
                await self._start_scheduled(conn, tenant_id, row)
            elif row["state"] == "running":
                await self._feed_window(conn, tenant_id, row)

    async def _start_scheduled(self, conn: repo.Conn, tenant_id: UUID, row: Any) -> None:
        template = await repo.template(conn, row["template_id"])
        if template is None or template["status"] != "APPROVED":
            # Sending would only collect Meta's refusals: the campaign ends here, visibly.
            await lifecycle.cancel(conn, tenant_id, row["id"])
            log.warning("campaign.template_not_approved", campaign_id=str(row["id"]))
            return
        await lifecycle.start(conn, self._deps, tenant_id, row)
        log.info("campaign.started", campaign_id=str(row["id"]))

    async def _feed_window(self, conn: repo.Conn, tenant_id: UUID, row: Any) -> None:
        campaign_id, cfg = row["id"], self._config
        counts = await repo.counts(conn, campaign_id)
        pending, in_flight = counts.get("pending", 0), counts.get("queued", 0)
        if pending == 0:
            if in_flight == 0:
                await lifecycle.complete(conn, tenant_id, campaign_id)
                if self._progress is not None:
                    self._progress.forget(campaign_id)
                log.info("campaign.completed", campaign_id=str(campaign_id))
                return
            await self._report(conn, tenant_id, campaign_id, counts)
            return
        await self._report(conn, tenant_id, campaign_id, counts)
        number = await repo.number(conn, row["number_id"])
        template = await repo.template(conn, row["template_id"])
        if number is None or template is None:
            return
        ahead = max(1, int(number["rate"] * cfg.bulk_share * cfg.feed_ahead_s))
        room = min(ahead - in_flight, cfg.batch_max)
        if room <= 0:
            return
        batch = await repo.pending_batch(conn, campaign_id, room)
        limit = TIER_LIMITS.get(number["messaging_tier"], 1_000)
        now = datetime.now(UTC)
        if limit is not None:
            batch, reachable, next_at = await self._within_tier(conn, number, batch, limit, now)
        else:
            reachable, next_at = pending, None
        if batch:
            await self._queue(conn, tenant_id, row, number, template, batch)
        await repo.set_feed(conn, campaign_id, next_at, min(reachable, pending - len(batch)))

    async def _report(
        self, conn: repo.Conn, tenant_id: UUID, campaign_id: UUID, counts: dict[str, int]
    ) -> None:
        """The funnel to the live stream, in the feed's transaction, if the gate admits it."""
        if self._progress is None or not await self._progress.admit(campaign_id, counts):
            return
        event = CampaignProgress(campaign_id=campaign_id, state="running", progress=funnel(counts))
        await lifecycle.emit(conn, tenant_id, event)

    async def _within_tier(
        self, conn: repo.Conn, number: Any, batch: list[Any], limit: int, now: datetime
    ) -> tuple[list[Any], int, datetime | None]:
        """The batch cut to the tier's room; how many more today; when to look again."""
        used, oldest = await repo.messaged_today(conn, number["id"])
        keys = [bytes(r["phone_bidx"]) for r in batch]
        again = await repo.messaged_recently(conn, number["id"], keys)
        room, kept = limit - used, []
        for recipient in batch:
            if bytes(recipient["phone_bidx"]) in again:
                kept.append(recipient)
            elif room > 0:
                room -= 1
                kept.append(recipient)
        next_at = None
        if len(kept) < len(batch):
            window_frees = (oldest or now) + timedelta(hours=24)
            next_at = min(window_frees, now + timedelta(seconds=self._config.tier_recheck_s))
            log.info("campaign.tier_reached", number_id=str(number["id"]), limit=limit)
        return kept, max(room, 0), next_at

    async def _queue(
        self, conn: repo.Conn, tenant_id: UUID, row: Any, number: Any, template: Any, batch: Any
    ) -> None:
        cipher = self._deps.cipher
        sends: list[tuple[UUID, bytes]] = []
        commands: list[SendBulkMessage] = []
        for recipient in batch:
            phone = cipher.decrypt_text(
                recipient["phone_enc"], tenant_id=tenant_id, field=RECIPIENT_PHONE_FIELD
            )
            components = json.loads(
                cipher.decrypt(
                    recipient["parameters_enc"],
                    tenant_id=tenant_id,
                    field=RECIPIENT_PARAMETERS_FIELD,
                )
            )
            body: dict[str, Any] = {"name": template["name"], "language": {"code": row["language"]}}
            if components:
                body["components"] = components
            payload = json.dumps({"to": phone, "message": {"type": "template", "template": body}})
            sends.append(
                (recipient["id"], cipher.encrypt(payload, tenant_id=tenant_id, field=PAYLOAD_FIELD))
            )
            sealed = cipher.encrypt(payload, tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD)
            commands.append(
                SendBulkMessage(
                    message_id=recipient["id"],
                    number_id=number["id"],
                    payload_enc=base64.b64encode(sealed).decode("ascii"),
                )
            )
        ids = [recipient["id"] for recipient in batch]
        await repo.insert_sends(conn, number["id"], sends)
        await repo.mark_queued(conn, ids)
        await repo.touch_messaged(conn, number["id"], [bytes(r["phone_bidx"]) for r in batch])
        for command in commands:
            await lifecycle.emit(conn, tenant_id, command)
        log.info("campaign.fed", campaign_id=str(row["id"]), queued=len(batch))
