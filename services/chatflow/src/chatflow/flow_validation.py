"""Validate a flow document and report every error at once, each with its node id.

The answer to a bad document is one RFC 9457 problem (422) whose `errors` extension lists
`{node_id, field, message}` for everything wrong: unknown node types, bad fields, duplicate
ids, missing or dangling edges, no start, unreachable nodes, too many buttons or list rows,
unknown variables in `{{templates}}` or conditions, and regular expressions that do not compile.
`check_addresses` adds, where a draft is saved or published, http_request URLs whose fixed host
may not be called.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatflow.flow_nodes import (
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    NEXT,
    NODE_TYPES,
    AskQuestion,
    Condition,
    HttpRequest,
    Jump,
    NodeBase,
    NodeId,
    SendButtons,
    SendList,
    VariableName,
)
from chatflow.text_matching import regex_problem
from majlis.http import ProblemError
from majlis.net import OutboundRefused, check_url

MAX_NODES = 500
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
# Variables every run has: the customer's last message (text, button or row id).
BUILTIN_VARIABLES = frozenset({"last_input"})
CONTACT_FIELDS = re.compile(r"^contact\.(name|email|tags|attributes\.[a-z][a-z0-9_]{0,39})$")
# Outputs a run may leave unconnected: the engine hands off (invalid, error) or ends (timeout).
OPTIONAL_HANDLES = frozenset({"invalid", "timeout", "error"})
# An http_request URL's scheme and authority (up to the path, query or fragment).
_FIXED_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


class Edge(BaseModel):
    """From a node's output (`handle`, default `next`) to another node."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: NodeId = Field(alias="from")
    target: NodeId = Field(alias="to")
    handle: NodeId = NEXT


class Position(BaseModel):
    """Where the flow builder draws a node (canvas units); the engine never reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: float = Field(ge=-1_000_000, le=1_000_000, allow_inf_nan=False)
    y: float = Field(ge=-1_000_000, le=1_000_000, allow_inf_nan=False)


class DocumentShape(BaseModel):
    """The outer shape; nodes are checked one by one so that every node's errors are found.

    `layout` (optional) keeps the builder's node positions by node id; it is validated for
    shape only, stored with the document and its versions, and ignored by the engine.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: NodeId | None = None
    variables: list[VariableName] = Field(default_factory=list, max_length=100)
    nodes: list[dict[str, Any]] = Field(max_length=MAX_NODES)
    edges: list[dict[str, Any]] = Field(default_factory=list, max_length=4 * MAX_NODES)
    layout: dict[NodeId, Position] | None = Field(default=None, max_length=MAX_NODES)


@dataclass(frozen=True, slots=True)
class Flow:
    """A valid flow: nodes by id and, per node, the target of each output."""

    start: str
    nodes: dict[str, NodeBase]
    edges: dict[str, dict[str, str]]
    variables: tuple[str, ...]

    def next_of(self, node_id: str, handle: str) -> str | None:
        """Where an output leads; None when it is not connected."""
        return self.edges.get(node_id, {}).get(handle)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, node_id: str | None, field: str, message: str) -> None:
        self.items.append({"node_id": node_id, "field": field, "message": message})


