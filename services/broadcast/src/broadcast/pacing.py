"""Send pacing in Redis, shared by every dispatcher replica: per-number slots, per-recipient.

Both limiters are Lua scripts run on the Redis server clock (one round trip per decision, and
exact grants however many replicas compete: reference performance.md §4).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import aiohttp
import redis.asyncio as aioredis

from majlis.crypto import BlindIndexer

# A number's send schedule. Each send reserves the next free slot on its timeline (GCRA with
# reservation: slot = max(tat, now), tat += interval) and sleeps until it, so sends leave
# evenly spaced, one Redis call each, however many wait. KEYS: 1 bulk timeline, 2 interactive
# timeline, 3 "interactive seen lately" marker, 4 "bulk seen lately" marker. ARGV: mode
# ("interactive" or "bulk"), rate per second, bulk's share, the markers' lifetime in ms, the
# bulk horizon in ms. While both kinds are sending, bulk gets `share` of the rate and
# interactive the rest; either alone gets the whole rate (the reserve is work-conserving). Bulk
# reserves at most `horizon` ahead, so a reply arriving in the middle of a campaign never waits
# behind more than that; past it the answer is negative: "ask again in that many ms", nothing
# reserved. Answers are milliseconds (fractional) until the reserved slot.
_SCHEDULE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[2])
local share = tonumber(ARGV[3])
local life = tonumber(ARGV[4])
local timeline, other, mine, cut
if ARGV[1] == 'interactive' then
  timeline, other, mine, cut = KEYS[2], KEYS[4], KEYS[3], 1 - share
else
  timeline, other, mine, cut = KEYS[1], KEYS[3], KEYS[4], share
end
redis.call('SET', mine, '1', 'PX', life)
local interval = 1000 / rate
if redis.call('EXISTS', other) == 1 then interval = interval / cut end
local tat = tonumber(redis.call('GET', timeline) or now)
if tat < now then tat = now end
if ARGV[1] == 'bulk' and tat - now > tonumber(ARGV[5]) then
  return tostring(-(tat - now - tonumber(ARGV[5])))
end
redis.call('SET', timeline, string.format('%.3f', tat + interval),
           'PX', math.ceil(tat + interval - now) + life)
return tostring(tat - now)
"""

# GCRA per (number, recipient): one message per interval, bursts of `burst` borrowed against
# the future. KEYS[1]: the pair; ARGV: interval in ms, burst.
_PAIR = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then tat = math.max(tonumber(v), now) end
local allowed_at = tat - interval * (burst - 1)
if now < allowed_at then return allowed_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now + 1000)
return 0
"""

# Meta counts sends per second on its own clock. The schedule spaces a number's sends so
# that `rate` of them span WINDOW_SPAN_S, and the last guard (SendWindow) keeps to the same:
# 1.5 % over a second absorbs the jitter between our clock and Meta's arrivals, so a paced
# number never earns a 130429 (and stays within 2 % of its rate).
WINDOW_SPAN_S = 1.015
SCHEDULE_HEADROOM = 1 / WINDOW_SPAN_S


@dataclass
class _BulkQueue:
    """Bulk sends of one number waiting for room within the horizon, behind one asker."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_ask: float = 0.0  # loop time when the next slot should come within the horizon


