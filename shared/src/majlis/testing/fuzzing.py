"""Hypothesis set-up for the bad-input tests: profiles, input counts and webhook/flow strategies.

`MAJLIS_FUZZ_PROFILE` picks the profile: `ci` (the default, what `make test` runs: a few hundred
derandomized examples per target, so CI is deterministic) or `full` (what `make fuzz` runs: at
least 100,000 generated inputs per pure target, and a larger HTTP sample). Every test that feeds
generated inputs calls `count(target)` once per input; `tests/conftest.py` prints the totals.

The strategies build documents from the real Meta shapes (tests/fixtures/webhooks and the
reference notes), mutate them, and mix in plain garbage, so the parsers see both inputs that
get deep into their branches and inputs that are nothing like what they expect.
"""

from __future__ import annotations

import copy
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE_ENV = "MAJLIS_FUZZ_PROFILE"
WHATSAPP_OBJECT = "whatsapp_business_account"
# (hypothesis examples per pure target, requests per HTTP sample). Each example of a pure
# target is fanned out into FANOUT inputs (itself and seeded mutants), so `full` feeds every
# pure target 10,000 x 10 = 100,000 inputs: hypothesis spends ~5-10 ms building one structured
# document, the targets ~0.1 ms on one, and the mutants keep the run to minutes.
_SIZES = {"ci": (200, 25), "full": (10_000, 400)}
FANOUT = 10

INPUT_COUNTS: Counter[str] = Counter()

