"""Webhook delivery: signed POSTs to the platform, batched and retried like Meta's.

One delivery loop per simulator keeps per-message order (sent → delivered → read): a batch that
fails is retried, with anything that fell due meanwhile folded in behind it, before any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from majlis.graphsim.config import SimulatorConfig
from majlis.graphsim.payloads import Update, envelope
from majlis.logging import get_logger
from majlis.meta.signatures import SIGNATURE_HEADER, sign_webhook

log = get_logger(__name__)


@dataclass
class DeliveryStats:
    """Counters for ``GET /_sim/webhooks``."""

    posts: int = 0
    delivered_updates: int = 0
    failed_attempts: int = 0
    dropped_updates: int = 0


@dataclass
class InboundDelivery:
    """How one inbound message's webhook fared: the attempts it took and how it ended.

    ``first_status`` is the platform's answer to the first attempt (None: no answer at all);
    a message that needed a retry ``delivered`` only once a later attempt got a 200.
    """

    wamid: str
    attempts: int = 0
    first_status: int | None = None
    delivered: bool = False
    dropped: bool = False


class WebhookDispatcher:
    """Schedules updates and delivers them, signed, to the configured webhook URL."""

    def __init__(
        self,
        config: SimulatorConfig,
        clock: Callable[[], float],
        on_delivered: Callable[[Update], None] = lambda _u: None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_delivered = on_delivered
        self._heap: list[tuple[float, int, Update]] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.stats = DeliveryStats()
        # Inbound messages only (the customer's side), for fault tests: did each get its 200?
        self.inbound: dict[str, InboundDelivery] = {}

    @property
    def pending(self) -> int:
        """Updates scheduled but not yet delivered."""
        return len(self._heap)

    def start(self, session: aiohttp.ClientSession) -> None:
        """Start the delivery loop."""
        self._session = session
        self._task = asyncio.create_task(self._run(), name="graphsim-webhooks")

    async def stop(self) -> None:
        """Stop delivering; what is still pending is dropped (the simulator keeps no disk)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def schedule(self, update: Update, delay_s: float = 0.0) -> None:
        """Deliver an update after ``delay_s`` seconds."""
        due = asyncio.get_running_loop().time() + max(delay_s, 0.0)
        heapq.heappush(self._heap, (due, next(self._seq), update))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            await self._deliver(batch)

    async def _next_batch(self) -> list[Update]:
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            timeout: float | None = None
            if self._heap:
                timeout = self._heap[0][0] - loop.time()
                if timeout <= 0:
                    return self._take_due(None, self._config.webhook_max_batch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _take_due(self, field: str | None, limit: int) -> list[Update]:
        # Updates falling due within the batch window travel together, like Meta's batches;
        # a POST carries a single field and at most webhook_max_batch updates.
        horizon = asyncio.get_running_loop().time() + self._config.webhook_batch_window_ms / 1000
        taken: list[Update] = []
        kept: list[tuple[float, int, Update]] = []
        while self._heap and self._heap[0][0] <= horizon and len(taken) < limit:
            item = heapq.heappop(self._heap)
            field = field or item[2].field
            if item[2].field == field:
                taken.append(item[2])
            else:
                kept.append(item)
        for item in kept:
            heapq.heappush(self._heap, item)
        return taken

    async def _deliver(self, batch: list[Update]) -> None:
        config = self._config
        attempt = 0
        while True:
            attempt += 1
            status = await self._post(batch, attempt)
            self._record_inbound(batch, status)
            if status == 200:
                self.stats.delivered_updates += len(batch)
                for update in batch:
                    self._on_delivered(update)
                return
            self.stats.failed_attempts += 1
            if attempt >= config.webhook_max_attempts:
                self.stats.dropped_updates += len(batch)
                for update in batch:
                    if update.kind == "messages" and update.wamid in self.inbound:
                        self.inbound[update.wamid].dropped = True
                log.warning("graphsim.webhook_dropped", updates=len(batch), attempts=attempt)
                return
            delay_ms = min(
                config.webhook_retry_base_ms * 2 ** (attempt - 1), config.webhook_retry_max_ms
            )
            await asyncio.sleep(delay_ms / 1000)
            room = config.webhook_max_batch - len(batch)
            if room > 0:
                batch = batch + self._take_due(batch[0].field, room)

    def _record_inbound(self, batch: list[Update], status: int | None) -> None:
        for update in batch:
            if update.kind != "messages" or update.wamid is None:
                continue
            record = self.inbound.setdefault(update.wamid, InboundDelivery(update.wamid))
            record.attempts += 1
            if record.attempts == 1:
                record.first_status = status
            record.delivered = status == 200

    async def _post(self, batch: list[Update], attempt: int) -> int | None:
        """POST one batch; the platform's HTTP status, or None when it did not answer."""
        assert self._session is not None
        # Compact, ASCII-escaped JSON, as Meta sends; the signature covers these exact bytes.
        body = json.dumps(envelope(batch, self._clock()), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(body, self._config.app_secret),
            "User-Agent": "facebookexternalua",
        }
        self.stats.posts += 1
        timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout_s)
        try:
            async with self._session.post(
                self._config.webhook_url, data=body, headers=headers, timeout=timeout
            ) as response:
                status = response.status
                await response.read()
        # ValueError: a malformed webhook URL must not kill the delivery loop.
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            log.info("graphsim.webhook_failed", attempt=attempt, reason=type(error).__name__)
            return None
        log.info(
            "graphsim.webhook_posted",
            attempt=attempt,
            status=status,
            updates=len(batch),
            field=batch[0].field,
        )
        return status
