"""Examples synthesized from JSON Schemas, for the operations no one wrote an example for.

Deterministic (no randomness, no clock): the same schema always gives the same example, so the
served document is stable. The schema's own ``example``/``examples``/``const``/``default``/
``enum`` come first; then the format, then the property's name (``phone`` gets a phone number),
then a string built from the ``pattern``. Only simple patterns are understood (classes,
literals, groups, quantifiers, ``|``); the tests validate every example against its schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

PLACEHOLDER_ID = "0b8f6c1e-4a55-4f0e-9c1b-2f3d4e5f6a7b"
PLACEHOLDER_TIME = "2026-12-04T09:30:00+00:00"
_REF = "#/components/schemas/"
_MAX_DEPTH = 24
_FORMATS = {
    "uuid": PLACEHOLDER_ID,
    "date-time": PLACEHOLDER_TIME,
    "date": "2026-12-04",
    "time": "09:30:00+00:00",
    "email": "fatima@alnoor.ae",
    "idn-email": "fatima@alnoor.ae",
    "uri": "https://example.com/majlis",
    "url": "https://example.com/majlis",
    "hostname": "example.com",
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
}
# Property names (or their last word) → a realistic value; used only where the value also
# satisfies the schema's pattern and lengths.
_NAMED: dict[str, Any] = {
    "phone": "+971501234567",
    "phone_number": "+971501234567",
    "display_number": "+971 4 123 4567",
    "phone_number_id": "106540352242922",
    "waba_id": "102290129340398",
    "name": "Fatima",
    "business_name": "Al Noor Trading",
    "company": "Al Noor Trading",
    "email": "fatima@alnoor.ae",
    "language": "ar",
    "currency": "AED",
    "timezone": "Asia/Dubai",
    "country": "AE",
    "city": "Dubai",
    "url": "https://example.com/majlis",
    "link": "https://example.com/media/brochure.pdf",
    "password": "correct-horse-battery-staple",
    "current_password": "correct-horse-battery-staple",
    "new_password": "staple-battery-horse-correct",
    "access_token": "EAAGm0PX4ZCps...",
    "api_key": "sk-example-0000",
    "token": "inv_2f3d4e5f6a7b",
    "code": "123456",
    "text": "Marhaba! How can we help you today?",
    "body": "Marhaba! How can we help you today?",
    "body_text": "Your order {{1}} is on its way.",
    "content": "We are open Sunday to Thursday, 9:00 to 18:00.",
    "caption": "Our new collection",
    "description": "Quotes and new orders",
    "title": "Opening hours",
    "label": "VIP",
    "labels": "VIP",
    "tag": "vip",
    "tags": "vip",
    "color": "#0f766e",
    "question": "What are your opening hours?",
    "questions": "What are your opening hours?",
    "answer": "We are open Sunday to Thursday, 9:00 to 18:00.",
    "filename": "brochure.pdf",
    "shortcut": "hours",
    "keyword": "menu",
    "match": "menu",
    "note": "Called back; wants a quote",
    "interest": "Wholesale dates",
    "timeline": "This month",
    "model": "gpt-4o-mini",
    "reason": "Customer asked",
    "key": "loyalty_tier",
    "options": "gold",
    "fallback": "valued customer",
    "value": "menu",
    "messages": "Hello, I would like to order",
    "ar": "نعم، نحن نفتح من الأحد إلى الخميس",
    "en": "Yes, we are open Sunday to Thursday.",
}
# (a word of the owning model's title, property name) → a value that fits that model better.
_IN_CONTEXT = {
    ("label", "name"): "VIP",
    ("team", "name"): "Sales",
    ("campaign", "name"): "Ramadan offers",
    ("flow", "name"): "Welcome menu",
    ("template", "name"): "order_update",
    ("definition", "label"): "Loyalty tier",
    ("endpoint", "description"): "CRM",
}
# Keys for maps (additionalProperties) under these property names.
_MAP_KEYS = {"weekly": "sun", "attributes": "city", "answers": "ar"}
_PREFERRED = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.:/ "


class Unsupported(ValueError):
    """The schema has a construct the synthesizer does not handle (e.g. endless recursion)."""


def example_of(schema: dict[str, Any], schemas: dict[str, Any], name: str = "") -> Any:
    """An example value valid against `schema`; `$ref`s point into `schemas` (components)."""
    return _Synth(schemas).value(schema, name, ())


def _in_context(owner: str, name: str) -> str | None:
    owner = owner.lower()
    return next(
        (v for (word, prop), v in _IN_CONTEXT.items() if prop == name and word in owner), None
    )


class _Synth:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def resolve(
        self, schema: dict[str, Any], refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """`schema` with its `$ref` (and `allOf` parts) merged in, and the refs followed."""
        while "$ref" in schema or "allOf" in schema:
            if "$ref" in schema:
                ref = schema["$ref"]
                if not ref.startswith(_REF) or ref in refs or len(refs) > _MAX_DEPTH:
                    raise Unsupported(ref)
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema, refs = {**self.schemas[ref.removeprefix(_REF)], **rest}, (*refs, ref)
            else:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    resolved, refs = self.resolve(part, refs)
                    merged = {**resolved, **merged}
                schema = merged
        return schema, refs

    def value(
        self, schema: dict[str, Any], name: str, refs: tuple[str, ...], hint: str | None = None
    ) -> Any:
        """An example of `schema`, the value of a property `name` (or "")."""
        schema, refs = self.resolve(schema, refs)
        for key in ("example", "const"):
            if key in schema:
                return schema[key]
        if schema.get("examples"):
            return schema["examples"][0]
        if schema.get("default") not in (None, ""):  # an empty default shows nothing
            return schema["default"]
        if "enum" in schema:
            return next((v for v in schema["enum"] if v is not None), None)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            chosen = next((b for b in branches if b.get("type") != "null"), branches[0])
            return self.value(chosen, name, refs, hint)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else ""
        if kind == "object":
            return self.object(schema, name, refs)
        if kind == "array":
            return self.array(schema, name, refs)
        if kind in ("integer", "number"):
            return number_of(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return string_of(schema, name, hint)

    def object(self, schema: dict[str, Any], name: str, refs: tuple[str, ...]) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = [p for p in properties if p in schema.get("required", ())]
        chosen = required + [p for p in properties if p not in required]
        limit = schema.get("maxProperties")
        if limit is not None:
            chosen = chosen[: max(limit, len(required))]
        owner = schema.get("title", "")
        result = {p: self.value(properties[p], p, refs, _in_context(owner, p)) for p in chosen}
        extra = schema.get("additionalProperties")
        patterned: dict[str, Any] = schema.get("patternProperties", {})
        if not result and patterned:
            pattern, sub = next(iter(patterned.items()))
            key = _MAP_KEYS.get(name, "city")
            key = key if re.search(pattern, key) else from_pattern(pattern)
            result[key] = self.value(sub, key, refs)
        elif not result and isinstance(extra, dict) and extra:
            key = _MAP_KEYS.get(name, "key")
            result[key] = self.value(extra, name, refs)
        return result

    def array(self, schema: dict[str, Any], name: str, refs: tuple[str, ...]) -> list[Any]:
        prefix = [self.value(item, name, refs) for item in schema.get("prefixItems", [])]
        least = max(schema.get("minItems", 0), 1 if schema.get("maxItems", 1) > 0 else 0)
        items = schema.get("items")
        if len(prefix) >= least or not isinstance(items, dict):
            return prefix
        item, _ = self.resolve(items, refs)
        if schema.get("uniqueItems") and "enum" in item:
            return prefix + list(item["enum"][: least - len(prefix)])
        one = self.value(items, name, refs)
        return prefix + [one] * (least - len(prefix))


def string_of(schema: dict[str, Any], name: str = "", hint: str | None = None) -> str:
    """A string for `schema`: by format, then by the property's name, then by its pattern."""
    pattern: str | None = schema.get("pattern")
    least: int = schema.get("minLength", 0)
    most: int | None = schema.get("maxLength")
    for candidate in _string_candidates(schema, name, hint):
        if pattern is not None and not re.search(pattern, candidate):
            continue
        if len(candidate) >= least and (most is None or len(candidate) <= most):
            return candidate
    text = from_pattern(pattern) if pattern is not None else "example"
    text = (text * (least // max(len(text), 1) + 1))[: max(least, len(text))]
    return text if most is None else text[:most]


def _string_candidates(schema: dict[str, Any], name: str, hint: str | None) -> Iterator[str]:
    if hint is not None:
        yield hint
    fmt = schema.get("format")
    if fmt in _FORMATS:
        yield _FORMATS[fmt]
    if isinstance(_NAMED.get(name), str):
        yield _NAMED[name]
    last = name.rsplit("_", 1)[-1]
    if last != name and isinstance(_NAMED.get(last), str):
        yield _NAMED[last]
    if name.endswith("_id"):
        yield PLACEHOLDER_ID
    if name.endswith("_at"):
        yield PLACEHOLDER_TIME
    if name:
        yield name.replace("_", " ")
    yield "example"


def number_of(schema: dict[str, Any], *, integer: bool) -> int | float:
    """A number within the schema's bounds: 1 when it may be, else the nearest bound."""
    low: float | None = schema.get("minimum")
    high: float | None = schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    value: float = 1
    if low is not None and value < low:
        value = low
    if above is not None and value <= above:
        value = above + 1 if integer else above + (1 if high is None else (high - above) / 2)
    if high is not None and value > high:
        value = high
    if below is not None and value >= below:
        value = below - 1 if integer else below - (below - (low or above or 0)) / 2
    step = schema.get("multipleOf")
    if step:
        value = (value // step + (value % step > 0)) * step
    return int(value) if integer else float(value)


# A string from a simple regular expression -----------------------------------------------------
_CLASS_ESCAPES = {"d": "0123456789", "w": "abcdefghijklmnopqrstuvwxyz_", "s": " "}


def from_pattern(pattern: str) -> str:
    """The shortest string (by the quantifiers' minimums) that `pattern` matches, for the
    simple patterns schemas use; raises Unsupported for anything else."""
    text, at = _sequence(pattern.removeprefix("^"), 0)
    if at != len(pattern.removeprefix("^")):
        raise Unsupported(pattern)
    return text


def _sequence(pattern: str, at: int) -> tuple[str, int]:
    """The first alternative of a sequence, up to an unmatched `)` or the end."""
    out: list[str] = []
    taken = False
    while at < len(pattern) and pattern[at] != ")":
        if pattern[at] == "|":
            taken = True  # the first alternative is already built: skip the others
            at += 1
            continue
        atom, at = _atom(pattern, at)
        times, at = _quantifier(pattern, at)
        if not taken:
            out.append(atom * times)
    return "".join(out), at


def _atom(pattern: str, at: int) -> tuple[str, int]:
    char = pattern[at]
    if char == "$":
        return "", at + 1
    if char == "(":
        at += 3 if pattern.startswith("(?:", at) else 1
        inner, at = _sequence(pattern, at)
        if at >= len(pattern):
            raise Unsupported(pattern)
        return inner, at + 1
    if char == "[":
        return _class(pattern, at + 1)
    if char == "\\":
        escaped = pattern[at + 1]
        if escaped in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[escaped][0], at + 2
        if escaped.isalnum():
            raise Unsupported(pattern)
        return escaped, at + 2
    if char == ".":
        return "a", at + 1
    if char in "*+?{":
        raise Unsupported(pattern)
    return char, at + 1


def _class(pattern: str, at: int) -> tuple[str, int]:
    """A character of the class that starts at `at` (after its `[`)."""
    negated = pattern.startswith("^", at)
    at += negated
    members: set[str] = set()
    first = True
    while at < len(pattern) and (pattern[at] != "]" or first):
        first = False
        char, at = _class_char(pattern, at)
        if pattern.startswith("-", at) and at + 1 < len(pattern) and pattern[at + 1] != "]":
            end, at = _class_char(pattern, at + 1)
            members |= {chr(c) for c in range(ord(char), ord(end) + 1)}
        else:
            members |= set(char)
    if at >= len(pattern):
        raise Unsupported(pattern)
    pool = _PREFERRED + "".join(chr(c) for c in range(0x21, 0x7F))
    chosen = next((c for c in pool if (c in members) != negated), None)
    if chosen is None:
        raise Unsupported(pattern)
    return chosen, at + 1


def _class_char(pattern: str, at: int) -> tuple[str, int]:
    """One member of a class (a set of characters for \\d, \\s, \\w), and where the next starts."""
    if pattern[at] != "\\":
        return pattern[at], at + 1
    escaped = pattern[at + 1]
    if escaped in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[escaped] + ("\t\n\r\f\v" if escaped == "s" else ""), at + 2
    if escaped == "x":
        return chr(int(pattern[at + 2 : at + 4], 16)), at + 4
    if escaped in "nrtfv":
        return {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v"}[escaped], at + 2
    if escaped.isalnum():
        raise Unsupported(pattern)
    return escaped, at + 2


def _quantifier(pattern: str, at: int) -> tuple[int, int]:
    """How many times the atom before `at` repeats (the least allowed), and where the pattern
    continues."""
    if at >= len(pattern):
        return 1, at
    char = pattern[at]
    if char in "?*":
        return 0, _lazy(pattern, at + 1)
    if char == "+":
        return 1, _lazy(pattern, at + 1)
    if char == "{":
        end = pattern.find("}", at)
        bounds = pattern[at + 1 : end].split(",")
        if end < 0 or not bounds[0].isdigit():
            raise Unsupported(pattern)
        return int(bounds[0]), _lazy(pattern, end + 1)
    return 1, at


def _lazy(pattern: str, at: int) -> int:
    return at + 1 if pattern.startswith("?", at) else at
