"""The consumer runner, written once: decode, bind log context, run the handler, ack or retry.

A message is acked only after its handler returns. A failing handler's message is copied to
the next retry queue (confirmed) and then acked; once the retries are spent it is rejected to
the dead-letter queue. A message that cannot be decoded goes to the DLQ at once: retrying
cannot fix it.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, HeadersType
from pydantic import ValidationError

from majlis.events import (
    EVENT_TYPES,
    Envelope,
    Event,
    UnknownEventType,
    decode_event,
    parse_envelope,
)
from majlis.logging import get_logger
from majlis.messaging.connection import Bus
from majlis.messaging.names import ATTEMPT_HEADER, HEADER_PREFIX, queue_name, retry_queue_name
from majlis.messaging.publisher import PublishError, publish_confirmed
from majlis.messaging.topology import QueueSpec

log = get_logger(__name__)

Handler = Callable[[Event, Envelope], Awaitable[None]]


def attempt_of(headers: HeadersType) -> int:
    """How many retries a message has had (0 on first delivery)."""
    value = headers.get(ATTEMPT_HEADER, 0)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return max(0, int(value))  # type: ignore[arg-type]  # header values are loosely typed
    except (TypeError, ValueError):
        return 0


def _error_site(exc: BaseException) -> str:
    # Where the handler failed, without the exception's text: that may quote message content.
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename}:{last.lineno}:{last.name}"


class Consumer:
    """Consumes one queue and dispatches each event to its handler by type."""

    def __init__(
        self,
        bus: Bus,
        spec: QueueSpec,
        handlers: Mapping[str, Handler],
        *,
        consumer_name: str,
        retry_delays_ms: Sequence[int],
        prefetch: int,
    ) -> None:
        """Raises ValueError for a handler keyed by a type no registered event has."""
        # A typo here would dead-letter every such message; fail at start-up instead.
        unknown = sorted(set(handlers) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"handlers for unregistered event types: {', '.join(unknown)}")
        self._bus = bus
        self._spec = spec
        self._handlers = dict(handlers)
        self._name = consumer_name
        self._retries = len(retry_delays_ms)
        self._prefetch = prefetch
        self._queue_name = queue_name(bus.prefix, spec.name)
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        # The tasks running our callback, so stop() can wait for every one of them.
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Start consuming; the queue must already be declared (Bus.declare_topology)."""
        if self._channel is not None:
            raise RuntimeError("consumer already started")
        self._channel = await self._bus.channel(publisher_confirms=False)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        self._queue = await self._channel.get_queue(self._queue_name, ensure=True)
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("bus.consumer.started", consumer=self._name, queue=self._queue_name)

    async def stop(self) -> None:
        """Stop taking messages, let in-flight handlers finish (and ack), then close."""
        channel, queue, tag = self._channel, self._queue, self._consumer_tag
        self._channel = self._queue = self._consumer_tag = None
        if channel is None:
            return
        if queue is not None and tag is not None and not channel.is_closed:
            await queue.cancel(tag)
        # Deliveries that arrived before the cancel have had their tasks created by now;
        # one more turn of the loop lets them start and register themselves.
        await asyncio.sleep(0)
        while self._in_flight:
            # wait(), not gather(): if stop() itself is cancelled, handlers still finish.
            await asyncio.wait(set(self._in_flight))
        if not channel.is_closed:
            await channel.close()
        log.info("bus.consumer.stopped", consumer=self._name, queue=self._queue_name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        try:
            envelope = parse_envelope(message.body)
        except ValidationError:
            await self._poison(message, "bad_envelope")
            return
        handler = self._handlers.get(envelope.type)
        if handler is None:
            # Not ours to handle (a broad binding, a newer producer): ack, never dead-letter.
            await self._settle(message, ack=True)
            log.debug("bus.message.ignored", consumer=self._name, event_type=envelope.type)
            return
        try:
            event = decode_event(envelope)
        except (UnknownEventType, ValidationError):
            await self._poison(message, "bad_payload")
            return
        attempt = attempt_of(message.headers)
        with structlog.contextvars.bound_contextvars(
            event_id=str(envelope.id),
            event_type=envelope.type,
            tenant_id=str(envelope.tenant_id),
            correlation_id=str(envelope.correlation_id) if envelope.correlation_id else None,
        ):
            error: Exception | None = None
            try:
                await handler(event, envelope)
            except Exception as exc:  # noqa: BLE001  # any handler failure is retried, then DLQ'd
                error = exc
            if error is None:
                await self._settle(message, ack=True)
                outcome = "ok"
            else:
                outcome = await self._retry_or_dead_letter(message, attempt)
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            if error is None:
                log.info(
                    "bus.message.handled",
                    consumer=self._name,
                    outcome=outcome,
                    attempt=attempt,
                    duration_ms=duration_ms,
                )
            else:
                log.warning(
                    "bus.message.handled",
                    consumer=self._name,
                    outcome=outcome,
                    attempt=attempt,
                    duration_ms=duration_ms,
                    error_type=type(error).__name__,
                    error_at=_error_site(error),
                )

    async def _retry_or_dead_letter(self, message: AbstractIncomingMessage, attempt: int) -> str:
        if attempt >= self._retries:
            await self._settle(message, ack=False)
            return "dead_lettered"
        try:
            await publish_confirmed(
                self._bus,
                self._retry_copy(message, attempt + 1),
                routing_key=retry_queue_name(self._bus.prefix, self._spec.name, attempt + 1),
                to_default_exchange=True,
            )
        except PublishError:
            # Without a confirmed copy the original must not be acked; the DLQ keeps it safe
            # instead of a requeue that would spin without any delay.
            await self._settle(message, ack=False)
            return "dead_lettered_retry_failed"
        # Ack only after the copy is confirmed: a crash in between duplicates, never loses.
        await self._settle(message, ack=True)
        return "retry_scheduled"

    @staticmethod
    def _retry_copy(message: AbstractIncomingMessage, attempt: int) -> aio_pika.Message:
        # Only our own headers travel on: x-death and friends would grow with every retry.
        headers: HeadersType = {
            k: v for k, v in message.headers.items() if k.startswith(HEADER_PREFIX)
        }
        headers[ATTEMPT_HEADER] = attempt
        return aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
        )

    async def _poison(self, message: AbstractIncomingMessage, reason: str) -> None:
        # Never the body: it is what failed to parse and may hold anything.
        log.warning(
            "bus.message.poison",
            consumer=self._name,
            queue=self._queue_name,
            reason=reason,
            message_id=message.message_id,
            body_bytes=len(message.body),
        )
        await self._settle(message, ack=False)

    async def _settle(self, message: AbstractIncomingMessage, *, ack: bool) -> None:
        """Ack, or reject without requeue (→ DLQ); a lost channel means redelivery later."""
        try:
            if ack:
                await message.ack()
            else:
                await message.reject(requeue=False)
        except (aiormq.exceptions.AMQPError, OSError, RuntimeError) as exc:
            log.warning(
                "bus.message.settle_failed",
                consumer=self._name,
                ack=ack,
                error_type=type(exc).__name__,
            )
