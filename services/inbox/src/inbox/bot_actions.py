"""Apply what one step of a chatflow decided (`command.inbox.run_bot_actions`), in order.

The chatflow service decides; the inbox, which owns messages, conversations and contacts,
stores. One command per engine step, claimed in processed_messages in the same transaction as
every row it writes, so a redelivered command stores nothing twice. A bot message is stored
like an agent's reply (sender_kind 'bot') and its `SendMessage` command to the dispatcher
commits with it, so the dispatcher's sent/failed events and Meta's statuses land on it.

A person who took the conversation over since the bot decided wins: the bot's messages,
tags and contact updates are dropped (and logged), never sent behind the person's back.
Outside the 24-hour window a bot text cannot be delivered (Meta 131047): it is skipped.

Order: commands are consumed concurrently, but one conversation's steps are applied in the
order the engine queued them (`RunBotActions.step`, 1, 2, 3, ...; the conversation keeps the
highest applied in bot_step_applied). A step whose predecessor has not been applied yet raises
`PredecessorPending` (its transaction, claim included, rolls back) and the handler tries again
shortly; after `ORDER_WAIT_S` it is applied anyway: late beats lost, should the predecessor
have been dead-lettered.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID, uuid4

import orjson

from inbox import contact_attributes, contacts_repository
from inbox import conversations_repository as conversations_repo
from inbox import replies_repository as repo
from inbox.assignment import assign_among, pick_team_member, policy_for
from inbox.contact_keys import seal_email, seal_name
from inbox.deps import InboxDeps
from inbox.inbound import BODY_FIELD
from inbox.replies import queue_send, recipient_of
from inbox.replies_repository import ReplyTarget
from inbox.repository import Conn
from inbox.teams import team_exists
from inbox.web import emit
from majlis.crypto import BlindIndexer, FieldCipher
from majlis.events.chatflow import BOT_ACTIONS_FIELD, RunBotActions
from majlis.events.inbox import ContactChanged, ConversationUpdated, InboxAuditRecorded
from majlis.http import ProblemError
from majlis.logging import get_logger
from majlis.ratelimit import RedisUnavailable

log = get_logger(__name__)
MAX_TAG = 64
# How long a step waits for its predecessor before it is applied out of order.
ORDER_WAIT_S = 5.0


class PredecessorPending(Exception):
    """The conversation's previous bot step has not been applied yet: try again shortly."""


async def run_bot_actions(
    conn: Conn, tenant_id: UUID, command: RunBotActions, deps: InboxDeps, *, in_order: bool = True
) -> None:
    """Apply the command's actions inside the caller's (claimed) transaction; `in_order`
    raises PredecessorPending rather than apply a step before the one queued before it."""
    sealed = base64.b64decode(command.actions_enc)
    actions = orjson.loads(
        deps.cipher.decrypt(sealed, tenant_id=tenant_id, field=BOT_ACTIONS_FIELD)
    )
    target = await repo.lock_reply_target(conn, command.conversation_id)
    if target is None:
        log.info("inbox.bot_actions_dropped", reason="conversation_gone")
        return
    if command.step is not None:
        # One round trip; raising rolls the advance back with the rest of the transaction.
        applied = await repo.advance_bot_step(conn, target.id, command.step)
        if command.step > applied + 1:
            if in_order:
                raise PredecessorPending
            log.warning("inbox.bot_step_out_of_order", step=command.step, applied=applied)
    if target.controller != "bot" or target.is_contact_restricted:
        log.info("inbox.bot_actions_dropped", reason="not_bot_controlled_or_restricted")
        return
    for action in actions if isinstance(actions, list) else []:
        kind = action.get("kind") if isinstance(action, dict) else None
        if kind == "send":
            await _send(conn, deps.cipher, tenant_id, target, action["message"])
        elif kind == "tag":
            await _tag(conn, tenant_id, target.contact_id, action.get("tags", []))
            await _audit(conn, tenant_id, command, "contacts.tagged", "contact", target.contact_id)
        elif kind == "update_contact":
            await _update_contact(conn, deps.cipher, deps.indexer, tenant_id, target, action)
            changed = sorted(k for k in ("name", "email", "attributes") if k in action)
            await _audit(conn, tenant_id, command, "contacts.updated", "contact",
                         target.contact_id, changes=changed)  # fmt: skip
        elif kind == "handoff":
            await _handoff(conn, tenant_id, target, action, deps)
            await _audit(conn, tenant_id, command, "conversation.handed_to_human",
                         "conversation", target.id)  # fmt: skip
            return  # the person answers from here on
        else:
            log.warning("inbox.bot_action_unknown")


async def _audit(
    conn: Conn,
    tenant_id: UUID,
    command: RunBotActions,
    action: str,
    target_type: str,
    target_id: UUID,
    *,
    changes: list[str] | None = None,
) -> None:
    """The bot's change, audited in the same transaction (ids and field names only)."""
    details = {"flow_id": str(command.flow_id) if command.flow_id else None,
               "session_id": str(command.session_id) if command.session_id else None}  # fmt: skip
    event = InboxAuditRecorded(
        action=action, actor_type="bot", target_type=target_type, target_id=str(target_id),
        details=details, changes=changes or [],
    )  # fmt: skip
    await emit(conn, tenant_id, event)


