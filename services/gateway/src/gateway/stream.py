"""GET /api/v1/stream: the dashboard's WebSocket for live updates and conversation presence.

The token never travels in the URL (URLs end up in logs and proxies): the route is public
at the edge (per-IP limit only) and the client's first frame must be
``{"type":"auth","token":...}`` within a few seconds. Only sign-in sessions may stream.
A foreign ``Origin`` is refused before the upgrade (cross-site WebSocket hijacking).
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import orjson
from aiohttp import WSMsgType, web

from gateway.apikeys import is_api_key
from gateway.context import CONTEXT
from gateway.routes import route
from gateway.stream_frames import BadFrame, ConversationFrame, Frame, parse_frame
from gateway.stream_hub import (
    FORBIDDEN,
    HUB,
    IDLE,
    POLICY,
    TRY_LATER,
    UNAUTHENTICATED,
    Hub,
    Stream,
)
from gateway.views_presence import on_conversation_frame, renew_stream
from majlis.http.problems import ProblemError
from majlis.http.tokens import AccessClaims
from majlis.logging import bind, get_logger
from majlis.ratelimit import RedisUnavailable

log = get_logger(__name__)


class StreamClosed(Exception):
    """The stream must close with this code (raised before it is registered)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _origin_allowed(request: web.Request, origin: str) -> bool:
    # Same host as the request (what a browser sends for our own dashboard), or the
    # configured public origin when a proxy rewrites Host.
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False
    public = urlsplit(request.app[CONTEXT].settings.public_base_url)
    same_public = (parts.scheme, parts.netloc.lower()) == (public.scheme, public.netloc.lower())
    return same_public or parts.netloc.lower() == request.host.lower()


async def _verify(request: web.Request, token: object) -> AccessClaims:
    """Claims of a session token; StreamClosed(4001/4003/1013) otherwise."""
    if not isinstance(token, str) or not token:
        raise StreamClosed(UNAUTHENTICATED, "authentication required")
    if is_api_key(token):
        raise StreamClosed(FORBIDDEN, "API keys cannot stream")
    try:
        claims = await request.app[CONTEXT].authenticator.claims_for(token)
    except ProblemError as error:
        if error.status == 401:
            raise StreamClosed(UNAUTHENTICATED, "invalid or expired token") from None
        raise StreamClosed(TRY_LATER, "try again later") from None
    if claims.scopes:
        raise StreamClosed(FORBIDDEN, "API keys cannot stream")
    if claims.setup_only:
        raise StreamClosed(FORBIDDEN, "set up two-factor sign-in first")
    return claims


