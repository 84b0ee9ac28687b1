"""The dispatcher: every send to Meta, exactly once.

A new send (its command's first delivery) goes: pace (recipient, then number) → record it
already claimed ('sending') in one committed transaction → call Meta → commit the outcome and
publish it through the outbox in that same transaction. Two transactions per send; the number
comes from a short in-process cache. A send that must wait (paced recipient, paused number)
is recorded 'queued' for the sweeper, which retries through the general path: load (queued?)
→ pace → claim queued → sending → call Meta → outcome. A send found in 'sending' is never sent
again: only a status webhook echoing its id (biz_opaque_callback_data, majlis.meta.callback) or
the outcome-unknown sweep settles it.

One recipient's interactive sends (a flow step's text, image and question; an agent's quick
replies) take turns in the order this process consumed them, each waiting for Meta's answer
to the one before, so the customer reads them in the order they were written. Best effort: a
send deferred to the sweeper (paced, retried after an error) goes after later ones, and
replicas do not coordinate; bulk sends, one per recipient, do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from broadcast import sends_repository as repo
from broadcast.pacing import (
    ClaimLead,
    NumberRateLimiter,
    RecipientPacer,
    SendWindow,
    wait_until,
)
from majlis.crypto import DecryptionError, FieldCipher
from majlis.db import tenant_transaction
from majlis.events import Event, make_envelope
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox
from majlis.meta import GraphApiError, GraphClient
from majlis.meta.callback import callback_data
from majlis.meta.errors import GraphUnavailable

log = get_logger(__name__)

PAYLOAD_FIELD = "outbound_sends.payload"
TOKEN_FIELD = "whatsapp_numbers.access_token"  # noqa: S105  # a field name, not a secret
WINDOW_CLOSED = 131047
THROUGHPUT = 130429
PAIR_RATE = 131056
# Meta blocked the account from sending (reference §4.1: "stop sends; alert tenant"): the
# number's sends pause until the block ends (migration 0026), instead of each failing in turn.
ACCOUNT_BLOCKS = {131031: "account-locked", 368: "policy-block"}
WINDOW_TITLE = "outside the 24-hour window, use a template"
Owner = Literal["bus", "sweeper"]
# How long a number's row (rate, token, pause) is trusted from memory. A token refused by Meta
# drops the entry at once; a replaced token is noticed within this time (sends meanwhile wait
# for the sweeper, which reads the row).
NUMBER_TTL_S = 5.0
# Sends this process settled, so status webhooks about them (three per message) cost no query.
SETTLED_MEMORY = 200_000


@dataclass(frozen=True)
class DispatcherConfig:
    """Tuning of the dispatcher; the defaults follow Meta's limits (reference §4.1, §6)."""

    interactive_prefetch: int = 64
    # Little's law: 1,000 sends/s at 250 ms answers needs >= 250 in flight.
    bulk_prefetch: int = 300
    # Bulk's share of a number's rate while replies were sent in the last 2 s; a quiet
    # number sends campaigns at its full rate (pacing.py: the reserve is work-conserving).
    bulk_share: float = 0.8
    pair_interval_s: float = 6.0
    pair_burst: int = 10
    max_transient_failures: int = 5
    max_attempts: int = 50
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    pair_backoff_base_s: float = 4.0
    sweep_interval_s: float = 1.0
    sweep_batch: int = 500
    sweep_lease_s: float = 60.0
    sweep_concurrency: int = 128
    outcome_unknown_after_s: float = 600.0
    http_connections: int = 512


