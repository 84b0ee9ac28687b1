"""Entry points of the engine: an inbound message, a due timer, an API call, a call's result.

Each runs in one tenant transaction holding the conversation's advisory lock (taken first,
always, so they never deadlock) and settles the session before it commits. One that reaches a
node making a network call returns the `Pending` call: the caller makes it with `drive` once
its transaction has committed, and `apply_result` continues the run in a new transaction.
A customer message that arrives while a call is pending is queued behind it (the session's
queued_seq; the message itself is in the messages table) and processed, in order, once the
result has been applied.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from chatflow import external
from chatflow import flows_repository as flows_repo
from chatflow import sessions_repository as repo
from chatflow.engine import (
    EngineDeps,
    Outcome,
    Session,
    Step,
    finish,
    follow,
    load_session,
    log_node,
    new_session,
    queue_actions,
    run,
)
from chatflow.external import Pending
from chatflow.flow_validation import Flow, parse_flow
from chatflow.node_runner import take_input
from chatflow.triggers import TRIGGERS, Candidate, Inbound, first_match
from majlis.db import tenant_transaction
from majlis.logging import get_logger

log = get_logger(__name__)
BODY_FIELD = "messages.body"
CONTACT_FIELDS = {"name": "contacts.name", "email": "contacts.email"}


async def load_contact(
    conn: Any, deps: EngineDeps, tenant_id: UUID, contact_id: UUID
) -> dict[str, Any]:
    """The contact fields conditions and templates may use, decrypted."""
    row = await repo.contact(conn, contact_id)
    if row is None:
        return {}
    found: dict[str, Any] = {"tags": list(row["tags"])}
    for name, field in CONTACT_FIELDS.items():
        sealed = row[f"{name}_enc"]
        if sealed is not None:
            found[name] = deps.cipher.decrypt_text(sealed, tenant_id=tenant_id, field=field)
    if row["attributes_enc"] is not None:
        raw = deps.cipher.decrypt(
            row["attributes_enc"], tenant_id=tenant_id, field="contacts.attributes"
        )
        values = orjson.loads(raw)
        found["attributes"] = values if isinstance(values, dict) else {}
    return found


def read_inbound(content: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(text, reply id or button payload, context wamid) of a stored inbound message body."""
    kind = content.get("type")
    text = reply = None
    if kind == "text":
        text = (content.get("text") or {}).get("body")
    elif kind == "button":
        button = content.get("button") or {}
        text, reply = button.get("text"), button.get("payload")
    elif kind == "interactive":
        interactive = content.get("interactive") or {}
        chosen = interactive.get("button_reply") or interactive.get("list_reply") or {}
        text, reply = chosen.get("title"), chosen.get("id")
    context = (content.get("context") or {}).get("id")
    return (
        text if isinstance(text, str) else None,
        reply if isinstance(reply, str) else None,
        context if isinstance(context, str) else None,
    )


async def _flow(conn: Any, version_id: UUID) -> Flow:
    return parse_flow(await flows_repo.version_document(conn, version_id))


def pending_of(step: Step, session: Session) -> Pending | None:
    """The call the session awaits, once the step has committed it; None if none."""
    if session.status != "awaiting_external" or session.pending is None:
        return None
    if session.attempt_id is None:
        raise ValueError("a pending call without an attempt id")
    return Pending(step.tenant_id, session.id, session.conversation_id, step.contact_id,
                   session.attempt_id, session.current_node, session.pending)  # fmt: skip


