"""The flow engine: run a session's nodes until it needs input, waits, hands off or ends.

One call runs inside one tenant transaction that holds the conversation's advisory lock, so
the messages of a conversation are handled strictly one after another. Everything a step
decides commits together: the session's state, its node logs, and one `RunBotActions`
command to the inbox (messages, tags, contact updates, hand-off) through the outbox.

A node that makes a network call (http_request, ai_answer, ai_lead_capture) ends the step: the
session commits as `awaiting_external` with the request and an attempt id, and the call is
made after the commit, with no transaction open (chatflow.external, conversation_runs.drive).

Loop prevention: a run stops after MAX_VISITS visits to one node or MAX_STEPS steps in all;
the conversation is handed to a person and the stop is logged with the node.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

import orjson

from chatflow import sessions_repository as repo
from chatflow.flow_validation import Flow
from chatflow.ports import AiAnswerer, HttpCaller, LeadCapturer
from majlis.crypto import FieldCipher
from majlis.events import make_envelope
from majlis.events.chatflow import BOT_ACTIONS_FIELD, RunBotActions
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox

log = get_logger(__name__)

MAX_VISITS = 50
MAX_STEPS = 500
VARIABLES_FIELD = "flow_sessions.variables"
LOG_DETAIL_FIELD = "flow_logs.detail"
PENDING_FIELD = "flow_sessions.pending"


@dataclass(frozen=True, slots=True)
class EngineDeps:
    """What the engine needs besides a connection."""

    cipher: FieldCipher
    answerer: AiAnswerer
    lead_capturer: LeadCapturer
    http: HttpCaller
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class Session:
    """A run's state, as loaded and saved."""

    id: UUID
    flow_id: UUID
    version_id: UUID
    conversation_id: UUID
    current_node: str
    status: str
    variables: dict[str, Any]
    visits: dict[str, int]
    steps: int = 0
    attempts: int = 0
    wake_at: datetime | None = None
    last_message_seq: int | None = None
    end_reason: str | None = None
    # awaiting_external: the call to make (decrypted here, encrypted at rest) and its attempt.
    pending: dict[str, Any] | None = None
    attempt_id: UUID | None = None
    # The newest inbound message queued while the call was pending (processed after it).
    queued_seq: int | None = None


@dataclass
class Step:
    """One transaction's work: where it runs, for whom, and what it decided."""

    conn: Any
    tenant_id: UUID
    deps: EngineDeps
    contact_id: UUID
    contact: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message to the customer."""
        self.actions.append({"kind": "send", "message": message})

    def hand_off(
        self,
        reason: str,
        assign: str = "none",
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> None:
        """Queue a hand-off to a person (and/or a team)."""
        action: dict[str, Any] = {"kind": "handoff", "assign": assign, "reason": reason}
        if user_id is not None:
            action["user_id"] = user_id
        if team_id is not None:
            action["team_id"] = team_id
        self.actions.append(action)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a node did: follow an output, wait for input or a timer, hand off, or end."""

    kind: Literal["go", "jump", "wait_input", "wait_timer", "handoff", "end"]
    handle: str = "next"
    seconds: int = 0
    error: str | None = None
    detail: dict[str, Any] | None = None
    # Why the node did something other than asked, without failing (logged like an error).
    note: str | None = None


def load_session(cipher: FieldCipher, tenant_id: UUID, row: Any) -> Session:
    """A session from its row, variables decrypted."""
    variables = orjson.loads(
        cipher.decrypt(row["variables_enc"], tenant_id=tenant_id, field=VARIABLES_FIELD)
    )
    pending = None
    if row["pending_enc"] is not None:
        pending = orjson.loads(
            cipher.decrypt(row["pending_enc"], tenant_id=tenant_id, field=PENDING_FIELD)
        )
    return Session(
        row["id"], row["flow_id"], row["version_id"], row["conversation_id"],
        row["current_node"], row["status"], variables, dict(row["visits"]), row["steps"],
        row["attempts"], row["wake_at"], row["last_message_seq"], None, pending,
        row["attempt_id"], row["queued_seq"],
    )  # fmt: skip


def seal_variables(cipher: FieldCipher, tenant_id: UUID, variables: dict[str, Any]) -> bytes:
    """Variables as ciphertext (they hold what the customer answered)."""
    return cipher.encrypt(orjson.dumps(variables), tenant_id=tenant_id, field=VARIABLES_FIELD)


async def new_session(
    step: Step, flow: Flow, flow_id: UUID, version_id: UUID, conversation_id: UUID
) -> Session:
    """Insert a session at the flow's start node."""
    session = Session(uuid4(), flow_id, version_id, conversation_id, flow.start, "running", {}, {})
    await repo.insert_session(
        step.conn, step.tenant_id, session.id, flow_id, version_id, conversation_id, flow.start,
        seal_variables(step.deps.cipher, step.tenant_id, {}),
    )  # fmt: skip
    return session