async def _authenticate(request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> AccessClaims:
    try:
        message = await ws.receive(timeout=hub.auth_seconds)
    except TimeoutError:
        raise StreamClosed(UNAUTHENTICATED, "authentication required") from None
    if message.type is not WSMsgType.TEXT or len(message.data) > hub.max_frame_bytes:
        raise StreamClosed(UNAUTHENTICATED, "authentication required")
    try:
        frame = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        raise StreamClosed(UNAUTHENTICATED, "authentication required") from None
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        raise StreamClosed(UNAUTHENTICATED, "authentication required")
    return await _verify(request, frame.get("token"))


def _ready(claims: AccessClaims) -> str:
    return orjson.dumps(
        {
            "type": "ready",
            "user_id": str(claims.user_id),
            "role": claims.role,
            "expires_at": claims.expires_at,
        }
    ).decode()


async def _write(hub: Hub, stream: Stream) -> None:
    """Drain the stream's queue into the socket; the only task that awaits its writes."""
    try:
        while True:
            frame = await stream.queue.get()
            await stream.ws.send_str(frame)
    except (ConnectionError, RuntimeError):
        hub.close(stream, TRY_LATER, "write failed")


async def _watch(hub: Hub, stream: Stream) -> None:
    """Pings, the idle timeout, token expiry and the periodic revocation re-check."""
    loop = asyncio.get_running_loop()
    revocations = stream.request.app[CONTEXT].revocations
    next_ping = loop.time() + hub.ping_seconds
    next_check = loop.time() + hub.recheck_seconds
    while not stream.closing:
        expires_in = stream.claims.expires_at - time.time()
        wake = min(next_ping, next_check, stream.last_seen + hub.idle_seconds)
        await asyncio.sleep(max(0.0, min(wake - loop.time(), expires_in)))
        now = loop.time()
        if time.time() >= stream.claims.expires_at:
            hub.close(stream, UNAUTHENTICATED, "token expired")
        elif now >= stream.last_seen + hub.idle_seconds:
            hub.close(stream, IDLE, "no heartbeat")
        elif now >= next_check:
            next_check = now + hub.recheck_seconds
            try:
                if await revocations.is_revoked(stream.claims):
                    hub.close(stream, UNAUTHENTICATED, "session ended")
            except RedisUnavailable:
                # Fail closed: a revocation we cannot check may have happened.
                hub.close(stream, TRY_LATER, "try again later")
        if now >= next_ping:
            next_ping = now + hub.ping_seconds
            hub.offer(stream, '{"type":"ping"}')


async def _reauthenticate(request: web.Request, stream: Stream, token: object) -> None:
    claims = await _verify(request, token)
    if (claims.tenant_id, claims.user_id) != (stream.tenant_id, stream.user_id):
        raise StreamClosed(FORBIDDEN, "a stream keeps its user")
    stream.claims = claims
    request.app[HUB].offer(stream, _ready(claims))


async def _read(request: web.Request, hub: Hub, stream: Stream) -> None:
    """Client frames until the socket closes; bad or too many frames close it (1008)."""
    loop = asyncio.get_running_loop()
    bad = 0
    window, count = loop.time(), 0
    async for message in stream.ws:
        now = loop.time()
        stream.last_seen = now
        if now - window >= 1.0:
            window, count = now, 0
        count += 1
        if count > hub.frame_rate:
            hub.close(stream, POLICY, "too many frames")
            return
        try:
            frame = parse_frame(message, hub.max_frame_bytes)
        except BadFrame as error:
            bad += 1
            if bad >= hub.max_bad_frames:
                hub.close(stream, POLICY, "too many bad frames")
                return
            hub.offer(stream, orjson.dumps({"type": "error", "title": str(error)}).decode())
            continue
        try:
            await _handle(request, hub, stream, frame)
        except StreamClosed as closed:
            hub.close(stream, closed.code, closed.reason)
            return


async def _handle(request: web.Request, hub: Hub, stream: Stream, frame: Frame) -> None:
    if frame.type == "auth":
        await _reauthenticate(request, stream, frame.token)
    elif frame.type == "ping":
        hub.offer(stream, '{"type":"pong"}')
    await renew_stream(request.app, stream)
    if isinstance(frame, ConversationFrame):
        await on_conversation_frame(request.app, stream, frame)


def _cap_send_buffer(request: web.Request, size: int | None) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if size is not None and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


@route(
    "GET",
    "/api/v1/stream",
    "Live updates over a WebSocket (authenticate with the first frame)",
    auth="public",
    rate="stream",
    tag="realtime",
    responses={101: "Switching to WebSocket", 403: "Foreign origin", 426: "Not a WebSocket"},
)
async def open_stream(request: web.Request) -> web.StreamResponse:
    """Open a stream; events of the caller's tenant follow once the auth frame verified."""
    origin = request.headers.get("Origin")
    if origin is not None and not _origin_allowed(request, origin):
        raise ProblemError(403, "This origin may not open a stream", slug="forbidden-origin")
    hub = request.app[HUB]
    ws = web.WebSocketResponse(max_msg_size=64 * 1024, autoping=True)
    if not ws.can_prepare(request).ok:
        raise ProblemError(426, "A WebSocket upgrade is required", slug="upgrade-required")
    await ws.prepare(request)
    _cap_send_buffer(request, hub.send_buffer_bytes)
    try:
        claims = await _authenticate(request, ws, hub)
    except StreamClosed as closed:
        await ws.close(code=closed.code, message=closed.reason.encode())
        return ws
    bind(tenant_id=str(claims.tenant_id))
    loop = asyncio.get_running_loop()
    live = Stream(ws, request, claims, asyncio.Queue(hub.queue_bound), last_seen=loop.time())
    live.writer = asyncio.create_task(_write(hub, live), name="stream-write")
    hub.add(live)
    hub.offer(live, _ready(claims))
    watcher = asyncio.create_task(_watch(hub, live), name="stream-watch")
    try:
        await renew_stream(request.app, live, force=True)
        await _read(request, hub, live)
    finally:
        watcher.cancel()
        tasks = {watcher, hub.close(live, 1000, "closed")}
        if live.writer is not None:
            tasks.add(live.writer)
        # wait(), not gather(): if this handler is cancelled, the close still completes.
        done, _ = await asyncio.wait(tasks)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("stream.task_failed", error_type=type(task.exception()).__name__)
    return ws