for _name, (_examples, _) in _SIZES.items():
    settings.register_profile(
        _name,
        max_examples=_examples,
        # No timed assertions: speed lives in bench/. No example database in the work tree.
        deadline=None,
        database=None,
        derandomize=_name == "ci",
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def profile_name() -> str:
    """The profile chosen by MAJLIS_FUZZ_PROFILE (ci unless it names another)."""
    name = os.environ.get(PROFILE_ENV, "ci")
    if name not in _SIZES:
        raise ValueError(f"{PROFILE_ENV} must be one of {sorted(_SIZES)}")
    return name


def load_profile() -> None:
    """Make the chosen profile hypothesis's default."""
    settings.load_profile(profile_name())


def http_sample_size() -> int:
    """How many generated requests an HTTP fuzz test sends."""
    return _SIZES[profile_name()][1]


def schema_examples() -> int:
    """How many requests schemathesis generates per API operation."""
    return {"ci": 15, "full": 150}[profile_name()]


def count(target: str, inputs: int = 1) -> None:
    """Record that `target` was fed `inputs` generated inputs."""
    INPUT_COUNTS[target] += inputs


# --- JSON values -----------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "messages", "text", "whatsapp_business_account", "sha256="])
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def json_bytes(value: object) -> bytes | None:
    """`value` as JSON bytes, or None where JSON cannot carry it (as Meta's bytes never would)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None


# Values a mutant may put anywhere: wrong types, edge numbers, odd text.
_ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308, "", " ", "x" * 5000,
    "next", "{{x}}", "{{ contact.attributes.a }}", "(", "a{99999999999}", "\x00", "\u0663",
    "\U0001f642", "wamid.", "220000000000002", [], {}, [None], {"": None},
)  # fmt: skip


def _copy(document: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(document))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(document)


def mutants(document: Any, rnd: random.Random, count: int = FANOUT - 1) -> list[Any]:
    """`count` variants of `document`, each with 1-3 random edits (delete, replace, swap,
    duplicate, retype); cheap, so one hypothesis example becomes many inputs."""
    variants = []
    for _ in range(count):
        variant = _copy(document)
        for _ in range(rnd.randint(1, 3)):
            paths = _paths(variant)
            path = rnd.choice(paths)
            parent = _get(variant, path[:-1]) if path else None
            action = rnd.randrange(5)
            if action == 0 and path and isinstance(parent, dict):
                del parent[path[-1]]
            elif action == 1 and path and isinstance(parent, list):
                parent.insert(path[-1], _copy(parent[path[-1]]))
            elif action == 2:
                other = _copy(_get(variant, rnd.choice(paths)))
                variant = _set(variant, path, other, delete=False)
            elif action == 3:
                old = _get(variant, path)
                new = str(old) if not isinstance(old, str) else (old[: rnd.randrange(len(old) + 1)])
                variant = _set(variant, path, new, delete=False)
            else:
                variant = _set(variant, path, _copy(rnd.choice(_ODD_VALUES)), delete=False)
        variants.append(variant)
    return variants


def byte_mutants(body: bytes, rnd: random.Random, count: int = FANOUT - 1) -> list[bytes]:
    """`count` variants of `body` with a few bytes flipped, inserted, cut or truncated."""
    variants = []
    for _ in range(count):
        data = bytearray(body)
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(data) + 1)
            action = rnd.randrange(4)
            if action == 0 and at < len(data):
                data[at] ^= 1 << rnd.randrange(8)
            elif action == 1:
                data[at:at] = rnd.randbytes(rnd.randint(1, 4))
            elif action == 2:
                del data[at : at + rnd.randint(1, 8)]
            else:
                del data[at:]
        variants.append(bytes(data))
    return variants


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


# --- Webhooks --------------------------------------------------------------------------------

_META_IDS = st.sampled_from(["220000000000002", "310000000000001", "0", "", "12" * 20]) | st.text(
    alphabet="0123456789", min_size=1, max_size=18
)
_MESSAGE_TYPES = [
    "text", "image", "video", "audio", "document", "sticker", "location", "contacts",
    "interactive", "button", "reaction", "order", "system", "unsupported", "request_welcome",
]  # fmt: skip
_CHANGE_FIELDS = [
    "messages", "message_template_status_update", "phone_number_quality_update",
    "account_update", "user_preferences", "security", "history",
]  # fmt: skip
_STATUSES = ["sent", "delivered", "read", "failed", "played", "deleted", ""]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, or garbage in its place (a wrong type is the usual bad input).

    Build these once, at import: a strategy made inside a draw is validated anew every time,
    which makes generation tens of times slower.
    """
    return st.one_of(strategy, strategy, strategy, JSON_VALUES)


_DIE = st.integers(0, 3)


def _garbled(draw: st.DrawFn, value: Any) -> Any:
    """`value` three times in four, JSON garbage otherwise."""
    return value if draw(_DIE) else draw(JSON_VALUES)


_M_META_ID = _maybe(_META_IDS)
_M_WAMID = _maybe(st.text(max_size=60).map(lambda t: "wamid." + t))
_M_TIMESTAMP = _maybe(st.integers(0, 2**40).map(str))
_M_CONTENT = _maybe(
    st.fixed_dictionaries({"body": st.text(max_size=80)}, optional={"id": st.text(max_size=20)})
)
_M_SHORT_TEXT = _maybe(st.text(max_size=20))
_M_STATUS_ID = _maybe(st.text(max_size=40))
_M_STATUS = _maybe(st.sampled_from(_STATUSES))
_MESSAGE_KIND = st.sampled_from(_MESSAGE_TYPES)
_M_CHANGE_FIELD = _maybe(st.sampled_from(_CHANGE_FIELDS))
_M_METADATA = _maybe(
    st.fixed_dictionaries({"display_phone_number": _META_IDS, "phone_number_id": _M_META_ID})
)
_M_CONTACTS = _maybe(
    st.lists(
        _maybe(
            st.fixed_dictionaries(
                {"wa_id": _M_META_ID, "profile": _maybe(st.fixed_dictionaries({"name": st.text()}))}
            )
        ),
        max_size=3,
    )
)
_M_ENTRY_TIME = _maybe(st.integers(0, 2**40))
_SOME_DICT = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5)


@st.composite
def _message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(_MESSAGE_KIND)
    message: dict[str, Any] = {
        "from": draw(_M_META_ID),
        "id": draw(_M_WAMID),
        "timestamp": draw(_M_TIMESTAMP),
        "type": kind,
    }
    if draw(st.booleans()):
        message[kind] = draw(_M_CONTENT)
    if draw(st.booleans()):
        message["context"] = draw(JSON_VALUES)
    if draw(st.booleans()):
        message["from_user_id"] = draw(_M_SHORT_TEXT)
    return message


@st.composite
def _status(draw: st.DrawFn) -> dict[str, Any]:
    status = {
        "id": draw(_M_STATUS_ID),
        "status": draw(_M_STATUS),
        "timestamp": draw(_M_TIMESTAMP),
        "recipient_id": draw(_M_META_ID),
    }
    if draw(st.booleans()):
        status["errors"] = draw(JSON_VALUES)
    return status


_M_MESSAGES = _maybe(st.lists(_maybe(_message()), max_size=3))
_M_STATUSES = _maybe(st.lists(_maybe(_status()), max_size=3))


