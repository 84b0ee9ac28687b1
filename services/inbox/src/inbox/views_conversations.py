"""Conversations: list, detail, messages, status, bot/human ownership, assignment, labels
(and the routes of labels, assignment policies and teams)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from inbox import conversations, conversations_csv, views_labels, views_teams
from inbox import conversations_repository as repo
from inbox.conversation_answers import (
    ConversationDetailOut,
    ConversationOut,
    ConversationPageOut,
    MessagePageOut,
)
from inbox.conversation_list import (
    MAX_LIMIT,
    encode_cursor,
    int_param,
    item_json,
    list_filter,
    message_json,
    only_params,
)
from inbox.deps import INBOX_DEPS
from inbox.repository import Conn
from inbox.snoozes import snooze_waker_ctx
from inbox.web import AGENT_ROLES, caller, path_id
from majlis.http import ProblemError, RequestModel, json_response, parse_json, responds
from majlis.http.auth import Identity, caller_transaction
from majlis.http.resources import DB_POOL

MAX_SNOOZE = timedelta(days=366)
MAX_LABELS_PER_CONVERSATION = 50
MESSAGE_PARAMS = frozenset({"before", "after", "limit"})
# The app registers the timed-snooze job from here (one line in inbox.app).
__all__ = ["add_routes", "snooze_waker_ctx"]


class StatusBody(RequestModel):
    """`POST .../status`."""

    status: Literal["open", "pending", "snoozed", "resolved"]
    snoozed_until: AwareDatetime | None = None


class TakeoverBody(RequestModel):
    """`POST .../takeover` (the body is optional)."""

    force: bool = False


class AssignBody(RequestModel):
    """`POST .../assign`: a person (user_id) and/or a team (team_id); null unassigns either.

    A field left out keeps the conversation's value. auto_assign: give the conversation to an
    online member of the team, picked by the number's policy (capacity counted).
    """

    user_id: UUID | None = None
    team_id: UUID | None = None
    auto_assign: bool = False

    @model_validator(mode="after")
    def _something(self) -> AssignBody:
        given = self.model_fields_set
        if not given & {"user_id", "team_id"} and not self.auto_assign:
            raise ValueError("give user_id, team_id or both")
        if self.auto_assign and "user_id" in given:
            raise ValueError("auto_assign picks the person: give team_id, not user_id")
        return self

    def change(self) -> conversations.AssignmentChange:
        """The change the body asks for."""
        given = self.model_fields_set
        return conversations.AssignmentChange(
            user_given="user_id" in given,
            user_id=self.user_id,
            team_given="team_id" in given,
            team_id=self.team_id,
            auto=self.auto_assign,
        )


class LabelsBody(RequestModel):
    """`PUT .../labels`: the conversation's labels, all of them."""

    label_ids: list[UUID] = Field(max_length=MAX_LABELS_PER_CONVERSATION)


MAX_BULK = 100


class BulkBody(RequestModel):
    """`POST /api/v1/conversations/bulk`: one or more changes to up to 100 conversations.

    All or nothing: the changes are made in one transaction, and an unknown id (or another
    tenant's), a refused assignment or an unknown label changes none of them.
    """

    conversation_ids: list[UUID] = Field(min_length=1, max_length=MAX_BULK)
    status: StatusBody | None = None
    assign: AssignBody | None = None
    add_label_ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_LABELS_PER_CONVERSATION
    )

    @model_validator(mode="after")
    def _something(self) -> BulkBody:
        if self.status is None and self.assign is None and self.add_label_ids is None:
            raise ValueError("give status, assign, add_label_ids or several")
        if len(set(self.conversation_ids)) != len(self.conversation_ids):
            raise ValueError("conversation_ids must not repeat")
        return self


class BulkPageOut(BaseModel):
    """The conversations a bulk change was made to, as they are now, in the order given."""

    items: list[ConversationOut]


_json = json_response


