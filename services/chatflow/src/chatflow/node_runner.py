"""What each node type does when the run reaches it, and how a waiting node takes input."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import UUID

from chatflow.answers import check_answer, lookup, render
from chatflow.engine import Outcome, Session, Step
from chatflow.flow_nodes import (
    AskQuestion,
    Condition,
    End,
    Handoff,
    Jump,
    NodeBase,
    Rule,
    SendButtons,
    SendList,
    SendMedia,
    SendText,
    SetVariable,
    Split,
    TagContact,
    UpdateContact,
    Wait,
)
from chatflow.flow_validation import Flow
from chatflow.sessions_repository import team_exists

_ARABIC = re.compile("[\u0600-\u06ff]")


def text_language(text: str) -> str:
    """Arabic ("ar") when the text has Arabic letters, else English ("en"), as ai_answer decides."""
    return "ar" if _ARABIC.search(text) else "en"


async def execute(step: Step, flow: Flow, session: Session, node: NodeBase) -> Outcome:
    """Run one node. The nodes that make a network call (http_request, ai_answer,
    ai_lead_capture) are not run here but in two phases around it: chatflow.external."""
    v, c = session.variables, step.contact
    if isinstance(node, SendText):
        step.send({"type": "text", "text": {"body": render(node.text, v, c)[:4096]}})
        return Outcome("go")
    if isinstance(node, SendMedia):
        media: dict[str, Any] = {"link": node.link} if node.link else {"id": node.media_id}
        if node.caption and node.media_type != "audio":
            media["caption"] = render(node.caption, v, c)[:1024]
        step.send({"type": node.media_type, node.media_type: media})
        return Outcome("go")
    if isinstance(node, SendButtons | SendList):
        step.send(_interactive(node, v, c))
        return Outcome("wait_input")
    if isinstance(node, AskQuestion):
        step.send({"type": "text", "text": {"body": render(node.text, v, c)[:4096]}})
        session.attempts = 0
        if node.timeout_seconds:
            session.wake_at = step.deps.clock() + timedelta(seconds=node.timeout_seconds)
        return Outcome("wait_input")
    if isinstance(node, Condition):
        return Outcome("go", "true" if _holds(node, v, c) else "false")
    if isinstance(node, SetVariable):
        v[node.variable] = render(node.value, v, c)
        return Outcome("go")
    if isinstance(node, TagContact):
        step.actions.append({"kind": "tag", "tags": list(node.tags)})
        return Outcome("go")
    if isinstance(node, UpdateContact):
        step.actions.append(_contact_update(node, v, c))
        return Outcome("go")
    if isinstance(node, Handoff):
        return await _hand_off(step, node)
    if isinstance(node, Wait):
        session.wake_at = step.deps.clock() + timedelta(seconds=node.seconds)
        return Outcome("wait_timer")
    if isinstance(node, Jump):
        return Outcome("jump", node.target)
    if isinstance(node, Split):
        names = [b.name for b in node.branches]
        weights = [b.weight for b in node.branches]
        chosen = step.deps.rng.choices(names, weights)[0] if sum(weights) else names[0]
        return Outcome("go", chosen)
    if isinstance(node, End):
        return Outcome("end")
    raise TypeError(f"no runner for {type(node).__name__}")


async def _hand_off(step: Step, node: Handoff) -> Outcome:
    """Queue the hand-off; a team deleted since the flow was published: the unassigned queue.

    (The builder's test run has no connection: it queues the team as the node says.)
    """
    team_id = node.team_id
    gone = (
        team_id is not None
        and step.conn is not None
        and not await team_exists(step.conn, UUID(team_id))
    )
    if gone:
        step.hand_off("team_gone")
        return Outcome(
            "handoff", note=f"team {team_id} no longer exists: handed to the unassigned queue"
        )
    step.hand_off("flow", node.assign, node.user_id, team_id)
    return Outcome("handoff")


def take_input(
    step: Step, session: Session, node: NodeBase, text: str, reply_id: str | None
) -> Outcome:
    """A waiting node receives the customer's message: an output to follow, or wait again."""
    v, c = session.variables, step.contact
    if isinstance(node, SendButtons | SendList):
        options = (
            [(b.id, b.title) for b in node.buttons] if isinstance(node, SendButtons)
            else [(r.id, r.title) for r in node.rows()]
        )  # fmt: skip
        chosen = reply_id if any(reply_id == i for i, _ in options) else None
        chosen = chosen or next((i for i, t in options if t.casefold() == text.casefold()), None)
        if node.variable:
            v[node.variable] = chosen or text[:4096]
        return Outcome("go", chosen or "next", detail={"choice": chosen})
    if isinstance(node, AskQuestion):
        answer = check_answer(node.validation, text)
        if answer is not None:
            v[node.variable] = answer
            session.attempts, session.wake_at = 0, None
            return Outcome("go", detail={"answer_valid": True})
        session.attempts += 1
        if session.attempts >= node.max_attempts:
            session.wake_at = None
            return Outcome("go", "invalid", detail={"answer_valid": False})
        step.send({"type": "text", "text": {"body": render(node.reprompt_text or node.text, v, c)}})
        return Outcome("wait_input", detail={"answer_valid": False})
    return Outcome("go")


def _interactive(node: SendButtons | SendList, v: dict[str, Any], c: dict[str, Any]) -> Any:
    body = {"text": render(node.text, v, c)[:1024]}
    if isinstance(node, SendButtons):
        buttons = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in node.buttons]
        action: dict[str, Any] = {"buttons": buttons}
        kind = "button"
    else:
        sections = [
            {"title": s.title, "rows": [r.model_dump(exclude_none=True) for r in s.rows]}
            for s in node.sections
        ]
        action, kind = {"button": node.button, "sections": sections}, "list"
    return {"type": "interactive", "interactive": {"type": kind, "body": body, "action": action}}


def _holds(node: Condition, v: dict[str, Any], c: dict[str, Any]) -> bool:
    results = (_rule(rule, v, c) for rule in node.rules)
    return all(results) if node.mode == "and" else any(results)


def _rule(rule: Rule, v: dict[str, Any], c: dict[str, Any]) -> bool:
    scope, _, name = rule.left.partition(".")
    left = lookup(name if scope == "var" else rule.left, v, c)
    if rule.op == "exists":
        return left not in (None, "", [])
    if rule.op == "not_exists":
        return left in (None, "", [])
    if left is None:
        return False
    if rule.op == "regex":
        return re.search(rule.value, str(left)[:4096]) is not None
    right = render(rule.value, v, c)
    if rule.op == "contains":
        items = left if isinstance(left, list) else str(left).casefold()
        return right.casefold() in items if isinstance(items, str) else right in items
    if rule.op in ("gt", "lt"):
        try:
            a, b = float(str(left)), float(right)
        except ValueError:
            return False
        return a > b if rule.op == "gt" else a < b
    equal = str(left).casefold() == right.casefold()
    return equal if rule.op == "eq" else not equal


def _contact_update(node: UpdateContact, v: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
    action: dict[str, Any] = {"kind": "update_contact"}
    if node.name:
        action["name"] = render(node.name, v, c)
    if node.email:
        action["email"] = render(node.email, v, c)
    if node.attributes:
        action["attributes"] = {k: render(t, v, c) for k, t in node.attributes.items()}
    return action
