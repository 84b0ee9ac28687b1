"""One RabbitMQ connection per process, with a shared confirming channel for publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.connection import make_url

from majlis.logging import get_logger
from majlis.messaging.names import exchange_name
from majlis.messaging.queues import PLATFORM_QUEUES
from majlis.messaging.topology import QueueSpec, declare_topology
from majlis.settings import Settings

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0


class BusError(RuntimeError):
    """Base for bus failures."""


class BusConnectionError(BusError):
    """RabbitMQ could not be reached (refused, timed out, bad credentials)."""


class Bus:
    """A robust connection plus the names it works with; close() when the process stops."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        *,
        prefix: str,
        retry_delays_ms: Sequence[int],
        publish_timeout: float,
    ) -> None:
        self._connection = connection
        self._prefix = prefix
        self._retry_delays_ms = tuple(retry_delays_ms)
        self._publish_timeout = publish_timeout
        self._publish_channel: AbstractChannel | None = None
        self._events_exchange: AbstractExchange | None = None
        # Two publishers must not both open the shared channel.
        self._channel_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def connect(
        cls, settings: Settings, *, name: str = "majlis", connect_timeout: float = CONNECT_TIMEOUT_S
    ) -> Bus:
        """Connect to settings.amqp_url; raises BusConnectionError (never showing the URL)."""
        connection = aio_pika.RobustConnection(
            make_url(settings.amqp_url.get_secret_value()),
            client_properties={"connection_name": name},
        )
        try:
            async with asyncio.timeout(connect_timeout):
                await connection.connect(timeout=connect_timeout)
        except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
            # A robust connection that failed its first attempt keeps reconnecting in the
            # background unless closed: close it, or it outlives the caller.
            with contextlib.suppress(Exception):
                await connection.close()
            # The exception text may quote the URL and with it the password: log the type only.
            log.warning("bus.connect.failed", error_type=type(exc).__name__)
            raise BusConnectionError("cannot connect to RabbitMQ") from None
        return cls(
            connection,
            prefix=settings.bus_prefix,
            retry_delays_ms=settings.bus_retry_delays_ms,
            publish_timeout=settings.bus_publish_timeout,
        )

    @property
    def prefix(self) -> str:
        """The name prefix of every exchange and queue this bus uses."""
        return self._prefix

    @property
    def retry_delays_ms(self) -> tuple[int, ...]:
        """Delays of the retry queues, from settings."""
        return self._retry_delays_ms

    @property
    def publish_timeout(self) -> float:
        """Seconds a publish may wait for the broker's confirm."""
        return self._publish_timeout

    @property
    def is_closed(self) -> bool:
        """True once close() was called or the connection is gone for good."""
        return self._closed or self._connection.is_closed

    async def channel(self, *, publisher_confirms: bool = True) -> AbstractChannel:
        """A new channel (consumers take one each); the caller closes it."""
        if self.is_closed:
            raise BusError("the bus is closed")
        return await self._connection.channel(publisher_confirms=publisher_confirms)

    async def publish_channel(self) -> AbstractChannel:
        """The shared publishing channel: confirms on, unroutable mandatory messages raise."""
        channel, _ = await self._publish_target()
        return channel

    async def events_exchange(self) -> AbstractExchange:
        """The topic exchange on the publishing channel (not declared again)."""
        _, exchange = await self._publish_target()
        return exchange

    async def _publish_target(self) -> tuple[AbstractChannel, AbstractExchange]:
        # Fast path, taken by nearly every publish: the lock only guards creating the channel.
        channel, exchange = self._publish_channel, self._events_exchange
        if (
            not self._closed
            and channel is not None
            and exchange is not None
            and not channel.is_closed
        ):
            return channel, exchange
        async with self._channel_lock:
            if self.is_closed:
                raise BusError("the bus is closed")
            # A channel the broker closed (e.g. after a 404) is replaced, not reused.
            if (
                self._publish_channel is None
                or self._events_exchange is None
                or self._publish_channel.is_closed
            ):
                channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._events_exchange = await channel.get_exchange(
                    exchange_name(self._prefix), ensure=False
                )
                self._publish_channel = channel
            return self._publish_channel, self._events_exchange

    async def declare_topology(self, queues: Sequence[QueueSpec] = PLATFORM_QUEUES) -> None:
        """Declare the whole platform topology, so publishes route before consumers start."""
        channel = await self.channel(publisher_confirms=False)
        try:
            await declare_topology(channel, self._prefix, queues, self._retry_delays_ms)
        finally:
            await channel.close()

    async def is_healthy(self) -> bool:
        """For /readyz: the connection is up and a publishing channel can be had."""
        if self.is_closed or not self._connection.connected.is_set():
            return False
        try:
            async with asyncio.timeout(2.0):
                channel = await self.publish_channel()
        except (BusError, aiormq.exceptions.AMQPError, OSError, TimeoutError):
            return False
        return not channel.is_closed

    async def close(self) -> None:
        """Close the connection and every channel on it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._connection.close()