@st.composite
def _change(draw: st.DrawFn) -> Any:
    name = draw(_M_CHANGE_FIELD)
    value: dict[str, Any] = {"messaging_product": "whatsapp"}
    if draw(st.booleans()):
        value["metadata"] = draw(_M_METADATA)
    if draw(st.booleans()):
        value["contacts"] = draw(_M_CONTACTS)
    if draw(st.booleans()):
        value["messages"] = draw(_M_MESSAGES)
    if draw(st.booleans()):
        value["statuses"] = draw(_M_STATUSES)
    if draw(st.integers(0, 5)) == 0:
        value["errors"] = draw(JSON_VALUES)
    if draw(st.integers(0, 5)) == 0:
        value = draw(_SOME_DICT)
    return _garbled(draw, {"field": name, "value": value})


_M_CHANGES = _maybe(st.lists(_change(), max_size=3))


@st.composite
def _entry(draw: st.DrawFn) -> Any:
    entry = {"id": draw(_M_META_ID), "changes": draw(_M_CHANGES)}
    if draw(st.booleans()):
        entry["time"] = draw(_M_ENTRY_TIME)
    return _garbled(draw, entry)


_M_ENTRIES = _maybe(st.lists(_entry(), max_size=3))
_M_OBJECT = _maybe(st.just(WHATSAPP_OBJECT))


@st.composite
def built_webhooks(draw: st.DrawFn) -> Any:
    """A webhook built field by field from Meta's shapes, with garbage in random places."""
    return _garbled(draw, {"object": draw(_M_OBJECT), "entry": draw(_M_ENTRIES)})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


def _set(document: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    if not path:
        return new
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return document


def fixture_documents(folder: Path) -> list[Any]:
    """Every captured webhook in `folder` (tests/fixtures/webhooks), decoded."""
    return [orjson.loads(path.read_bytes()) for path in sorted(folder.glob("*.json"))]


def mutated_fixtures(documents: list[Any]) -> st.SearchStrategy[Any]:
    """A real captured webhook with a few subtrees replaced by garbage or removed."""

    originals = st.sampled_from(documents)

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        document = copy.deepcopy(draw(originals))
        for _ in range(draw(st.integers(0, 4))):
            paths = _paths(document)
            path = paths[draw(st.integers(0, len(paths) - 1))]
            delete = bool(path) and draw(st.booleans())
            document = _set(document, path, None if delete else draw(JSON_VALUES), delete=delete)
        return document

    return mutate()


def webhook_documents(documents: list[Any]) -> st.SearchStrategy[Any]:
    """Decoded webhook bodies: mutated captures, built ones, and plain JSON garbage."""
    return st.one_of(mutated_fixtures(documents), built_webhooks(), JSON_VALUES)


def webhook_bodies(documents: list[Any]) -> st.SearchStrategy[bytes]:
    """Raw bodies: the documents as JSON, those bytes cut or flipped, and random bytes."""

    documents_strategy = webhook_documents(documents)

    @st.composite
    def damaged(draw: st.DrawFn) -> bytes:
        body = json_bytes(draw(documents_strategy)) or b"{}"
        if draw(st.booleans()) and body:
            at = draw(st.integers(0, len(body) - 1))
            body = body[:at] + draw(st.binary(max_size=4)) + body[at + 1 :]
        return body

    encoded = documents_strategy.map(json_bytes).filter(lambda b: b is not None)
    return st.one_of(encoded.map(lambda b: b or b""), damaged(), st.binary(max_size=200))


# --- Flow documents --------------------------------------------------------------------------

_NODE_IDS = st.sampled_from(["start", "ask", "check", "done", "b1", "r1", "x"]) | st.text(
    max_size=8
)
_TEMPLATES = st.sampled_from(
    [
        "Hi",
        "{{last_input}}",
        "{{contact.name}}",
        "{{city}}",
        "{{ghost}}",
        "{{contact.attributes.x}}",
    ]
) | st.text(max_size=40)
_PATTERNS = st.sampled_from(["^[0-9]+$", "(unclosed", "a{99999999999}", "(?P<x>a)(?P=x)", "\\"]) | (
    st.text(max_size=20)
)


_CHOICE = st.fixed_dictionaries({"id": _maybe(_NODE_IDS), "title": _maybe(st.text(max_size=25))})
_NODE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    name: _maybe(strategy)
    for name, strategy in {
        "text": _TEMPLATES,
        "media_type": st.sampled_from(["image", "video", "pdf"]),
        "link": st.sampled_from(["https://example.com/a.png", "http://x", ""]),
        "media_id": _NODE_IDS,
        "buttons": st.lists(_CHOICE, max_size=5),
        "button": st.text(max_size=25),
        "sections": st.lists(
            st.fixed_dictionaries(
                {"title": st.text(max_size=25), "rows": st.lists(_CHOICE, max_size=12)}
            ),
            max_size=3,
        ),
        "variable": st.sampled_from(["city", "email", "Bad", ""]),
        "validation": st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "choice", "regex"])},
            optional={"pattern": _PATTERNS, "choices": st.lists(st.text(max_size=5), max_size=3)},
        ),
        "rules": st.lists(
            st.fixed_dictionaries(
                {
                    "left": st.sampled_from(
                        ["var.city", "var.ghost", "contact.name", "contact.x", "x"]
                    ),
                    "op": st.sampled_from(["eq", "regex", "exists", "nope"]),
                    "value": _TEMPLATES | _PATTERNS,
                }
            ),
            max_size=3,
        ),
        "value": _TEMPLATES,
        "url": _TEMPLATES,
        "headers": st.dictionaries(st.text(max_size=5), _TEMPLATES, max_size=2),
        "response_mapping": st.dictionaries(
            st.sampled_from(["a", "B"]), st.text(max_size=5), max_size=2
        ),
        "tags": st.lists(st.text(max_size=10), max_size=3),
        "attributes": st.dictionaries(st.sampled_from(["a", "B"]), _TEMPLATES, max_size=2),
        "assign": st.sampled_from(["none", "policy", "user"]),
        "user_id": st.uuids().map(str),
        "seconds": st.integers(-5, 10**8),
        "target": _NODE_IDS,
        "branches": st.lists(
            st.fixed_dictionaries({"name": _NODE_IDS, "weight": st.integers(-1, 20_000)}),
            max_size=4,
        ),
        "max_attempts": st.integers(-1, 20),
        "timeout_seconds": st.integers(0, 10**7),
    }.items()
}
_NODE_TYPE_NAMES = st.sampled_from(
    [
        "send_text", "send_media", "send_buttons", "send_list", "ask_question", "condition",
        "set_variable", "http_request", "ai_answer", "ai_lead_capture", "tag_contact",
        "update_contact", "handoff", "wait", "jump", "split", "end", "teleport",
    ]
)  # fmt: skip
_FIELD_NAMES = st.lists(st.sampled_from(sorted(_NODE_FIELDS)), max_size=5, unique=True)
_MAYBE_NODE_ID = _maybe(_NODE_IDS)


