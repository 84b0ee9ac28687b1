"""Play a conversation against a flow document without any effect: the builder's test panel.

The same node logic as a real run (`node_runner.execute` and `take_input`, the engine's
`follow` and its loop limits), but nothing is stored, queued or called: no session, no node
logs, no outbox, no contact changes. Nodes that reach outside are simulated and say what they
would do (each turn's `simulated`): `wait` would wait N seconds (the run goes on at once);
`http_request` shows the request it would make, rendered as the real node renders it (values
of headers named like credentials masked), and follows `next` with its mapped variables unset,
calling nothing; `ai_answer` runs the built-in answerer when it is the tenant's (it needs no
network) and answers or hands off exactly as a live run would, and with a provider configured
names the provider and model it would ask, without asking; `ai_lead_capture` stores no lead.
What the bot would send, the other actions it would take (tags, contact updates, hand-off)
and the variables come back per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chatflow.answers import render
from chatflow.engine import MAX_STEPS, MAX_VISITS, EngineDeps, Outcome, Session, Step, follow
from chatflow.flow_nodes import AiAnswer, AiLeadCapture, HttpRequest, NodeBase, Wait
from chatflow.flow_validation import Flow
from chatflow.node_runner import execute, take_input, text_language
from chatflow.ports import AnswerRehearser
from majlis.logging import get_logger

log = get_logger(__name__)
_NOWHERE = UUID(int=0)
SKIPPED = "skipped_in_test"
_CREDENTIAL_HEADER = re.compile(r"auth|cookie|token|secret|key|signature|password", re.I)
_BODY_CHARS = 2000


@dataclass
class Turn:
    """One message of the tester and what the bot did with it."""

    input: str
    replies: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    simulated: list[dict[str, Any]] = field(default_factory=list)


async def play(
    flow: Flow, deps: EngineDeps, tenant_id: UUID, contact: dict[str, Any], messages: list[str]
) -> dict[str, Any]:
    """Run `messages` in turn from the start node; the bot's answers and the final state."""
    session = Session(_NOWHERE, _NOWHERE, _NOWHERE, _NOWHERE, flow.start, "running", {}, {})
    step = Step(None, tenant_id, deps, _NOWHERE, contact)
    turns: list[Turn] = []
    for index, text in enumerate(messages):
        turn = Turn(text)
        turns.append(turn)
        session.variables["last_input"] = text[:4096]
        if index == 0:
            await _run(step, flow, session, flow.start, turn)
        elif session.status == "waiting_input":
            node = flow.nodes[session.current_node]
            outcome = take_input(step, session, node, text, text)
            turn.trace.append(_trace(session.current_node, node, _label(outcome), None))
            nxt = follow(step, flow, session, session.current_node, outcome)
            await _run(step, flow, session, nxt, turn)
        else:
            turn.trace.append({"node_id": None, "outcome": "ignored", "note": "the run ended"})
        _collect(step, turn)
    return {
        "turns": [
            {
                "input": t.input,
                "replies": t.replies,
                "actions": t.actions,
                "trace": t.trace,
                "simulated": t.simulated,
            }
            for t in turns
        ],
        "status": session.status,
        "node": session.current_node,
        "end_reason": session.end_reason,
        "variables": session.variables,
    }


async def _run(step: Step, flow: Flow, session: Session, node_id: str | None, turn: Turn) -> None:
    """engine.run without logs or storage; nodes that reach outside are skipped."""
    current = node_id
    while current is not None:
        node = flow.nodes[current]
        session.current_node, session.status, session.wake_at = current, "running", None
        session.visits[current] = session.visits.get(current, 0) + 1
        session.steps += 1
        if session.visits[current] > MAX_VISITS or session.steps > MAX_STEPS:
            limit = "visits" if session.visits[current] > MAX_VISITS else "steps"
            turn.trace.append(
                _trace(current, node, "loop_stopped", f"loop limit reached ({limit})")
            )
            step.hand_off("loop_limit")
            session.status, session.end_reason = "ended", "loop_limit"
            break
        try:
            simulated = await _simulate(step, session, node)
            if simulated is None:
                outcome = await execute(step, flow, session, node)
            else:
                outcome, what = simulated
                turn.simulated.append({"node_id": current, **what})
        except Exception as error:
            log.exception("chatflow.test_node_failed", node_id=current)
            outcome = Outcome("handoff", error=f"node failed: {type(error).__name__}")
        note = SKIPPED if outcome.detail == {SKIPPED: True} else outcome.error or outcome.note
        turn.trace.append(_trace(current, node, _label(outcome), note))
        current = follow(step, flow, session, current, outcome)
    session.wake_at = None


async def _simulate(
    step: Step, session: Session, node: NodeBase
) -> tuple[Outcome, dict[str, Any]] | None:
    """What a node that reaches outside would do, without doing it; None: run it for real."""
    v, c = session.variables, step.contact
    skipped = Outcome("go", detail={SKIPPED: True})
    if isinstance(node, Wait):
        return skipped, {"kind": "wait", "seconds": node.seconds}
    if isinstance(node, HttpRequest):
        headers = {
            name: "•••" if _CREDENTIAL_HEADER.search(name) else render(value, v, c)
            for name, value in node.headers.items()
        }
        body = render(node.body, v, c)[:_BODY_CHARS] if node.body is not None else None
        return skipped, {"kind": "http_request", "method": node.method,
                         "url": render(node.url, v, c), "headers": headers, "body": body,
                         "unset": sorted(node.response_mapping)}  # fmt: skip
    if isinstance(node, AiLeadCapture):
        return skipped, {"kind": "ai_lead_capture"}
    if isinstance(node, AiAnswer):
        answerer = step.deps.answerer
        if not isinstance(answerer, AnswerRehearser):
            return skipped, {"kind": "ai_answer", "provider": None, "model": None}
        question = render(node.question, v, c)
        rehearsal = await answerer.rehearse(step.tenant_id, question, text_language(question))
        what = {"kind": "ai_answer", "provider": rehearsal.provider, "model": rehearsal.model}
        if rehearsal.provider not in ("builtin", "none"):
            return skipped, what  # a provider would be asked: it is not, in a test
        if rehearsal.answer is None:
            step.hand_off("ai_no_answer")
            return Outcome("handoff"), what
        if node.variable:
            v[node.variable] = rehearsal.answer
        step.send({"type": "text", "text": {"body": rehearsal.answer[:4096]}})
        return Outcome("go"), what
    return None


def _label(outcome: Outcome) -> str:
    return outcome.handle if outcome.kind in ("go", "jump") else outcome.kind


def _trace(node_id: str, node: NodeBase, outcome: str, note: str | None) -> dict[str, Any]:
    return {"node_id": node_id, "type": node.type, "outcome": outcome, "note": note}  # type: ignore[attr-defined]


def _collect(step: Step, turn: Turn) -> None:
    for action in step.actions:
        if action["kind"] == "send":
            turn.replies.append(action["message"])
        else:
            turn.actions.append(action)
    step.actions = []