def _loc(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(node)"


def parse_flow(raw: Any) -> Flow:
    """The flow in `raw`, or ProblemError 422 listing every error found."""
    errors = _Errors()
    try:
        shape = DocumentShape.model_validate(raw)
    except ValidationError as error:
        for item in error.errors(include_url=False, include_input=False):
            errors.add(None, _loc(item), item["msg"])
        raise _problem(errors) from None
    nodes = _parse_nodes(shape, errors)
    edges = _parse_edges(shape, nodes, errors)
    if shape.start is None:
        errors.add(None, "start", "The flow has no start node")
    elif shape.start not in nodes:
        errors.add(None, "start", f"The start node {shape.start!r} does not exist")
    for node in nodes.values():
        _check_node(node, edges.get(node.id, {}), nodes, errors)
    if shape.start in nodes:
        _check_reachable(shape.start, nodes, edges, errors)
    known = set(shape.variables) | BUILTIN_VARIABLES
    for node in nodes.values():
        known.update(node.sets())
    for node in nodes.values():
        _check_variables(node, known, errors)
    if errors.items:
        raise _problem(errors)
    assert shape.start is not None
    return Flow(shape.start, nodes, edges, tuple(shape.variables))


def check_addresses(flow: Flow, *, allow_loopback: bool) -> None:
    """Refuse (422, every node at once) http_request nodes whose URL names, in its fixed part,
    a scheme other than http(s) or a host that is not public: loopback, private, link-local
    (the cloud metadata address), reserved, in any literal form (majlis.net.check_url).

    Checked when a draft is saved or published, so such a flow is refused before it ever runs.
    A host that comes from a `{{variable}}`, or a name that resolves to such an address, can
    only be judged at call time, where the SSRF guard checks every connection again."""
    errors = _Errors()
    for node in flow.nodes.values():
        if not isinstance(node, HttpRequest):
            continue
        fixed = _FIXED_ORIGIN.match(node.url)
        if fixed is None:
            if "{{" not in node.url.split("//", 1)[0]:
                errors.add(node.id, "url", "The URL must start with http:// or https://")
            continue
        if "{{" in fixed.group(0):
            continue  # the host comes from a variable: checked when called
        try:
            check_url(fixed.group(0) + "/", allow_loopback=allow_loopback)
        except (OutboundRefused, ValueError) as refused:
            reason = refused.reason if isinstance(refused, OutboundRefused) else "bad URL"
            errors.add(node.id, "url", f"The URL may not be called: {reason}")
    if errors.items:
        raise _problem(errors)


def _problem(errors: _Errors) -> ProblemError:
    return ProblemError(
        422, "The flow is not valid", slug="invalid-flow", errors=errors.items[:200]
    )


def _parse_nodes(shape: DocumentShape, errors: _Errors) -> dict[str, NodeBase]:
    nodes: dict[str, NodeBase] = {}
    for index, raw in enumerate(shape.nodes):
        raw_id = raw.get("id")
        node_id = raw_id if isinstance(raw_id, str) else None
        label = node_id or f"nodes[{index}]"
        model = NODE_TYPES.get(str(raw.get("type")))
        if model is None:
            errors.add(label, "type", f"Unknown node type {str(raw.get('type'))[:40]!r}")
            continue
        try:
            node = model.model_validate(raw)
        except ValidationError as error:
            for item in error.errors(include_url=False, include_input=False):
                errors.add(label, _loc(item), item["msg"])
            continue
        if node.id in nodes:
            errors.add(node.id, "id", "Duplicate node id")
            continue
        nodes[node.id] = node
    return nodes


def _parse_edges(
    shape: DocumentShape, nodes: dict[str, NodeBase], errors: _Errors
) -> dict[str, dict[str, str]]:
    edges: dict[str, dict[str, str]] = {}
    for index, raw in enumerate(shape.edges):
        try:
            edge = Edge.model_validate(raw)
        except ValidationError as error:
            for item in error.errors(include_url=False, include_input=False):
                errors.add(None, f"edges[{index}].{_loc(item)}", item["msg"])
            continue
        source = nodes.get(edge.source)
        if source is None:
            errors.add(edge.source, f"edges[{index}].from", "The edge leaves an unknown node")
            continue
        if edge.target not in nodes:
            errors.add(edge.source, f"edges[{index}].to", f"Dangling edge to {edge.target!r}")
            continue
        if edge.handle not in source.handles():
            errors.add(edge.source, f"edges[{index}].handle", f"No output {edge.handle!r}")
            continue
        outputs = edges.setdefault(edge.source, {})
        if edge.handle in outputs:
            errors.add(edge.source, f"edges[{index}].handle", "Two edges from one output")
            continue
        outputs[edge.handle] = edge.target
    return edges


def _check_node(
    node: NodeBase, outputs: dict[str, str], nodes: dict[str, NodeBase], errors: _Errors
) -> None:
    if isinstance(node, SendButtons):
        if len(node.buttons) > MAX_BUTTONS:
            errors.add(node.id, "buttons", f"At most {MAX_BUTTONS} buttons (WhatsApp's limit)")
        _check_unique(node.id, "buttons", [b.id for b in node.buttons], errors)
    if isinstance(node, SendList):
        if len(node.rows()) > MAX_LIST_ROWS:
            errors.add(node.id, "sections", f"At most {MAX_LIST_ROWS} rows (WhatsApp's limit)")
        _check_unique(node.id, "sections", [r.id for r in node.rows()], errors)
    if isinstance(node, Jump) and node.target not in nodes:
        errors.add(node.id, "target", f"Jump to unknown node {node.target!r}")
    if isinstance(node, AskQuestion):
        if node.validation.type == "choice" and not node.validation.choices:
            errors.add(node.id, "validation.choices", "A choice question needs choices")
        _check_regex(node.id, "validation.pattern", node.validation.pattern, errors)
    if isinstance(node, Condition):
        for index, rule in enumerate(node.rules):
            if rule.op == "regex":
                _check_regex(node.id, f"rules[{index}].value", rule.value, errors)
    if isinstance(node, SendButtons | SendList):
        choices = [h for h in node.handles() if h != NEXT]
        if NEXT not in outputs and not all(c in outputs for c in choices):
            errors.add(node.id, "edges", "Connect every choice, or the `next` output")
        return
    for handle in node.handles():
        if handle not in outputs and handle not in OPTIONAL_HANDLES:
            errors.add(node.id, "edges", f"Missing edge from output {handle!r}")


def _check_unique(node_id: str, field: str, ids: list[str], errors: _Errors) -> None:
    if len(set(ids)) != len(ids):
        errors.add(node_id, field, "Duplicate choice ids")


def _check_regex(node_id: str, field: str, pattern: str | None, errors: _Errors) -> None:
    if pattern is None:
        return
    problem = regex_problem(pattern)
    if problem is not None:
        errors.add(node_id, field, f"Bad regular expression: {problem}")


def _check_reachable(
    start: str, nodes: dict[str, NodeBase], edges: dict[str, dict[str, str]], errors: _Errors
) -> None:
    seen, queue = {start}, deque([start])
    while queue:
        node = nodes[queue.popleft()]
        targets = list(edges.get(node.id, {}).values())
        if isinstance(node, Jump) and node.target in nodes:
            targets.append(node.target)
        for target in targets:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    for node_id in nodes:
        if node_id not in seen:
            errors.add(node_id, "(node)", "Unreachable from the start node")


def _check_variables(node: NodeBase, known: set[str], errors: _Errors) -> None:
    for text in node.texts():
        for name in TEMPLATE.findall(text):
            if name not in known and not CONTACT_FIELDS.fullmatch(name):
                errors.add(node.id, "(template)", f"Unknown variable {name!r}")
    if isinstance(node, Condition):
        for index, rule in enumerate(node.rules):
            scope, _, name = rule.left.partition(".")
            if scope == "var" and name not in known:
                errors.add(node.id, f"rules[{index}].left", f"Unknown variable {name!r}")
            if scope == "contact" and not CONTACT_FIELDS.fullmatch(rule.left):
                errors.add(node.id, f"rules[{index}].left", f"Unknown contact field {name!r}")
    if isinstance(node, HttpRequest):
        for var, pointer in node.response_mapping.items():
            if pointer and not pointer.startswith("/"):
                errors.add(node.id, f"response_mapping.{var}", "A JSON pointer starts with /")