@st.composite
def _node(draw: st.DrawFn) -> Any:
    node: dict[str, Any] = {"id": draw(_MAYBE_NODE_ID), "type": draw(_NODE_TYPE_NAMES)}
    for name in draw(_FIELD_NAMES):
        node[name] = draw(_NODE_FIELDS[name])
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    return node


_NODES = st.lists(_node(), max_size=8)
_HANDLES = _maybe(st.sampled_from(["next", "true", "false", "b1", "invalid"]))
_VARIABLES = _maybe(st.lists(st.sampled_from(["city", "Bad", "x"]), max_size=3))


def _some_id(draw: st.DrawFn, ids: list[str]) -> Any:
    """Mostly an id of the document's nodes, sometimes another or garbage."""
    if ids and draw(st.integers(0, 4)) > 0:
        return ids[draw(st.integers(0, len(ids) - 1))]
    return draw(_MAYBE_NODE_ID)


@st.composite
def flow_documents(draw: st.DrawFn) -> Any:
    """A flow document of random nodes and edges between their ids, or garbage."""
    nodes = draw(_NODES)
    ids = [n["id"] for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)]

    edges = []
    for _ in range(draw(st.integers(0, 10))):
        edge = {"from": _some_id(draw, ids), "to": _some_id(draw, ids)}
        if draw(st.booleans()):
            edge["handle"] = draw(_HANDLES)
        edges.append(edge if draw(st.integers(0, 19)) else draw(JSON_VALUES))
    document: dict[str, Any] = {"nodes": nodes, "edges": edges}
    if draw(st.integers(0, 4)):
        document["start"] = _some_id(draw, ids)
    if draw(st.booleans()):
        document["variables"] = draw(_VARIABLES)
    if draw(st.integers(0, 9)) == 0:
        document["extra"] = draw(JSON_VALUES)
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    return document