async def on_inbound(
    conn: Any,
    tenant_id: UUID,
    deps: EngineDeps,
    conversation_id: UUID,
    message_id: UUID,
    carried: list[dict[str, Any]] | None = None,
) -> Pending | None:
    """Continue the conversation's session with this message, or start a matching flow; the
    call to make after the commit, if the run reached a node that makes one. `carried`: the
    actions of an earlier step of this transaction not yet queued; they go first in this
    step's command (one command keeps the bot's messages in order), or stay in the list."""
    await repo.lock_conversation(conn, conversation_id)
    conversation = await repo.conversation(conn, conversation_id)
    message = await repo.inbound_message(conn, message_id)
    if conversation is None or message is None:
        return None
    if conversation["controller"] != "bot":
        log.debug("chatflow.not_bot_controlled")
        return None
    content: dict[str, Any] = {}
    if message["body_enc"] is not None:
        content = orjson.loads(
            deps.cipher.decrypt(message["body_enc"], tenant_id=tenant_id, field=BODY_FIELD)
        )
    text, reply, context = read_inbound(content)
    contact = await load_contact(conn, deps, tenant_id, conversation["contact_id"])
    step = Step(conn, tenant_id, deps, conversation["contact_id"], contact)
    if carried is not None:
        step.actions = carried
    active = await repo.active_session(conn, conversation_id)
    if active is not None:
        session = load_session(deps.cipher, tenant_id, active)
        if session.last_message_seq is not None and message["seq"] <= session.last_message_seq:
            log.info("chatflow.message_out_of_order", seq=message["seq"])
            return None
        if session.status == "awaiting_external":
            # Behind the pending call: processed once its result is in (apply_result).
            if session.last_message_seq is None:
                session.last_message_seq = message["seq"] - 1
            session.queued_seq = max(session.queued_seq or 0, message["seq"])
            log.info("chatflow.message_queued", node_id=session.current_node)
            await finish(step, session)
            return None
        session.last_message_seq = message["seq"]
        await _continue(step, session, text or "", reply)
        return pending_of(step, session)
    inbound = Inbound(
        text=text,
        button_payload=reply,
        is_first_message=await repo.is_first_inbound(conn, conversation_id, message["seq"]),
        is_campaign_reply=context is not None and await repo.is_campaign_message(conn, context),
    )
    candidates = [
        Candidate(r["id"], r["published_version_id"], TRIGGERS.validate_python(r["triggers"]))
        for r in await flows_repo.published_candidates(conn, conversation["number_id"])
    ]
    chosen = first_match(candidates, inbound)
    if chosen is None:
        return None
    session = await start(
        step, chosen.flow_id, chosen.version_id, conversation_id, message["seq"], inbound.input
    )
    return pending_of(step, session)


async def start(
    step: Step,
    flow_id: UUID,
    version_id: UUID,
    conversation_id: UUID,
    seq: int | None,
    first_input: str,
) -> Session:
    """Start a session of a published version and run it until it pauses."""
    flow = await _flow(step.conn, version_id)
    session = await new_session(step, flow, flow_id, version_id, conversation_id)
    session.last_message_seq = seq
    session.variables["last_input"] = first_input[:4096]
    log.info("chatflow.session_started", flow_id=str(flow_id), session_id=str(session.id))
    await run(step, flow, session, flow.start)
    await finish(step, session)
    return session


async def _continue(step: Step, session: Session, text: str, reply: str | None) -> None:
    if session.status != "waiting_input":
        # A wait node is running its timer: what the customer writes meanwhile is only read.
        await finish(step, session)
        return
    flow = await _flow(step.conn, session.version_id)
    node = flow.nodes[session.current_node]
    session.variables["last_input"] = (reply or text)[:4096]
    outcome = take_input(step, session, node, text, reply)
    nxt = follow(step, flow, session, session.current_node, outcome)
    await run(step, flow, session, nxt)
    await finish(step, session)


