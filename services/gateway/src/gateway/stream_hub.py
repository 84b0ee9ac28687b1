"""The live-update hub: which WebSocket streams are open, per tenant, and fan-out to them.

Fan-out never awaits a socket: each stream has a bounded queue that its own writer task
drains. A stream whose queue is full is closed with 1013 and its queue dropped, so one slow
client never slows the others. Delivery costs O(streams of the event's tenant).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from aiohttp import web

from majlis.events import Envelope
from majlis.http.keys import SETTINGS
from majlis.http.resources import REDIS
from majlis.http.tokens import AccessClaims, Role
from majlis.logging import get_logger
from majlis.presence import Presence

log = get_logger(__name__)

# Close codes of the stream (4000-4999 are the application's own).
UNAUTHENTICATED = 4001  # no, bad, expired or revoked token
FORBIDDEN = 4003  # a valid credential that may not stream (API keys)
IDLE = 4008  # no frame from the client within the idle timeout
POLICY = 1008  # too many frames, or too many bad ones
TRY_LATER = 1013  # slow consumer, or Redis unavailable (fail closed)
GOING_AWAY = 1001  # the gateway shuts down

_CONTACT_ROLES = frozenset({"owner", "admin", "agent"})
_MANAGER_ROLES = frozenset({"owner", "admin"})
PRESENCE_EVENT = "gateway.presence.changed"


def may_receive(event_type: str, role: str) -> bool:
    """Whether a stream of `role` may see events of `event_type`."""
    if event_type.endswith(".audit.recorded"):
        return False  # the audit trail has its own, role-restricted API
    if event_type.startswith("inbox.contact."):
        return role in _CONTACT_ROLES
    if event_type.startswith("broadcast.webhook."):
        return role in _MANAGER_ROLES  # integrations are theirs to fix
    return True


def event_frame(envelope: Envelope) -> str:
    """The frame a client receives for one event (payloads hold ids only)."""
    return orjson.dumps(
        {
            "type": "event",
            "event": envelope.type,
            "id": str(envelope.id),
            "occurred_at": envelope.occurred_at.isoformat(),
            "data": envelope.payload,
        }
    ).decode()


@dataclass(eq=False)
class Stream:
    """One open, authenticated WebSocket."""

    ws: web.WebSocketResponse
    request: web.Request
    claims: AccessClaims
    queue: asyncio.Queue[str]
    last_seen: float
    # Set when the user chose "offline": heartbeats stop marking them online.
    presence_paused: bool = False
    renewed_at: float = float("-inf")
    closing: bool = False
    writer: asyncio.Task[None] | None = None
    closer: asyncio.Task[None] | None = None

    @property
    def tenant_id(self) -> UUID:
        """The tenant of the token that opened the stream."""
        return self.claims.tenant_id

    @property
    def user_id(self) -> UUID:
        """The signed-in user."""
        return self.claims.user_id

    @property
    def role(self) -> Role:
        """The role of the latest token (a re-auth may carry a new one)."""
        return self.claims.role


class Hub:
    """Open streams by tenant, and the knobs of every stream (tests lower them)."""

    def __init__(self, presence: Presence) -> None:
        """Defaults are production values; every knob is a plain attribute."""
        self.presence = presence
        self.queue_bound = 256  # frames waiting per stream before it is dropped
        self.auth_seconds = 5.0  # the first frame must authenticate within this
        self.ping_seconds = 25.0  # the server's {"type":"ping"} interval
        self.idle_seconds = 60.0  # close when the client sent nothing for this long
        self.recheck_seconds = 60.0  # revocation re-check interval
        self.renew_seconds = 20.0  # at most one presence renewal per stream in this time
        self.frame_rate = 20  # client frames per second before 1008
        self.max_bad_frames = 10  # bad client frames before 1008
        self.max_frame_bytes = 4096
        self.close_seconds = 5.0  # a close handshake longer than this aborts the socket
        # Cap of the kernel's send buffer per stream (None: the OS autotunes, up to MBs):
        # a stalled client is detected once this, the transport's buffer and the queue fill.
        self.send_buffer_bytes: int | None = None
        self._streams: dict[UUID, set[Stream]] = {}

    def streams(self, tenant_id: UUID) -> frozenset[Stream]:
        """The open streams of one tenant."""
        return frozenset(self._streams.get(tenant_id, ()))

    def add(self, stream: Stream) -> None:
        """Start delivering the tenant's events to `stream`."""
        self._streams.setdefault(stream.tenant_id, set()).add(stream)

    def remove(self, stream: Stream) -> None:
        """Stop delivering to `stream` (idempotent)."""
        streams = self._streams.get(stream.tenant_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.tenant_id]

    def deliver(self, envelope: Envelope) -> None:
        """Queue one event for every stream of its tenant allowed to see it; never blocks."""
        streams = self._streams.get(envelope.tenant_id)
        if not streams:
            return
        if envelope.type == PRESENCE_EVENT:
            self._note_presence(streams, envelope.payload)
        frame: str | None = None
        for stream in list(streams):
            if may_receive(envelope.type, stream.role):
                frame = frame or event_frame(envelope)
                self.offer(stream, frame)

    @staticmethod
    def _note_presence(streams: set[Stream], payload: dict[str, Any]) -> None:
        # An explicit status from any replica decides whether heartbeats mark the user online.
        if payload.get("scope") != "agent":
            return
        user = str(payload.get("user_id"))
        for stream in streams:
            if str(stream.user_id) == user:
                stream.presence_paused = payload.get("state") == "offline"

    def offer(self, stream: Stream, frame: str) -> None:
        """Queue a frame for one stream; a full queue drops the stream (1013)."""
        if stream.closing:
            return
        try:
            stream.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("stream.slow_consumer_dropped", tenant_id=str(stream.tenant_id))
            self.close(stream, TRY_LATER, "slow consumer")

    def close(self, stream: Stream, code: int, reason: str) -> asyncio.Task[None]:
        """Stop delivering, drop the queue and close the socket (at most once)."""
        if stream.closer is not None:
            return stream.closer
        stream.closing = True
        self.remove(stream)
        if stream.writer is not None:
            stream.writer.cancel()
        while not stream.queue.empty():
            stream.queue.get_nowait()
        stream.closer = asyncio.create_task(
            self._close_socket(stream, code, reason), name="stream-close"
        )
        return stream.closer

    async def _close_socket(self, stream: Stream, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(self.close_seconds):
                await stream.ws.close(code=code, message=reason.encode())
        except (TimeoutError, ConnectionError, RuntimeError):
            # A client that reads nothing never takes the close frame: cut the connection.
            transport = stream.request.transport
            if transport is not None:
                transport.abort()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every stream (shutdown)."""
        streams = [s for group in self._streams.values() for s in group]
        tasks = [self.close(stream, code, reason) for stream in streams]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


HUB: web.AppKey[Hub] = web.AppKey("stream_hub", Hub)


async def close_streams(app: web.Application) -> None:
    """on_shutdown: streams are long requests, close them before the server waits for them."""
    await app[HUB].close_all(GOING_AWAY, "server shutting down")


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build the hub once Redis exists; close whatever is still open at the end."""
    app[HUB] = Hub(Presence(app[REDIS], app[SETTINGS].redis_prefix))
    yield
    await app[HUB].close_all(GOING_AWAY, "server shutting down")
