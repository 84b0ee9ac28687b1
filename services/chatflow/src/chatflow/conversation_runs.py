"""Entry points of the engine: an inbound message, a due timer, an API call.

Each runs in one tenant transaction holding the conversation's advisory lock (taken first,
always, so the three never deadlock) and settles the session before it commits.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from chatflow import flows_repository as flows_repo
from chatflow import sessions_repository as repo
from chatflow.engine import EngineDeps, Session, Step, finish, load_session, new_session, run
from chatflow.flow_validation import Flow, parse_flow
from chatflow.node_runner import take_input
from chatflow.triggers import TRIGGERS, Candidate, Inbound, first_match
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


async def on_inbound(
    conn: Any, tenant_id: UUID, deps: EngineDeps, conversation_id: UUID, message_id: UUID
) -> None:
    """Continue the conversation's session with this message, or start a matching flow."""
    await repo.lock_conversation(conn, conversation_id)
    conversation = await repo.conversation(conn, conversation_id)
    message = await repo.inbound_message(conn, message_id)
    if conversation is None or message is None:
        return
    if conversation["controller"] != "bot":
        log.debug("chatflow.not_bot_controlled")
        return
    content: dict[str, Any] = {}
    if message["body_enc"] is not None:
        content = orjson.loads(
            deps.cipher.decrypt(message["body_enc"], tenant_id=tenant_id, field=BODY_FIELD)
        )
    text, reply, context = read_inbound(content)
    contact = await load_contact(conn, deps, tenant_id, conversation["contact_id"])
    step = Step(conn, tenant_id, deps, conversation["contact_id"], contact)
    active = await repo.active_session(conn, conversation_id)
    if active is not None:
        session = load_session(deps.cipher, tenant_id, active)
        if session.last_message_seq is not None and message["seq"] <= session.last_message_seq:
            log.info("chatflow.message_out_of_order", seq=message["seq"])
            return
        session.last_message_seq = message["seq"]
        await _continue(step, session, text or "", reply)
        return
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
        return
    await start(
        step, chosen.flow_id, chosen.version_id, conversation_id, message["seq"], inbound.input
    )


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
    from chatflow.engine import follow

    nxt = follow(step, flow, session, session.current_node, outcome)
    await run(step, flow, session, nxt)
    await finish(step, session)


async def on_timer(conn: Any, tenant_id: UUID, deps: EngineDeps, session_id: UUID) -> None:
    """A wait ended or a question timed out: continue the session (once)."""
    conversation_id = await repo.session_conversation(conn, session_id)
    if conversation_id is None:
        return
    await repo.lock_conversation(conn, conversation_id)
    row = await repo.session(conn, session_id)
    if row is None or row["status"] == "ended" or row["wake_at"] is None:
        return
    if row["wake_at"] > deps.clock():
        return  # another replica (or a newer answer) moved the timer
    conversation = await repo.conversation(conn, conversation_id)
    if conversation is None:
        return
    session = load_session(deps.cipher, tenant_id, row)
    session.wake_at = None
    contact = await load_contact(conn, deps, tenant_id, conversation["contact_id"])
    step = Step(conn, tenant_id, deps, conversation["contact_id"], contact)
    if conversation["controller"] != "bot":
        session.status, session.end_reason = "ended", "human_took_over"
        await finish(step, session)
        return
    flow = await _flow(conn, session.version_id)
    from chatflow.engine import Outcome, follow

    handle = "next" if session.status == "waiting_timer" else "timeout"
    nxt = follow(step, flow, session, session.current_node, Outcome("go", handle))
    await run(step, flow, session, nxt)
    await finish(step, session)