async def _send(
    conn: Conn, cipher: FieldCipher, tenant_id: UUID, target: ReplyTarget, message: Any
) -> None:
    if not target.is_window_open:
        log.info("inbox.bot_message_skipped", reason="outside_customer_service_window")
        return
    try:
        recipient = recipient_of(cipher, tenant_id, target)
    except ProblemError:
        log.info("inbox.bot_message_skipped", reason="contact_unreachable")
        return
    row = await repo.insert_message(
        conn, tenant_id, uuid4(), target.id, direction="outbound",
        message_type=str(message["type"]),
        body_enc=cipher.encrypt(orjson.dumps(message), tenant_id=tenant_id, field=BODY_FIELD),
        status="queued", sender_kind="bot", sender_user_id=None, idempotency_key=None,
    )  # fmt: skip
    await repo.touch_conversation(conn, target.id, row.seq)
    await queue_send(
        conn, cipher, tenant_id, target, recipient, message, row.id, row.type,
        sender_kind="bot", sender_user_id=None,
    )  # fmt: skip


async def _tag(conn: Conn, tenant_id: UUID, contact_id: UUID, tags: list[Any]) -> None:
    clean = sorted({t.strip().lower() for t in tags if isinstance(t, str) and t.strip()})
    clean = [t for t in clean if len(t) <= MAX_TAG and t.isprintable()]
    if clean:
        await contacts_repository.add_tags(conn, tenant_id, [contact_id] * len(clean), clean)


async def _update_contact(
    conn: Conn,
    cipher: FieldCipher,
    indexer: BlindIndexer,
    tenant_id: UUID,
    target: ReplyTarget,
    action: dict[str, Any],
) -> None:
    name, email, changes = action.get("name"), action.get("email"), action.get("attributes")
    patch: dict[str, Any] = {}
    if isinstance(name, str) and name.strip():
        patch["name"] = seal_name(cipher, indexer, tenant_id, name.strip()[:200])
    if isinstance(email, str) and "@" in email:
        patch["email"] = seal_email(cipher, indexer, tenant_id, email.strip()[:320])
    if isinstance(changes, dict) and changes:
        schema = await contact_attributes.load_schema(conn)
        current_enc = await conn.fetchval(
            "SELECT attributes_enc FROM contacts WHERE id = $1", target.contact_id
        )
        merged = contact_attributes.unseal(cipher, tenant_id, current_enc)
        for key, value in changes.items():
            definition = schema.get(key)
            if definition is None:
                continue
            try:
                merged[key] = contact_attributes.parse_text(definition, str(value))
            except contact_attributes.InvalidAttribute:
                log.info("inbox.bot_attribute_skipped", key=key)
        patch["attributes_enc"] = (contact_attributes.seal(cipher, tenant_id, merged),)
    if patch:
        await contacts_repository.update_contact(
            conn, target.contact_id, contacts_repository.ContactPatch(**patch)
        )
        changed = ContactChanged(contact_id=target.contact_id, change="updated")
        await emit(conn, tenant_id, changed)


async def _handoff(
    conn: Conn, tenant_id: UUID, target: ReplyTarget, action: dict[str, Any], deps: InboxDeps
) -> None:
    """A person answers from now on: a user, the number's policy, a team (and a member), anyone.

    A team deleted since the flow decided: the conversation goes to the unassigned queue.
    """
    assignee: UUID | None = None
    team_id = await _team_of(conn, action)
    team_gone = action.get("team_id") is not None and team_id is None
    # A vanished team: nobody is picked, the conversation waits in the unassigned queue.
    assign = None if team_gone else action.get("assign")
    if assign == "user" and action.get("user_id"):
        candidate = UUID(str(action["user_id"]))
        if await conversations_repo.is_assignable_user(conn, candidate):
            assignee = candidate
            await conversations_repo.note_assigned(conn, tenant_id, assignee)
    elif assign == "policy" and team_id is not None:
        assignee = await pick_team_member(conn, tenant_id, target.number_id, team_id, deps.presence)
        if assignee is not None:
            await conversations_repo.note_assigned(conn, tenant_id, assignee)
    elif assign == "policy":
        try:
            online = await deps.presence.agents(tenant_id, "online")
        except RedisUnavailable:
            online = set()
        policy = await policy_for(conn, target.number_id)
        # Assigns (and notes the assignment) when the policy finds someone online.
        assignee = await assign_among(conn, tenant_id, target.id, policy, online)
    previous_team = await conversations_repo.team_of(conn, target.id)
    state = await conversations_repo.set_assignment(
        conn, target.id, controller="human", assigned_user_id=assignee,
        team_id=team_id if action.get("team_id") is not None else previous_team,
    )  # fmt: skip
    await emit(
        conn,
        tenant_id,
        ConversationUpdated(
            conversation_id=state.id,
            contact_id=state.contact_id,
            number_id=state.number_id,
            change="controller",
            status=state.status,  # type: ignore[arg-type]
            assigned_user_id=state.assigned_user_id,
            previous_assigned_user_id=target.assigned_user_id,
            controller="human",
            actor_type="bot",
            team_id=state.team_id,
            previous_team_id=previous_team,
        ),
    )
    log.info(
        "inbox.bot_handed_off",
        conversation_id=str(target.id),
        reason=str(action.get("reason", "flow"))[:64],
        assigned=assignee is not None,
        team=state.team_id is not None,
        team_gone=team_gone,
    )


async def _team_of(conn: Conn, action: dict[str, Any]) -> UUID | None:
    """The action's team if it (still) is one of the tenant's; None otherwise."""
    raw = action.get("team_id")
    if raw is None:
        return None
    try:
        team_id = UUID(str(raw))
    except ValueError:
        return None
    return team_id if await team_exists(conn, team_id) else None
