"""Presence: an agent's own status, who is online, who views or types in a conversation.

Presence lives in Redis with an expiry (majlis.presence). Changes are announced as
`gateway.presence.changed` straight to the bus with confirms: they are ephemeral, so the
outbox would only add latency, and a lost one is repaired by the next heartbeat or reload.
"""

from __future__ import annotations

import asyncio
from typing import Literal
from uuid import UUID

from aiohttp import web

from gateway.response_models import AgentPresencesOut, ConversationPresencesOut, MyPresenceOut
from gateway.routes import route
from gateway.stream_frames import ConversationFrame
from gateway.stream_hub import HUB, Stream
from majlis.events import make_envelope
from majlis.events.gateway import PresenceChanged
from majlis.http import ProblemError, RequestModel, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.http.resources import PUBLISHER
from majlis.logging import get_logger
from majlis.messaging import PublishError
from majlis.presence import AGENT_STATES, RedisUnavailable

log = get_logger(__name__)


class PresenceBody(RequestModel):
    status: Literal["online", "away", "offline"]


async def announce(app: web.Application, tenant_id: UUID, event: PresenceChanged) -> None:
    """Publish a presence change for every replica's streams; a failure is logged, not raised."""
    try:
        await app[PUBLISHER].publish(make_envelope(event, tenant_id=tenant_id))
    except PublishError:
        # Presence is advisory: the state is in Redis already and the next change repairs it.
        log.warning("presence.publish_failed", scope=event.scope, tenant_id=str(tenant_id))


async def renew_agent(app: web.Application, tenant_id: UUID, user_id: UUID) -> None:
    """A heartbeat: keep the agent's status alive (away stays away), announce a new online."""
    presence = app[HUB].presence
    state = await presence.agent_state(tenant_id, user_id)
    await presence.set_agent(tenant_id, user_id, state or "online")
    if state is None:
        await announce(
            app, tenant_id, PresenceChanged(user_id=user_id, scope="agent", state="online")
        )


async def renew_stream(app: web.Application, stream: Stream, *, force: bool = False) -> None:
    """A client frame renews its user's presence, at most once per hub.renew_seconds."""
    hub = app[HUB]
    now = asyncio.get_running_loop().time()
    if stream.presence_paused or (not force and now - stream.renewed_at < hub.renew_seconds):
        return
    stream.renewed_at = now
    try:
        await renew_agent(app, stream.tenant_id, stream.user_id)
    except RedisUnavailable:
        log.warning("presence.renew_failed", tenant_id=str(stream.tenant_id))


async def on_conversation_frame(
    app: web.Application, stream: Stream, frame: ConversationFrame
) -> None:
    """Viewing, typing or left: record it (with its expiry) and tell the tenant's streams."""
    state = None if frame.type == "left" else frame.type
    try:
        await app[HUB].presence.set_in_conversation(
            stream.tenant_id, frame.conversation_id, stream.user_id, state
        )
    except RedisUnavailable:
        log.warning("presence.conversation_failed", tenant_id=str(stream.tenant_id))
        app[HUB].offer(stream, '{"type":"error","title":"Presence is unavailable, try again"}')
        return
    await announce(
        app,
        stream.tenant_id,
        PresenceChanged(
            user_id=stream.user_id,
            scope="conversation",
            state=frame.type,
            conversation_id=frame.conversation_id,
        ),
    )


@route(
    "PUT",
    "/api/v1/me/presence",
    "Set your own status: online, away or offline",
    body=PresenceBody,
    response=MyPresenceOut,
    tag="presence",
    responses={200: "Your status", 422: "Unknown status"},
)
async def set_my_presence(request: web.Request) -> web.Response:
    """Sessions only; offline takes effect at once (the next open dashboard marks online)."""
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, PresenceBody)
    presence = request.app[HUB].presence
    previous = await presence.agent_state(identity.tenant_id, identity.principal_id)
    state = None if body.status == "offline" else body.status
    await presence.set_agent(identity.tenant_id, identity.principal_id, state)
    if (previous or "offline") != body.status:
        await announce(
            request.app,
            identity.tenant_id,
            PresenceChanged(user_id=identity.principal_id, scope="agent", state=body.status),
        )
    return web.json_response({"user_id": str(identity.principal_id), "status": body.status})


@route(
    "GET",
    "/api/v1/presence",
    "Who of your team is online or away",
    response=AgentPresencesOut,
    tag="presence",
    responses={200: "Users with their status; everyone else is offline"},
)
async def list_presence(request: web.Request) -> web.Response:
    """Every user of the caller's tenant who is online or away now."""
    identity: Identity = request[IDENTITY]
    presence = request.app[HUB].presence
    found: list[dict[str, str]] = []
    for state in AGENT_STATES:
        users = await presence.agents(identity.tenant_id, state)
        found.extend({"user_id": str(u), "status": state} for u in sorted(users, key=str))
    return web.json_response(found)


@route(
    "GET",
    "/api/v1/presence/conversations/{conversation_id}",
    "Who views or types in a conversation",
    response=ConversationPresencesOut,
    tag="presence",
    responses={200: "Users with their state", 404: "Not a conversation id"},
)
async def conversation_presence(request: web.Request) -> web.Response:
    """Viewing and typing users; an unknown or foreign id simply has nobody."""
    identity: Identity = request[IDENTITY]
    try:
        conversation_id = UUID(request.match_info["conversation_id"])
    except ValueError:
        raise ProblemError(404, "Not found") from None
    presence = request.app[HUB].presence
    entries = await presence.in_conversation(identity.tenant_id, conversation_id)
    return web.json_response([{"user_id": str(e.user_id), "state": e.state} for e in entries])