class NumberRateLimiter:
    """Per-number send schedule, with a share of the rate kept for interactive traffic."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        bulk_share: float,
        interactive_memory_s: float = 2.0,
        bulk_horizon_s: float = 0.5,
    ) -> None:
        """`bulk_share` (0..1): the part of a number's rate that bulk sends may use while
        interactive sends were seen in the last `interactive_memory_s` seconds."""
        if not 0.0 < bulk_share < 1.0:
            raise ValueError("bulk_share must be in (0, 1)")
        self._script: Any = client.register_script(_SCHEDULE)
        self._prefix = prefix
        self._bulk_share = bulk_share
        self._memory_ms = max(1, round(interactive_memory_s * 1000))
        self._horizon_ms = max(1, round(bulk_horizon_s * 1000))
        # While bulk's horizon is full, one asker per number in this process: the others queue
        # here, in order, instead of each polling Redis (hundreds of prefetched sends asking
        # again and again cost CPU, and a busy loop blurs the spacing Meta sees).
        self._bulk_queues: dict[UUID, _BulkQueue] = {}

    async def reserve(self, number_id: UUID, rate: int, *, bulk: bool) -> float:
        """Reserve the number's next slot: ms until it (>= 0), or < 0: none, ask again then."""
        # One hash tag per number: a Redis Cluster keeps the script's keys in one slot.
        base = f"{self._prefix}dispatch:{{{number_id}}}:"
        keys = [f"{base}bulk-at", f"{base}interactive-at", f"{base}interactive", f"{base}bulk"]
        args: list[Any] = [
            "bulk" if bulk else "interactive",
            rate * SCHEDULE_HEADROOM,
            self._bulk_share,
            self._memory_ms,
            self._horizon_ms,
        ]
        return float(await self._script(keys=keys, args=args))

    async def slot(self, number_id: UUID, rate: int, *, bulk: bool) -> float:
        """Reserve the number's next slot for this kind of traffic; its time on the loop's
        clock. Callers do their last preparations, then sleep until it (`wait_until`), so
        that what they do in between does not blur the spacing Meta sees."""
        loop = asyncio.get_running_loop()
        wait_ms = await self.reserve(number_id, rate, bulk=bulk)
        if wait_ms >= 0:
            return loop.time() + wait_ms / 1000
        # Bulk past its horizon: queue behind this process's one asker for the number.
        queue = self._bulk_queues.get(number_id)
        if queue is None:
            if len(self._bulk_queues) > 10_000:
                self._bulk_queues = {k: q for k, q in self._bulk_queues.items() if q.lock.locked()}
            queue = self._bulk_queues[number_id] = _BulkQueue()
        due = loop.time() - wait_ms / 1000
        async with queue.lock:
            due = max(due, queue.next_ask)
            while True:
                # Ask when a slot should come within the horizon (another replica may take it
                # first: the answer then says how long again). A little jitter keeps replicas
                # from asking in lockstep.
                spread = random.uniform(0, 0.002)  # noqa: S311  # jitter, not secrecy
                await wait_until(due + spread)
                wait_ms = await self.reserve(number_id, rate, bulk=bulk)
                now = loop.time()
                if wait_ms >= 0:
                    slot = now + wait_ms / 1000
                    # The next slot comes within the horizon one interval after this one.
                    queue.next_ask = slot + 1 / (rate * SCHEDULE_HEADROOM) - self._horizon_ms / 1000
                    return slot
                due = now - wait_ms / 1000

    async def acquire(
        self, number_id: UUID, rate: int, *, bulk: bool, lead_s: float = 0.0
    ) -> float:
        """Wait for the number's next slot of this kind of traffic, until `lead_s` before it
        (time for the caller's last commit); returns the slot, which the caller then keeps
        with `wait_until`, so the commit's duration does not blur the spacing Meta sees."""
        return await self.keep(
            await self.slot(number_id, rate, bulk=bulk), number_id, rate, bulk=bulk, lead_s=lead_s
        )

    async def keep(
        self, slot: float, number_id: UUID, rate: int, *, bulk: bool, lead_s: float = 0.0
    ) -> float:
        """Sleep until `lead_s` before `slot`; if the process woke up too late for the slot
        itself (a stall: GC, a slow commit, a busy loop), take a fresh slot instead of going
        at once, since late sends that all go at once reach Meta as a burst over its
        per-second limit. A wake late for the lead but not for the slot keeps it (a slot
        given up is a send lost to the rate). Returns the slot kept."""
        late_after = 1.0 / rate
        for _ in range(_MAX_RESLOTS):
            await wait_until(slot - lead_s)
            if asyncio.get_running_loop().time() - slot <= late_after:
                return slot
            slot = await self.slot(number_id, rate, bulk=bulk)
        await wait_until(slot - lead_s)
        return slot


_MAX_RESLOTS = 3


