"""Nodes that reach outside the database: http_request, ai_answer and ai_lead_capture.

No network call is made while a transaction is open (a slow customer API or AI provider would
otherwise hold a pooled connection, the conversation's lock and the session row for seconds,
and could exhaust the pool for every tenant). Such a node runs in three parts:

1. `prepare`, inside the step's transaction: the request is rendered and the session commits
   as `awaiting_external` with it (encrypted: it may hold secrets and personal data) and a new
   attempt id; `wake_at` is the attempt's lease.
2. `call`, with no transaction open: the HTTP request, the AI answer or the lead capture.
3. `outcome`, inside a second transaction that first checks the session still awaits that
   exact attempt (otherwise the result is dropped and logged): the node's output, its log row,
   and the run continues from there.

If the process dies between 1 and 3, the durable timer finds the lease expired and makes the
call again under a new attempt id: calls to the tenant's endpoint and to the AI provider are
at-least-once; the bot's messages are not, since only the transaction that applies a result
queues them (through the outbox, once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chatflow.answers import render
from chatflow.engine import EngineDeps, Outcome, Session, Step
from chatflow.flow_nodes import AiAnswer, AiLeadCapture, HttpRequest, NodeBase
from chatflow.http_node import call_http, http_outcome, http_request
from majlis.logging import get_logger

log = get_logger(__name__)
_ARABIC = re.compile("[\u0600-\u06ff]")
# The lease of an attempt: the call's own budget plus this margin. An HTTP call is bounded by
# the node's timeout; an AI call by the tenant's timeout and the provider retries.
LEASE_MARGIN_S = 30.0
AI_LEASE_S = 120.0


@dataclass(frozen=True, slots=True)
class Pending:
    """A call to make after the step that asked for it committed."""

    tenant_id: UUID
    session_id: UUID
    conversation_id: UUID
    contact_id: UUID
    attempt_id: UUID
    node_id: str
    request: dict[str, Any]


def is_external(node: NodeBase) -> bool:
    """True for the nodes whose work is a network call."""
    return isinstance(node, HttpRequest | AiAnswer | AiLeadCapture)


def prepare(step: Step, session: Session, node: NodeBase) -> dict[str, Any]:
    """The request the node makes, rendered from the session's variables and the contact."""
    v, c = session.variables, step.contact
    if isinstance(node, HttpRequest):
        return {"kind": "http", **http_request(node, v, c)}
    if isinstance(node, AiAnswer):
        question = render(node.question, v, c)
        return {"kind": "ai_answer", "question": question,
                "language": "ar" if _ARABIC.search(question) else "en"}  # fmt: skip
    if isinstance(node, AiLeadCapture):
        return {"kind": "ai_lead_capture"}
    raise TypeError(f"{type(node).__name__} makes no external call")


def lease_seconds(request: dict[str, Any]) -> float:
    """How long an attempt may take before another one may be started."""
    if request["kind"] == "http":
        return int(request["timeout_ms"]) / 1000 + LEASE_MARGIN_S
    return AI_LEASE_S


async def call(deps: EngineDeps, pending: Pending) -> dict[str, Any]:
    """Make the call; its result (never raises but on cancellation). No transaction is open."""
    request = pending.request
    try:
        if request["kind"] == "http":
            return await call_http(deps.http, pending.node_id, request)
        if request["kind"] == "ai_answer":
            answer = await deps.answerer.answer(
                pending.tenant_id, request["question"], request["language"]
            )
            return {"answer": answer}
        captured = await deps.lead_capturer.capture(
            pending.tenant_id, pending.conversation_id, pending.contact_id
        )
        return {"captured": captured}
    except Exception as error:
        log.exception("chatflow.node_failed", node_id=pending.node_id)
        return {"failed": type(error).__name__}


def outcome(step: Step, session: Session, node: NodeBase, result: dict[str, Any]) -> Outcome:
    """What the node does with the call's result (inside the transaction that applies it)."""
    if "failed" in result:
        return Outcome("handoff", error=f"node failed: {result['failed']}")
    if isinstance(node, HttpRequest):
        return http_outcome(node, result, session.variables)
    if isinstance(node, AiAnswer):
        answer = result["answer"]
        if answer is None:
            step.hand_off("ai_no_answer")
            return Outcome("handoff")
        if node.variable:
            session.variables[node.variable] = answer
        step.send({"type": "text", "text": {"body": answer[:4096]}})
        return Outcome("go")
    if isinstance(node, AiLeadCapture):
        if not result["captured"]:
            step.hand_off("lead_capture")
            return Outcome("handoff")
        return Outcome("go")
    raise TypeError(f"{type(node).__name__} makes no external call")
