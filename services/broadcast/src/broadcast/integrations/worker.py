"""The delivery worker: sends due deliveries, signed, through the SSRF guard, with retries.

It runs in every replica, like the campaign runner. A due delivery is claimed in a short
transaction of its own (SKIP LOCKED; its attempt counted, its next attempt pushed one lease
ahead), sent outside any transaction, and its outcome recorded in another. A worker that dies
between claim and outcome leaves the delivery due again when the lease ends: it is retried,
never lost (the receiver may see the same webhook-id twice, which the spec allows for).
An endpoint whose last `disable_after_exhausted` messages all failed for good, the first at
least `disable_after_seconds` ago, is disabled: audited, and `broadcast.webhook.disabled`
goes to owners' and admins' live streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from yarl import URL

from broadcast.integrations import repository as repo
from broadcast.integrations import retries, signing, targets
from broadcast.integrations.consumers import (
    PAYLOAD_FIELD,
    PREVIOUS_SECRET_FIELD,
    SECRET_FIELD,
    WebhookDeps,
    endpoint_url,
)
from majlis.db import tenant_transaction
from majlis.events import Event, make_envelope
from majlis.events.broadcast import BroadcastAuditRecorded, WebhookEndpointDisabled
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox
from majlis.net import GuardedClient, OutboundRefused
from majlis.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Tuning of the worker (from settings, see `from_settings`)."""

    interval_s: float = 0.5
    timeout_s: float = 10.0
    # How long a claimed delivery stays invisible to other workers: longer than one attempt.
    lease_s: float = 40.0
    batch: int = 100
    concurrency: int = 32
    per_endpoint: int = 4
    retention_days: int = 30
    prune_interval_s: float = 3600.0
    scale: float = 1.0
    retry_after_cap_s: float = 3600.0
    disable_after_exhausted: int = 10
    disable_after_s: float = 5 * 86_400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        """The worker's tuning from MAJLIS_WEBHOOK_* settings."""
        return cls(
            interval_s=settings.webhook_worker_interval_ms / 1000,
            timeout_s=settings.webhook_timeout_seconds,
            lease_s=settings.webhook_timeout_seconds * 2 + 20,
            scale=settings.webhook_retry_scale,
            retry_after_cap_s=settings.webhook_retry_after_cap_seconds,
            disable_after_exhausted=settings.webhook_disable_after_exhausted,
            disable_after_s=settings.webhook_disable_after_seconds,
            retention_days=settings.webhook_log_retention_days,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave: a status (or an error class), latency, Retry-After."""

    status: int | None
    latency_ms: int
    error_class: str | None
    retry_after: float | None = None

    @property
    def is_success(self) -> bool:
        """2xx."""
        return self.status is not None and retries.is_success(self.status)

    @property
    def is_retryable(self) -> bool:
        """Worth another attempt: 408/429/5xx, a timeout or a connection error."""
        if self.status is not None:
            return retries.is_retryable(self.status)
        return self.error_class in ("timeout", "connection_error")


class DeliveryWorker:
    """Keeps up to `concurrency` attempts in flight (at most `per_endpoint` per endpoint, so
    one slow receiver never holds every slot), starting due ones as slots free up."""

    def __init__(
        self,
        deps: WebhookDeps,
        settings: Settings,
        config: WorkerConfig,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """Send with `deps`; nothing connects until run()."""
        self._deps = deps
        self._settings = settings
        self._config = config
        self._rng = rng
        self._client = GuardedClient(allow_loopback=targets.allow_loopback(settings))
        self._stopping = asyncio.Event()
        self._in_flight: dict[UUID, asyncio.Task[None]] = {}
        self._per_endpoint: Counter[UUID] = Counter()
        self._pruned_at = 0.0

    async def run(self) -> None:
        """Run until stop(); then let the attempts in flight finish."""
        try:
            while not self._stopping.is_set():
                try:
                    await self.run_once()
                    await self._prune_if_due()
                except (
                    OSError,
                    TimeoutError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                ) as error:
                    log.warning("webhook.worker_failed", error_type=type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._config.interval_s)
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        finally:
            await self._client.close()

    async def stop(self) -> None:
        """Stop starting attempts."""
        self._stopping.set()

    async def run_once(self) -> None:
        """Start an attempt for due deliveries while there are free slots."""
        room = self._config.concurrency - len(self._in_flight)
        if room <= 0:
            return
        due = await repo.due_deliveries(self._deps.pool, min(self._config.batch, room * 4))
        for tenant_id, delivery_id, endpoint_id in due:
            if len(self._in_flight) >= self._config.concurrency:
                break
            if delivery_id in self._in_flight:
                continue
            if self._per_endpoint[endpoint_id] >= self._config.per_endpoint:
                continue
            self._per_endpoint[endpoint_id] += 1
            task = asyncio.create_task(self._attempt(tenant_id, delivery_id, endpoint_id))
            self._in_flight[delivery_id] = task

    async def _attempt(self, tenant_id: UUID, delivery_id: UUID, endpoint_id: UUID) -> None:
        try:
            await self.deliver(tenant_id, delivery_id)
        except Exception as error:  # noqa: BLE001  # one delivery must never stop the worker
            # Its claim runs out and it is tried again (a poison row reaches MAX_ATTEMPTS).
            log.warning("webhook.attempt_crashed", error_type=type(error).__name__)
        finally:
            del self._in_flight[delivery_id]
            self._per_endpoint[endpoint_id] -= 1
            if self._per_endpoint[endpoint_id] <= 0:
                del self._per_endpoint[endpoint_id]

    async def _prune_if_due(self) -> None:
        if time.monotonic() - self._pruned_at < self._config.prune_interval_s:
            return
        self._pruned_at = time.monotonic()
        await self.prune()

    async def prune(self) -> int:
        """Delete finished deliveries past the log's retention, tenant by tenant."""
        pruned = 0
        for tenant_id in await repo.webhook_tenants(self._deps.pool):
            async with tenant_transaction(self._deps.pool, tenant_id) as conn:
                pruned += await repo.prune_deliveries(conn, self._config.retention_days)
        if pruned:
            log.info("webhook.log_pruned", deliveries=pruned)
        return pruned

    async def claim(self, tenant_id: UUID, delivery_id: UUID) -> Any:
        """Claim a due delivery for one attempt (its row), or None."""
        async with tenant_transaction(self._deps.pool, tenant_id) as conn:
            return await repo.claim(conn, delivery_id, self._config.lease_s)

    async def deliver(self, tenant_id: UUID, delivery_id: UUID) -> None:
        """One attempt at one delivery, if it is still due."""
        row = await self.claim(tenant_id, delivery_id)
        if row is None:
            return  # another worker has it, or it is no longer due
        if not row["enabled"]:
            outcome = Outcome(None, 0, "endpoint_disabled")
        elif row["attempt"] > retries.MAX_ATTEMPTS:
            outcome = Outcome(None, 0, "attempts_exhausted")  # claimed but never recorded
        else:
            outcome = await self._send(tenant_id, row)
        await self._record(tenant_id, row, outcome)

    def _secrets(self, tenant_id: UUID, row: Any) -> list[str]:
        cipher = self._deps.cipher
        found = [cipher.decrypt_text(row["secret_enc"], tenant_id=tenant_id, field=SECRET_FIELD)]
        expires = row["previous_secret_expires_at"]
        if row["previous_secret_enc"] is not None and expires and expires > row["claimed_at"]:
            found.append(
                cipher.decrypt_text(
                    row["previous_secret_enc"], tenant_id=tenant_id, field=PREVIOUS_SECRET_FIELD
                )
            )
        return found

    async def _send(self, tenant_id: UUID, row: Any) -> Outcome:
        body = self._deps.cipher.decrypt(
            row["payload_enc"], tenant_id=tenant_id, field=PAYLOAD_FIELD
        )
        msg_id = signing.webhook_id(row["id"])
        headers = signing.headers(self._secrets(tenant_id, row), msg_id, int(time.time()), body)
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        url = endpoint_url(self._deps.cipher, tenant_id, row)
        if URL(url).scheme not in targets.schemes(self._settings):
            return Outcome(None, 0, "scheme_refused")
        try:
            response = await self._client.request(
                "POST", url, headers=headers, data=body,
                timeout_s=self._config.timeout_s, follow_redirects=False,
            )  # fmt: skip
        except OutboundRefused as refused:
            if refused.reason == "response too large":
                # The receiver answered with a body past our cap: a failure, not retried.
                return Outcome(None, elapsed(), "response_too_large")
            return Outcome(None, elapsed(), "ssrf_refused")
        except TimeoutError:
            return Outcome(None, elapsed(), "timeout")
        except (aiohttp.ClientError, OSError):
            return Outcome(None, elapsed(), "connection_error")
        retry_after = retries.retry_after_s(
            response.headers.get("Retry-After"), self._config.retry_after_cap_s
        )
        error = None if retries.is_success(response.status) else f"http_{response.status}"
        return Outcome(response.status, elapsed(), error, retry_after)

    async def _record(self, tenant_id: UUID, row: Any, outcome: Outcome) -> None:
        attempt, cfg = row["attempt"], self._config
        delay: float | None = None
        if outcome.is_success:
            state = "succeeded"
        else:
            if outcome.is_retryable:
                elapsed = (datetime.now(UTC) - row["first_attempt_at"]).total_seconds()
                delay = retries.next_delay_s(
                    attempt, elapsed, scale=cfg.scale, retry_after=outcome.retry_after,
                    rng=self._rng,
                )  # fmt: skip
            state = "pending" if delay is not None else "failed"
        async with tenant_transaction(self._deps.pool, tenant_id) as conn:
            recorded = await repo.record_attempt(
                conn, row["id"], attempt, state, delay or 0.0,
                outcome.status, outcome.latency_ms, outcome.error_class,
            )  # fmt: skip
            if recorded is None:
                return  # redelivered or deleted meanwhile
            if state == "succeeded":
                await repo.endpoint_succeeded(conn, row["endpoint_id"])
            elif state == "failed" and outcome.error_class != "endpoint_disabled":
                await self._exhausted(conn, tenant_id, row)
        log.info(
            "webhook.attempt",
            delivery_id=str(row["id"]), endpoint_id=str(row["endpoint_id"]), attempt=attempt,
            status=outcome.status, error_class=outcome.error_class, state=state,
        )  # fmt: skip

    async def _exhausted(self, conn: repo.Conn, tenant_id: UUID, row: Any) -> None:
        counters = await repo.endpoint_exhausted(conn, row["endpoint_id"], row["first_attempt_at"])
        failing_for = (counters["now"] - counters["failing_since"]).total_seconds()
        if (
            not counters["enabled"]
            or counters["exhausted_in_row"] < self._config.disable_after_exhausted
            or failing_for < self._config.disable_after_s
        ):
            return
        reason = (
            f"failing: the last {counters['exhausted_in_row']} messages all failed"
            f" since {counters['failing_since'].isoformat()}"
        )
        if not await repo.disable_endpoint(conn, row["endpoint_id"], reason):
            return
        endpoint_id = row["endpoint_id"]
        notice: Event = WebhookEndpointDisabled(endpoint_id=endpoint_id, reason=reason)
        audit: Event = BroadcastAuditRecorded(
            action="webhooks.endpoint.disabled",
            actor_type="system",
            target_type="webhook_endpoint",
            target_id=str(endpoint_id),
            details={"reason": "failing", "exhausted_in_row": counters["exhausted_in_row"]},
        )
        for event in (notice, audit):
            await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))
        log.warning("webhook.endpoint_disabled", endpoint_id=str(endpoint_id))