async def on_timer(
    conn: Any, tenant_id: UUID, deps: EngineDeps, session_id: UUID
) -> Pending | None:
    """A wait ended or a question timed out: continue the session (once). Or the lease of a
    pending call expired (the process that made it died): a new attempt of the same call."""
    conversation_id = await repo.session_conversation(conn, session_id)
    if conversation_id is None:
        return None
    await repo.lock_conversation(conn, conversation_id)
    row = await repo.session(conn, session_id)
    if row is None or row["status"] == "ended" or row["wake_at"] is None:
        return None
    if row["wake_at"] > deps.clock():
        return None  # another replica (or a newer answer) moved the timer
    conversation = await repo.conversation(conn, conversation_id)
    if conversation is None:
        return None
    session = load_session(deps.cipher, tenant_id, row)
    session.wake_at = None
    contact = await load_contact(conn, deps, tenant_id, conversation["contact_id"])
    step = Step(conn, tenant_id, deps, conversation["contact_id"], contact)
    if conversation["controller"] != "bot":
        session.status, session.end_reason = "ended", "human_took_over"
        await finish(step, session)
        return None
    if session.status == "awaiting_external" and session.pending is not None:
        session.attempt_id = uuid4()  # the earlier attempt's result, if any, is now dropped
        session.wake_at = deps.clock() + timedelta(seconds=external.lease_seconds(session.pending))
        log.warning("chatflow.external_call_retried", node_id=session.current_node)
        await finish(step, session)
        return pending_of(step, session)
    flow = await _flow(conn, session.version_id)
    handle = "next" if session.status == "waiting_timer" else "timeout"
    nxt = follow(step, flow, session, session.current_node, Outcome("go", handle))
    await run(step, flow, session, nxt)
    await finish(step, session)
    return pending_of(step, session)


async def apply_result(
    conn: Any, deps: EngineDeps, pending: Pending, result: dict[str, Any], elapsed_ms: int
) -> Pending | None:
    """Apply a call's result if the session still awaits this exact attempt (else drop it),
    continue the run, then process the messages queued meanwhile; the next call, if any."""
    tenant_id = pending.tenant_id
    await repo.lock_conversation(conn, pending.conversation_id)
    row = await repo.session(conn, pending.session_id)
    awaited = row is not None and row["status"] == "awaiting_external"
    if row is None or not awaited or row["attempt_id"] != pending.attempt_id:
        log.info("chatflow.external_result_dropped", node_id=pending.node_id,
                 session_id=str(pending.session_id))  # fmt: skip
        return None
    conversation = await repo.conversation(conn, pending.conversation_id)
    session = load_session(deps.cipher, tenant_id, row)
    consumed, queued = session.last_message_seq, session.queued_seq
    session.wake_at = session.queued_seq = None
    contact_id = conversation["contact_id"] if conversation else pending.contact_id
    contact = await load_contact(conn, deps, tenant_id, contact_id)
    step = Step(conn, tenant_id, deps, contact_id, contact)
    if conversation is None or conversation["controller"] != "bot":
        session.status, session.end_reason = "ended", "human_took_over"
        await finish(step, session)
        return None
    flow = await _flow(conn, session.version_id)
    node = flow.nodes[session.current_node]
    try:
        outcome = external.outcome(step, session, node, result)
    except Exception as error:
        log.exception("chatflow.node_failed", node_id=session.current_node)
        outcome = Outcome("handoff", error=f"node failed: {type(error).__name__}")
    await log_node(step, session, session.current_node, node, outcome, elapsed_ms)
    session.status = "running"
    nxt = follow(step, flow, session, session.current_node, outcome)
    await run(step, flow, session, nxt)
    await finish(step, session, queue=False)
    following = pending_of(step, session)
    handed_off = any(action["kind"] == "handoff" for action in step.actions)
    if queued is not None and not handed_off:  # after a hand-off a person reads them
        for message_id in await repo.inbound_between(conn, pending.conversation_id, consumed,
                                                     queued):  # fmt: skip
            found = await on_inbound(conn, tenant_id, deps, pending.conversation_id, message_id,
                                     step.actions)  # fmt: skip
            following = following or found
    await queue_actions(step, session.conversation_id, session.id, session.flow_id)
    return following


async def drive(pool: asyncpg.Pool[Any], deps: EngineDeps, pending: Pending | None) -> None:
    """Make the pending call with no transaction open, apply its result in a new one; again
    while the run reaches further calls. A failure here is left to the lease (on_timer)."""
    while pending is not None:
        started = time.monotonic()
        result = await external.call(deps, pending)
        elapsed = int((time.monotonic() - started) * 1000)
        made = pending
        try:
            async with tenant_transaction(pool, made.tenant_id) as conn:
                pending = await apply_result(conn, deps, made, result, elapsed)
        except Exception:
            log.exception("chatflow.external_result_failed", node_id=made.node_id)
            return