async def _item(request: web.Request, conn: Conn, identity: Identity, cid: UUID) -> dict[str, Any]:
    row = await repo.item(conn, cid)
    if row is None:
        raise conversations.not_found()
    return item_json(row, request.app[INBOX_DEPS].cipher, identity.tenant_id)


@responds(ConversationPageOut)
async def list_conversations(request: web.Request) -> web.Response:
    """`GET /api/v1/conversations`: a filtered page, newest activity first, with counts."""
    identity = await caller(request)
    deps = request.app[INBOX_DEPS]
    flt, limit = list_filter(
        request.query,
        caller_id=identity.principal_id,
        tenant_id=identity.tenant_id,
        indexer=deps.indexer,
        region=deps.phone_region,
    )
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        rows, counts = await repo.list_page(conn, flt.where, flt.params, limit + 1, flt.after_dated)
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    return _json(
        {
            "items": [item_json(r, deps.cipher, identity.tenant_id) for r in page],
            "next_cursor": encode_cursor(last["last_message_at"], last["id"])
            if more and last is not None
            else None,
            "counts": counts,
        }
    )


@responds(ConversationDetailOut)
async def get_conversation(request: web.Request) -> web.Response:
    """`GET /api/v1/conversations/{id}`: the item and its labels in full."""
    identity = await caller(request)
    cid = path_id(request, "conversation_id", "Conversation")
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        body = await _item(request, conn, identity, cid)
        labels = await repo.labels_of(conn, cid)
    body["labels_detail"] = [
        {"id": str(r["id"]), "name": r["name"], "color": r["color"]} for r in labels
    ]
    return _json(body)


@responds(MessagePageOut)
async def list_messages(request: web.Request) -> web.Response:
    """`GET /api/v1/conversations/{id}/messages`: newest first (`before`) or after a seq."""
    identity = await caller(request)
    cid = path_id(request, "conversation_id", "Conversation")
    only_params(request.query, MESSAGE_PARAMS)
    # Below zero: the imported history of the WhatsApp Business app comes before seq 1.
    before = int_param(request.query, "before", -(2**63), 2**63 - 1)
    after = int_param(request.query, "after", 0, 2**63 - 1)
    if before is not None and after is not None:
        raise ProblemError(422, "Use either before or after", slug="invalid-query-parameter")
    limit = int_param(request.query, "limit", 1, MAX_LIMIT) or 50
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        if not await repo.exists(conn, cid):
            raise conversations.not_found()
        rows = await repo.messages_page(conn, cid, before=before, after=after, limit=limit + 1)
    page = rows[:limit]
    cipher = request.app[INBOX_DEPS].cipher
    more = len(rows) > limit
    return _json(
        {
            "items": [message_json(r, cipher, identity.tenant_id) for r in page],
            "next_cursor": str(page[-1]["seq"]) if more and page else None,
        }
    )


def _check_snooze(body: StatusBody) -> None:
    if body.snoozed_until is None:
        return
    if body.status != "snoozed":
        raise ProblemError(422, "snoozed_until is only for status snoozed", slug="invalid-snooze")
    now = datetime.now(UTC)
    if not now < body.snoozed_until <= now + MAX_SNOOZE:
        raise ProblemError(
            422, "snoozed_until must be in the future, at most a year ahead", slug="invalid-snooze"
        )