class ClaimLead:
    """How long before its slot a send's claim starts to commit: a high quantile of the
    recent commits' durations, within [`floor_s`, `ceiling_s`].

    Two costs pull apart. A lead shorter than the commit delays the call past its slot and
    blurs the spacing Meta counts; a longer one leaves the send claimed ('sending') but not yet
    on Meta's socket for the difference, and a crash (kill -9) in that gap strands it: the
    dispatcher never resends a claimed send, it fails it once its outcome stays unknown. A
    fixed 20 ms lead stranded about one campaign message in sixteen kills at 3 sends/s; the
    commit itself takes 1-3 ms on an idle machine and more under load, which this follows."""

    def __init__(
        self,
        *,
        floor_s: float = 0.001,
        ceiling_s: float = 0.02,
        quantile: float = 0.9,
        memory: int = 64,
    ) -> None:
        if not 0.0 <= floor_s <= ceiling_s:
            raise ValueError("need 0 <= floor_s <= ceiling_s")
        if not 0.0 < quantile <= 1.0:
            raise ValueError("quantile must be in (0, 1]")
        self._floor = floor_s
        self._ceiling = ceiling_s
        self._quantile = quantile
        self._recent: deque[float] = deque(maxlen=max(1, memory))
        self._value = ceiling_s  # until commits were measured: the safe side for spacing

    @property
    def seconds(self) -> float:
        return self._value

    def observe(self, commit_s: float) -> None:
        """Record one claim commit's duration."""
        self._recent.append(max(0.0, commit_s))
        ordered = sorted(self._recent)
        at = ordered[min(len(ordered) - 1, int(self._quantile * len(ordered)))]
        self._value = min(self._ceiling, max(self._floor, at))


async def wait_until(moment: float) -> None:
    """Sleep until `moment` on the running loop's clock (at once if it has passed)."""
    delay = moment - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


# The window entry of the send this task is making: the request's trace stamps it with the
# moment the request really left (after any new connection), see `departure_trace`.
_departing: ContextVar[list[float] | None] = ContextVar("departing", default=None)


class SendWindow:
    """The last guard before Meta's socket: never more than a number's rate of sends in any
    `span_s` on this process's clock, the rule Meta enforces with 130429 ("more than the
    rate in any second"). The Redis schedule spaces sends evenly across replicas; this catches
    what a stall does to that spacing (a send that woke some milliseconds late, followed by
    ones on time, puts rate + 1 sends inside one second). A send counts from the moment its
    request left (stamped by `departure_trace`; a new connection can take tens of ms), else
    from its admission. `span_s` a little over a second absorbs the jitter between our clock
    and Meta's arrivals."""

    def __init__(self, span_s: float = WINDOW_SPAN_S) -> None:
        self._span = span_s
        self._sent: dict[Any, deque[list[float]]] = {}

    async def admit(self, key: Any, rate: int) -> None:
        """Wait until one more send under `key` keeps it within `rate` per span; record it
        (for this task's next request to stamp with its departure)."""
        loop = asyncio.get_running_loop()
        moments = self._sent.get(key)
        if moments is None:
            if len(self._sent) > 10_000:
                self._sent = {k: v for k, v in self._sent.items() if v}
            moments = self._sent[key] = deque()
        while True:
            now = loop.time()
            while moments and moments[0][0] <= now - self._span:
                moments.popleft()
            if len(moments) < rate:
                entry = [now]
                moments.append(entry)
                _departing.set(entry)
                return
            await asyncio.sleep(moments[0][0] + self._span - now)


def departure_trace() -> aiohttp.TraceConfig:
    """Request tracing that stamps a send admitted by `SendWindow` with the moment its
    request headers were written to the socket, the closest we see to Meta's arrival."""

    async def on_headers_sent(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        entry = _departing.get()
        if entry is not None:
            entry[0] = max(entry[0], asyncio.get_running_loop().time())
            _departing.set(None)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers_sent)
    return trace


class RecipientPacer:
    """Per-recipient pacing under Meta's pair rate limit (131056)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        indexer: BlindIndexer,
        *,
        interval_s: float,
        burst: int,
    ) -> None:
        """One message per `interval_s` to the same recipient, bursts of `burst`."""
        self._script: Any = client.register_script(_PAIR)
        self._prefix = prefix
        self._indexer = indexer
        self._interval_ms = max(1, round(interval_s * 1000))
        self._burst = max(1, burst)

    def _key(self, tenant_id: UUID, number_id: UUID, recipient: str) -> str:
        # The recipient is a phone number: only a keyed HMAC of it reaches Redis.
        digest = self._indexer.value(recipient, tenant_id=tenant_id, field="dispatch.recipient")
        return f"{self._prefix}dispatch:pair:{number_id}:{digest.hex()[:32]}"

    async def try_take(self, tenant_id: UUID, number_id: UUID, recipient: str) -> int:
        """Take one send to the recipient now; 0 if granted, else milliseconds to wait."""
        key = self._key(tenant_id, number_id, recipient)
        return int(await self._script(keys=[key], args=[self._interval_ms, self._burst]))
