"""Publish envelopes with broker confirms: a publish returns only once RabbitMQ has it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractExchange, AbstractMessage, HeadersType

from majlis.events import Envelope, envelope_bytes
from majlis.logging import get_logger
from majlis.messaging.connection import Bus, BusConnectionError, BusError
from majlis.messaging.names import CAUSATION_HEADER, CORRELATION_HEADER, TENANT_HEADER
from majlis.settings import Settings

log = get_logger(__name__)


class PublishError(BusError):
    """The broker did not confirm a message: nacked, unroutable, timed out or unreachable."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """An AMQP message as `Exchange.publish` reads it: its body and its properties.

    `aio_pika.Message` checks every attribute it sets (a lock), which cost more than the rest
    of an event's serialisation together (bench/micro.py, "validation"); the properties are
    the same frame either way."""

    body: bytes = field(repr=False)  # never in a log line (aio_pika logs messages at debug)
    properties: aiormq.spec.Basic.Properties = field(repr=False)


def envelope_message(envelope: Envelope) -> OutgoingMessage:
    """The AMQP message for an envelope: persistent, JSON, ids in properties and headers."""
    headers: HeadersType = {TENANT_HEADER: str(envelope.tenant_id)}
    if envelope.correlation_id is not None:
        headers[CORRELATION_HEADER] = str(envelope.correlation_id)
    if envelope.causation_id is not None:
        headers[CAUSATION_HEADER] = str(envelope.causation_id)
    return OutgoingMessage(
        envelope_bytes(envelope),
        aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=int(aio_pika.DeliveryMode.PERSISTENT),
            headers=headers,
            message_id=str(envelope.id),
            correlation_id=str(envelope.correlation_id) if envelope.correlation_id else None,
            timestamp=envelope.occurred_at,
            message_type=envelope.type,
            priority=0,
        ),
    )


async def publish_confirmed(
    bus: Bus,
    message: aio_pika.Message | OutgoingMessage,
    *,
    routing_key: str,
    to_default_exchange: bool = False,
    confirm_timeout: float | None = None,
) -> None:
    """Publish one message (mandatory) and wait for the confirm; raises PublishError."""
    if bus.is_closed:
        raise PublishError("the bus is closed")
    seconds = bus.publish_timeout if confirm_timeout is None else confirm_timeout
    try:
        async with asyncio.timeout(seconds):
            exchange: AbstractExchange
            if to_default_exchange:
                exchange = (await bus.publish_channel()).default_exchange
            else:
                exchange = await bus.events_exchange()
            # Exchange.publish reads the body and the properties only.
            sent = cast("AbstractMessage", message)
            confirmation = await exchange.publish(sent, routing_key, mandatory=True)
    except aiormq.exceptions.PublishError:
        # Basic.Return: no queue is bound for this routing key; the broker dropped it.
        raise PublishError(f"unroutable: {routing_key}") from None
    except aiormq.exceptions.DeliveryError:
        raise PublishError(f"nacked by the broker: {routing_key}") from None
    except TimeoutError:
        raise PublishError(f"no confirm within {seconds}s: {routing_key}") from None
    except BusError as exc:
        raise PublishError(str(exc)) from None
    except (aiormq.exceptions.AMQPError, OSError, RuntimeError) as exc:
        # Closed channel or connection, lost socket: whatever it was, it was not a confirm.
        raise PublishError(f"publish failed ({type(exc).__name__}): {routing_key}") from None
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        raise PublishError(f"not confirmed: {routing_key}")


class Publisher:
    """Publishes envelopes to the topic exchange, routing key = envelope type."""

    def __init__(self, bus: Bus, *, timeout: float | None = None, owns_bus: bool = False) -> None:
        """`timeout`: seconds to wait for each confirm (default: settings.bus_publish_timeout)."""
        self._bus = bus
        self._timeout = timeout
        self._owns_bus = owns_bus

    @property
    def bus(self) -> Bus:
        """The bus this publisher writes to."""
        return self._bus

    async def publish(self, envelope: Envelope) -> None:
        """Publish one envelope and wait for the broker's confirm; raises PublishError."""
        await publish_confirmed(
            self._bus,
            envelope_message(envelope),
            routing_key=envelope.type,
            confirm_timeout=self._timeout,
        )

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        """Publish many envelopes with all confirms in flight at once; raises if any failed."""
        batch = list(envelopes)
        if len(batch) == 1:
            # The common case (a webhook of one item): no task, no gather.
            await self.publish(batch[0])
            return
        results = await asyncio.gather(
            *(self.publish(envelope) for envelope in batch), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):
                raise failure  # cancellation and friends are not ours to swallow
        if failures:
            log.warning("bus.publish_many.failed", failed=len(failures), total=len(batch))
            raise PublishError(f"{len(failures)} of {len(batch)} publishes failed") from failures[0]

    async def close(self) -> None:
        """Close the bus if this publisher opened it (see connect_publisher)."""
        if self._owns_bus:
            await self._bus.close()


async def connect_publisher(settings: Settings) -> Publisher:
    """Connect a publisher of its own; raises PublishError if RabbitMQ cannot be reached."""
    try:
        bus = await Bus.connect(settings, name="majlis-publisher")
    except BusConnectionError as exc:
        raise PublishError(str(exc)) from exc
    return Publisher(bus, owns_bus=True)
