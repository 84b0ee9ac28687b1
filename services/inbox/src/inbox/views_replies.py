"""Replying: outbound messages and private notes, collision protection, canned responses.

`POST /api/v1/conversations/{id}/messages` stores the message and queues its send command in
one transaction (rules in inbox.replies); the dispatcher's result arrives later on the bus.
"""

from __future__ import annotations

import re

from aiohttp import web

from inbox import canned, replies
from inbox.conversation_answers import SentMessageOut
from inbox.deps import CIPHER
from inbox.web import AGENT_ROLES, audit, caller, path_id
from majlis.http import ProblemError, json_response, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL
from majlis.logging import get_logger

log = get_logger(__name__)

# Printable ASCII without spaces: what clients put in an Idempotency-Key (UUIDs, ULIDs...).
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def idempotency_key(request: web.Request) -> str | None:
    """The client's Idempotency-Key header, if any; 422 if malformed."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ProblemError(
            422,
            "Idempotency-Key must be 1 to 128 visible ASCII characters",
            slug="invalid-idempotency-key",
        )
    return value


@responds(SentMessageOut)
async def post_message(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/messages`: reply to the customer, or add a note."""
    identity = await caller(request, AGENT_ROLES)
    conversation_id = path_id(request, "conversation_id", "Conversation")
    key = idempotency_key(request)
    body = (await parse_json(request, replies.ReplyBody)).root
    cipher = request.app[CIPHER]
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        outcome = await replies.send_reply(conn, cipher, identity, conversation_id, body, key)
        message = outcome.message
        if outcome.created:
            await audit(
                conn,
                request,
                "messages.note_added" if message.direction == "note" else "messages.queued",
                target_type="message",
                target_id=message.id,
                details={
                    "conversation_id": str(conversation_id),
                    "type": message.type,
                    "mentions": len(outcome.mentions),
                },
            )
    log.info(
        "inbox.reply_stored" if outcome.created else "inbox.reply_replayed",
        message_id=str(message.id),
        direction=message.direction,
        message_type=message.type,
    )
    shown = replies.message_json(cipher, identity.tenant_id, message, outcome.mentions)
    return json_response(shown, status=201 if outcome.created else 200)


def add_routes(app: web.Application) -> None:
    """Mount these routes."""
    app.router.add_post("/api/v1/conversations/{conversation_id}/messages", post_message)
    canned.add_routes(app)