async def run(step: Step, flow: Flow, session: Session, node_id: str | None) -> None:
    """Run from `node_id` (None: the session is already settled) until the run must pause."""
    from chatflow import external  # both use this module's types
    from chatflow.node_runner import execute

    current = node_id
    while current is not None:
        node = flow.nodes[current]
        session.current_node, session.status, session.wake_at = current, "running", None
        session.visits[current] = session.visits.get(current, 0) + 1
        session.steps += 1
        if session.visits[current] > MAX_VISITS or session.steps > MAX_STEPS:
            limit = "visits" if session.visits[current] > MAX_VISITS else "steps"
            log.warning("chatflow.loop_stopped", node_id=current, limit=limit)
            await _log(step, session, current, node.type, "loop_stopped", 0,  # type: ignore[attr-defined]
                       f"loop limit reached ({limit})", None)  # fmt: skip
            step.hand_off("loop_limit")
            _end(session, "loop_limit")
            break
        if external.is_external(node):
            # The call is made after this step commits; its result continues the run.
            request = external.prepare(step, session, node)
            session.status, session.pending = "awaiting_external", request
            session.attempt_id = uuid4()
            lease = timedelta(seconds=external.lease_seconds(request))
            session.wake_at = step.deps.clock() + lease
            break
        started = time.monotonic()
        try:
            outcome = await execute(step, flow, session, node)
        except Exception as error:
            log.exception("chatflow.node_failed", node_id=current)
            outcome = Outcome("handoff", error=f"node failed: {type(error).__name__}")
        elapsed = int((time.monotonic() - started) * 1000)
        await log_node(step, session, current, node, outcome, elapsed)
        current = follow(step, flow, session, current, outcome)


async def log_node(
    step: Step, session: Session, node_id: str, node: Any, outcome: Outcome, elapsed_ms: int
) -> None:
    """The node's execution log row."""
    await _log(step, session, node_id, node.type, _label(outcome), elapsed_ms,
               outcome.error or outcome.note, outcome.detail)  # fmt: skip


def follow(step: Step, flow: Flow, session: Session, current: str, outcome: Outcome) -> str | None:
    """Settle the session after a node; the next node to run, if any."""
    if outcome.kind == "jump":
        return outcome.handle
    if outcome.kind == "go":
        target = flow.next_of(current, outcome.handle)
        if target is not None:
            return target
        if outcome.handle in ("invalid", "error"):
            step.hand_off(f"unhandled_{outcome.handle}")
            _end(session, f"unhandled_{outcome.handle}")
        else:
            _end(session, "completed")
        return None
    if outcome.kind == "wait_input":
        session.status = "waiting_input"
        return None
    if outcome.kind == "wait_timer":
        session.status = "waiting_timer"
        return None
    if outcome.kind == "handoff":
        if not any(a["kind"] == "handoff" for a in step.actions):
            step.hand_off("error" if outcome.error else "flow")
        _end(session, "handoff" if outcome.error is None else "error")
        return None
    _end(session, "completed")
    return None


def _label(outcome: Outcome) -> str:
    return outcome.handle if outcome.kind in ("go", "jump") else outcome.kind


def _end(session: Session, reason: str) -> None:
    session.status, session.end_reason, session.wake_at = "ended", reason, None


async def _log(
    step: Step,
    session: Session,
    node_id: str,
    node_type: str,
    outcome: str,
    duration_ms: int,
    error: str | None,
    detail: dict[str, Any] | None,
) -> None:
    sealed = (
        step.deps.cipher.encrypt(orjson.dumps(detail), tenant_id=step.tenant_id,
                                 field=LOG_DETAIL_FIELD)
        if detail else None
    )  # fmt: skip
    await repo.insert_log(
        step.conn, step.tenant_id,
        (uuid4(), session.flow_id, session.version_id, session.id, session.conversation_id,
         node_id, node_type, outcome[:64], duration_ms, error[:500] if error else None, sealed),
    )  # fmt: skip


async def finish(step: Step, session: Session, *, queue: bool = True) -> None:
    """Save the session and queue the step's actions for the inbox (same transaction);
    `queue=False` keeps the actions on the step for a later command of the same transaction."""
    if session.status != "awaiting_external":
        session.pending = session.attempt_id = None
    pending_enc = None
    if session.pending is not None:
        pending_enc = step.deps.cipher.encrypt(
            orjson.dumps(session.pending), tenant_id=step.tenant_id, field=PENDING_FIELD
        )
    await repo.save_session(
        step.conn, session.id, current_node=session.current_node, status=session.status,
        end_reason=session.end_reason,
        variables_enc=seal_variables(step.deps.cipher, step.tenant_id, session.variables),
        visits=session.visits, steps=session.steps, attempts=session.attempts,
        wake_at=session.wake_at, last_message_seq=session.last_message_seq,
        attempt_id=session.attempt_id, pending_enc=pending_enc, queued_seq=session.queued_seq,
    )  # fmt: skip
    if queue:
        await queue_actions(step, session.conversation_id, session.id, session.flow_id)


async def queue_actions(
    step: Step, conversation_id: UUID, session_id: UUID | None, flow_id: UUID | None
) -> None:
    """One RunBotActions command with everything the step decided (nothing if nothing),
    numbered after the conversation's previous one so the inbox applies them in order."""
    if not step.actions:
        return
    sealed = step.deps.cipher.encrypt(
        orjson.dumps(step.actions), tenant_id=step.tenant_id, field=BOT_ACTIONS_FIELD
    )
    command = RunBotActions(
        conversation_id=conversation_id,
        session_id=session_id,
        flow_id=flow_id,
        actions_enc=base64.b64encode(sealed).decode("ascii"),
        step=await repo.next_bot_step(step.conn, step.tenant_id, conversation_id),
    )
    await add_to_outbox(step.conn, make_envelope(command, tenant_id=step.tenant_id))
    step.actions.clear()  # in place: the list may be shared with the step that carried it