def backoff(base: float, attempt: int, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [delay/2, delay]."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311  # jitter, not secrecy


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What sending needs from a WhatsApp number."""

    phone_number_id: str
    access_token_enc: bytes
    is_paused: bool
    rate: int
    # Meta restricts the account from starting conversations / answering customers (0027).
    bulk_held: bool = False
    replies_held: bool = False

    def holds(self, bulk: bool) -> bool:
        """Whether a send of this kind must wait (refused token, blocked or restricted)."""
        return self.is_paused or (self.bulk_held if bulk else self.replies_held)


@dataclass(frozen=True, slots=True)
class Target:
    """One claimed send on its way to Meta."""

    id: UUID
    number_id: UUID
    number: NumberInfo
    transient_failures: int
    bulk: bool


def parse_content(plain: bytes) -> tuple[str, dict[str, Any]] | None:
    """(recipient, Graph request body) from a send's stored content; None if unusable."""
    try:
        data = json.loads(plain)
    except (ValueError, TypeError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    body = {k: v for k, v in message.items() if k not in {"messaging_product", "to"}}
    body.setdefault("recipient_type", "individual")
    to, bsuid = data.get("to"), data.get("recipient")
    if isinstance(to, str) and to:
        return to, {**body, "to": to}
    if isinstance(bsuid, str) and bsuid:
        return bsuid, {**body, "recipient": bsuid}
    return None


class Turns:
    """FIFO turns per key: callers that ask in order are served in that order (an uncontended
    asyncio.Lock is taken without yielding, and its waiters are woken first come, first
    served). A key's lock lives only while someone holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the key's turn for the duration of the block."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


async def emit(conn: repo.Conn, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


class Dispatcher:
    """Sends outbound messages through the Graph API under the numbers' limits."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        cipher: FieldCipher,
        graph: GraphClient,
        limiter: NumberRateLimiter,
        pacer: RecipientPacer,
        config: DispatcherConfig,
    ) -> None:
        """Hold the collaborators; nothing connects here."""
        self.pool = pool
        self.cipher = cipher
        self._graph = graph
        self._limiter = limiter
        self._pacer = pacer
        self.config = config
        self._numbers: dict[tuple[UUID, UUID], tuple[float, NumberInfo | None]] = {}
        self._settled: dict[UUID, None] = {}
        self._turns = Turns()
        self._window = SendWindow()
        # A send's claim commits this long before its slot (ClaimLead says why it adapts).
        self._claim_lead = ClaimLead()

    async def number(self, tenant_id: UUID, number_id: UUID) -> NumberInfo | None:
        """The tenant's number (None if it has none by that id), cached for NUMBER_TTL_S."""
        key, now = (tenant_id, number_id), time.monotonic()
        cached = self._numbers.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
            row = await repo.load_number(conn, number_id)
        info = None
        if row is not None:
            info = NumberInfo(
                row["phone_number_id"],
                row["access_token_enc"],
                row["token_invalid_at"] is not None or row["sending_blocked_at"] is not None,
                row["rate"],
                row["bulk_held"],
                row["replies_held"],
            )
        if len(self._numbers) > 10_000:
            self._numbers.clear()
        self._numbers[key] = (now + NUMBER_TTL_S, info)
        return info

    def is_settled(self, send_id: UUID) -> bool:
        """Whether this process already saw the send become sent or failed."""
        return send_id in self._settled

    def _remember_settled(self, send_id: UUID) -> None:
        self._settled[send_id] = None
        if len(self._settled) > SETTLED_MEMORY:
            del self._settled[next(iter(self._settled))]

    async def dispatch_new(
        self,
        tenant_id: UUID,
        send_id: UUID,
        number_id: UUID,
        conversation_id: UUID | None,
        priority: str,
        sealed: bytes,
        content: tuple[str, dict[str, Any]],
    ) -> bool:
        """A send command's first delivery; False if the tenant has no such number.

        Redelivered commands find their row and go the general way (never sent twice). An
        interactive send waits for the recipient's earlier ones (the module's docstring).
        """
        # Taken before the first await, so turns follow the order of consumption.
        turn: contextlib.AbstractAsyncContextManager[None] = (
            contextlib.nullcontext()
            if priority == "bulk"
            else self._turns.turn((tenant_id, number_id, content[0]))
        )
        async with turn:
            number = await self.number(tenant_id, number_id)
            if number is None:
                return False
            recipient, body = content
            held = number.holds(priority == "bulk")
            wait_ms = 0 if held else await self._pacer.try_take(tenant_id, number_id, recipient)
            if held or wait_ms > 0:
                # The sweeper sends it when due (a held one: once its number's token is
                # replaced, or Meta's block or restriction of the account ends).
                async with tenant_transaction(self.pool, tenant_id) as conn:
                    inserted = await repo.insert_send(
                        conn, send_id, number_id, conversation_id, priority, sealed, wait_ms / 1000
                    )
                if not inserted:
                    await self.attempt(tenant_id, send_id, "bus")
                return True
            slot = await self._limiter.acquire(
                number_id, number.rate, bulk=priority == "bulk", lead_s=self._claim_lead.seconds
            )
            # Claimed only now, just before the slot: a crash can strand (never resend) only
            # the sends between this commit and Meta's socket, not every send waiting for its
            # slot; and the commit's duration, taken from the lead, does not move the send.
            started = time.monotonic()
            async with tenant_transaction(self.pool, tenant_id) as conn:
                claimed = await repo.insert_claimed(
                    conn, send_id, number_id, conversation_id, priority, sealed
                )
            self._claim_lead.observe(time.monotonic() - started)
            if not claimed:
                await self.attempt(tenant_id, send_id, "bus")
                return True
            await wait_until(slot)
            target = Target(send_id, number_id, number, 0, priority == "bulk")
            await self._call(tenant_id, target, 1, body)
            return True

    async def attempt(self, tenant_id: UUID, send_id: UUID, owner: Owner) -> None:
        """Try one queued send now, if `owner` (its bus delivery or the sweeper) holds it."""
        async with tenant_transaction(self.pool, tenant_id) as conn:
            row = await repo.load(conn, send_id)
            if row is None or row["state"] != "queued":
                return
            if (row["next_attempt_at"] is None) != (owner == "bus"):
                return  # the other owner has it
            restricted = row["bulk_held"] if row["priority"] == "bulk" else row["replies_held"]
            if (
                row["token_invalid_at"] is not None
                or row["sending_blocked_at"] is not None
                or restricted
            ):
                # Held until the token is replaced or Meta's block or restriction ends; the
                # sweeper resumes it then.
                await repo.defer(conn, send_id, 0)
                return
        content = self._content(tenant_id, row)
        if content is None:
            await self._finish_failed(tenant_id, send_id, None, "invalid-payload", ("queued",))
            return
        recipient, message = content
        wait_ms = await self._pacer.try_take(tenant_id, row["number_id"], recipient)
        if wait_ms > 0:
            async with tenant_transaction(self.pool, tenant_id) as conn:
                await repo.defer(conn, send_id, wait_ms / 1000)
            log.info("dispatch.paced", send_id=str(send_id), wait_ms=wait_ms)
            return
        slot = await self._limiter.acquire(
            row["number_id"],
            row["rate"],
            bulk=row["priority"] == "bulk",
            lead_s=self._claim_lead.seconds,
        )
        started = time.monotonic()
        async with tenant_transaction(self.pool, tenant_id) as conn:
            attempt = await repo.claim(conn, send_id)
        self._claim_lead.observe(time.monotonic() - started)
        if attempt is None:
            return  # claimed by someone else (or its campaign is not running): not ours to send
        await wait_until(slot)
        number = NumberInfo(row["phone_number_id"], row["access_token_enc"], False, row["rate"])
        target = Target(
            send_id, row["number_id"], number, row["transient_failures"], row["priority"] == "bulk"
        )
        await self._call(tenant_id, target, attempt, message)

    async def _call(
        self, tenant_id: UUID, target: Target, attempt: int, message: dict[str, Any]
    ) -> None:
        """Call Meta for a claimed send and commit its outcome."""
        send_id = target.id
        try:
            token = self.cipher.decrypt_text(
                target.number.access_token_enc, tenant_id=tenant_id, field=TOKEN_FIELD
            )
        except DecryptionError:
            await self._pause_number(tenant_id, target)
            return
        body = {**message, "biz_opaque_callback_data": callback_data(send_id, bulk=target.bulk)}
        # Normally at once: the schedule spaced the sends; a stall may cost a few ms here.
        # Last before the call, so nothing of ours lies between it and Meta's socket.
        await self._window.admit(target.number_id, target.number.rate)
        try:
            wamid = await self._graph.send_message(target.number.phone_number_id, token, body)
        except GraphApiError as error:
            await self._on_error(tenant_id, target, attempt, error)
            return
        finally:
            del token
        async with tenant_transaction(self.pool, tenant_id) as conn:
            if await repo.mark_sent(conn, send_id, wamid, ("sending",)) is not None:
                sent = MessageSent(message_id=send_id, wamid=wamid, bulk=target.bulk)
                await emit(conn, tenant_id, sent)
        self._remember_settled(send_id)
        log.info("dispatch.sent", send_id=str(send_id), attempt=attempt)

    def _content(self, tenant_id: UUID, row: asyncpg.Record) -> tuple[str, dict[str, Any]] | None:
        """(recipient, Graph request body) from the stored payload; None if unusable."""
        try:
            plain = self.cipher.decrypt(
                row["payload_enc"], tenant_id=tenant_id, field=PAYLOAD_FIELD
            )
        except DecryptionError:
            return None
        return parse_content(plain)

    async def _on_error(
        self, tenant_id: UUID, target: Target, attempt: int, error: GraphApiError
    ) -> None:
        """Meta's answer by code (reference §4.1): retry later, pause the number, or fail."""
        send_id, cfg = target.id, self.config
        code = error.code
        title = error.title or error.message or f"Graph API error {code}"
        log.warning("dispatch.graph_error", send_id=str(send_id), code=code, status=error.status)
        if isinstance(error, GraphUnavailable) or error.status >= 500 or error.is_transient:
            # Ambiguous for a timeout (Meta may have accepted it): the backoff leaves time for
            # a status webhook echoing our id to settle it first; a settled send is not resent.
            if target.transient_failures + 1 >= cfg.max_transient_failures:
                await self._finish_failed(tenant_id, send_id, code, title, ("sending",), True)
            else:
                delay = backoff(
                    cfg.backoff_base_s, target.transient_failures + 1, cfg.backoff_max_s
                )
                await self._requeue(tenant_id, send_id, delay, transient=True)
        elif error.status == 200:
            # Accepted without a wamid: the outcome is unknown, so the status echo decides.
            log.warning("dispatch.outcome_unknown", send_id=str(send_id))
        elif code == WINDOW_CLOSED:
            await self._finish_failed(tenant_id, send_id, code, WINDOW_TITLE, ("sending",))
        elif error.is_auth_error:
            await self._pause_number(tenant_id, target)
        elif code in ACCOUNT_BLOCKS:
            await self._block_number(tenant_id, target, ACCOUNT_BLOCKS[code])
        elif attempt >= cfg.max_attempts:
            await self._finish_failed(tenant_id, send_id, code, title, ("sending",), True)
        elif code == THROUGHPUT:
            delay = backoff(cfg.backoff_base_s, attempt, cfg.backoff_max_s)
            await self._requeue(tenant_id, send_id, delay, transient=False)
        elif code == PAIR_RATE:
            # Meta suggests 4^X seconds for that recipient; other recipients go on.
            delay = min(cfg.backoff_max_s, cfg.pair_backoff_base_s * 4 ** min(attempt - 1, 4))
            await self._requeue(tenant_id, send_id, delay, transient=False)
        elif error.is_retryable:
            delay = backoff(cfg.backoff_base_s, target.transient_failures + 1, cfg.backoff_max_s)
            await self._requeue(tenant_id, send_id, delay, transient=True)
        else:
            await self._finish_failed(tenant_id, send_id, code, title, ("sending",))

    async def _requeue(
        self, tenant_id: UUID, send_id: UUID, delay: float, *, transient: bool
    ) -> None:
        async with tenant_transaction(self.pool, tenant_id) as conn:
            await repo.requeue(conn, send_id, delay, transient=transient)

    async def _pause_number(self, tenant_id: UUID, target: Target) -> None:
        """Code 190 (or a token we cannot read): the number needs a new token; sends wait."""
        self._numbers.pop((tenant_id, target.number_id), None)
        async with tenant_transaction(self.pool, tenant_id) as conn:
            await repo.mark_token_invalid(conn, target.number_id, target.number.access_token_enc)
            await repo.requeue(conn, target.id, 0, transient=False)
        log.warning("dispatch.number_paused", number_id=str(target.number_id))

    async def _block_number(self, tenant_id: UUID, target: Target, reason: str) -> None:
        """Meta blocked the account: the number's sends wait until the block ends, this one
        included (queued again, not failed)."""
        self._numbers.pop((tenant_id, target.number_id), None)
        async with tenant_transaction(self.pool, tenant_id) as conn:
            blocked = await repo.block_sending(conn, target.number_id, reason)
            await repo.requeue(conn, target.id, 0, transient=False)
        if blocked:
            log.warning("dispatch.number_blocked", number_id=str(target.number_id), reason=reason)

    async def _finish_failed(
        self,
        tenant_id: UUID,
        send_id: UUID,
        code: int | None,
        title: str,
        from_states: tuple[str, ...],
        retryable: bool = False,
        *,
        older_than_s: float = 0.0,
    ) -> None:
        """→ failed, and MessageFailed through the outbox in the same transaction."""
        async with tenant_transaction(self.pool, tenant_id) as conn:
            priority = await repo.mark_failed(
                conn, send_id, code, title, from_states, older_than_s=older_than_s
            )
            done = priority is not None
            if done:
                event = MessageFailed(
                    message_id=send_id,
                    error_code=code,
                    error_title=title[:200],
                    retryable=retryable,
                    bulk=priority == "bulk",
                )
                await emit(conn, tenant_id, event)
        if done:
            self._remember_settled(send_id)
            log.info("dispatch.failed", send_id=str(send_id), code=code)

    async def settle_unknown(self, tenant_id: UUID, send_id: UUID) -> None:
        """A send claimed long ago and never settled: failed "outcome-unknown", never resent."""
        await self._finish_failed(
            tenant_id,
            send_id,
            None,
            "outcome-unknown",
            ("sending",),
            older_than_s=self.config.outcome_unknown_after_s,
        )

    async def reconcile(self, tenant_id: UUID, send_id: UUID, wamid: str) -> bool:
        """A status webhook echoed our id: Meta has the message, so it is sent (once)."""
        async with tenant_transaction(self.pool, tenant_id) as conn:
            priority = await repo.mark_sent(conn, send_id, wamid, repo.PENDING, attempted=True)
            done = priority is not None
            if done:
                sent = MessageSent(message_id=send_id, wamid=wamid, bulk=priority == "bulk")
                await emit(conn, tenant_id, sent)
        self._remember_settled(send_id)
        if done:
            log.info("dispatch.reconciled", send_id=str(send_id))
        return done