@responds(ConversationOut)
async def post_status(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/status`."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    body = await parse_json(request, StatusBody)
    _check_snooze(body)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.change_status(
            conn, request, identity, cid, body.status, body.snoozed_until
        )
        return _json(await _item(request, conn, identity, cid))


@responds(ConversationOut)
async def post_read(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/read`: the caller read it."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.mark_read(conn, identity, cid)
        return _json(await _item(request, conn, identity, cid))


@responds(ConversationOut)
async def post_takeover(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/takeover` (optional body {"force": true})."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    body = await parse_json(request, TakeoverBody) if request.body_exists else TakeoverBody()
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.take_over(conn, request, identity, cid, force=body.force)
        return _json(await _item(request, conn, identity, cid))


@responds(ConversationOut)
async def post_handback(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/handback`: the bot answers again."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.hand_back(conn, request, identity, cid)
        return _json(await _item(request, conn, identity, cid))


@responds(ConversationOut)
async def post_assign(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/{id}/assign` {"user_id"?, "team_id"?, "auto_assign"?}."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    body = await parse_json(request, AssignBody)
    presence = request.app[INBOX_DEPS].presence
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.assign(conn, request, identity, cid, body.change(), presence)
        return _json(await _item(request, conn, identity, cid))


@responds(ConversationOut)
async def put_labels(request: web.Request) -> web.Response:
    """`PUT /api/v1/conversations/{id}/labels` {"label_ids": [...]}."""
    identity = await caller(request, AGENT_ROLES)
    cid = path_id(request, "conversation_id", "Conversation")
    body = await parse_json(request, LabelsBody)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await conversations.set_labels(conn, request, identity, cid, body.label_ids)
        return _json(await _item(request, conn, identity, cid))


@responds(BulkPageOut)
async def post_bulk(request: web.Request) -> web.Response:
    """`POST /api/v1/conversations/bulk`: status, assignment and labels of many at once."""
    identity = await caller(request, AGENT_ROLES)
    body = await parse_json(request, BulkBody)
    if body.status is not None:
        _check_snooze(body.status)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        # Rows are locked in one order (by id), so two bulk changes cannot deadlock.
        for cid in sorted(body.conversation_ids):
            try:
                await _bulk_change(request, conn, identity, cid, body)
            except ProblemError as problem:  # which one refused: nothing changed in any
                problem.extensions["conversation_id"] = str(cid)
                raise
        items = [await _item(request, conn, identity, cid) for cid in body.conversation_ids]
    return _json({"items": items})


async def _bulk_change(
    request: web.Request, conn: Conn, identity: Identity, cid: UUID, body: BulkBody
) -> None:
    if body.assign is not None:
        presence = request.app[INBOX_DEPS].presence
        await conversations.assign(conn, request, identity, cid, body.assign.change(), presence)
    if body.status is not None:
        status = body.status
        await conversations.change_status(
            conn, request, identity, cid, status.status, status.snoozed_until
        )
    if body.add_label_ids is not None:
        await conversations.locked(conn, cid)  # before reading: a concurrent change waits
        current = await repo.label_ids_of(conn, cid)
        added = [i for i in dict.fromkeys(body.add_label_ids) if i not in current]
        if len(current) + len(added) > MAX_LABELS_PER_CONVERSATION:
            raise ProblemError(
                422, "Too many labels on a conversation", slug="too-many-labels",
                detail=f"A conversation carries at most {MAX_LABELS_PER_CONVERSATION} labels.",
            )  # fmt: skip
        # Labels it has stay first, in the order they were added; the new ones follow.
        await conversations.set_labels(conn, request, identity, cid, [*current, *added])


def add_routes(app: web.Application) -> None:
    """Mount these routes (and those of labels and assignment policies)."""
    base = "/api/v1/conversations/{conversation_id}"
    app.router.add_get("/api/v1/conversations", list_conversations)
    app.router.add_post("/api/v1/conversations/bulk", post_bulk)
    conversations_csv.add_routes(app)
    app.router.add_get(base, get_conversation)
    app.router.add_get(base + "/messages", list_messages)
    app.router.add_post(base + "/status", post_status)
    app.router.add_post(base + "/read", post_read)
    app.router.add_post(base + "/takeover", post_takeover)
    app.router.add_post(base + "/handback", post_handback)
    app.router.add_post(base + "/assign", post_assign)
    app.router.add_put(base + "/labels", put_labels)
    views_labels.add_routes(app)
    views_teams.add_routes(app)
