"""Checking a customer's answer to a question, and filling `{{templates}}`."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from chatflow.flow_nodes import Validation
from chatflow.flow_validation import TEMPLATE
from chatflow.text_matching import normalise

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")
_NUMBER = re.compile(r"^-?[0-9]+([.,][0-9]+)?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$|^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


def check_answer(validation: Validation, raw: str) -> str | None:
    """The answer as stored (normalised), or None when it does not pass."""
    text = normalise(raw) if validation.type in ("number", "phone", "date") else raw.strip()
    if not text:
        return None
    if validation.pattern and re.fullmatch(validation.pattern, text[:1000]) is None:
        return None
    if validation.type == "number":
        return text.replace(",", ".") if _NUMBER.fullmatch(text) else None
    if validation.type == "email":
        return text.lower() if _EMAIL.fullmatch(text) else None
    if validation.type == "phone":
        digits = re.sub(r"[\s()-]", "", text)
        return digits if _PHONE.fullmatch(digits) else None
    if validation.type == "date":
        return _date(text)
    if validation.type == "choice":
        wanted = normalise(text)
        for choice in validation.choices or []:
            if normalise(choice) == wanted:
                return choice
        return None
    return text[:4096]


def _date(text: str) -> str | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    if match.group(1):
        year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    else:
        day, month, year = int(match.group(4)), int(match.group(5)), int(match.group(6))
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def lookup(name: str, variables: dict[str, Any], contact: dict[str, Any]) -> Any:
    """A variable or `contact.<field>` value (None when unset)."""
    if name.startswith("contact."):
        field = name.removeprefix("contact.")
        if field.startswith("attributes."):
            return contact.get("attributes", {}).get(field.removeprefix("attributes."))
        return contact.get(field)
    return variables.get(name)


def render(text: str, variables: dict[str, Any], contact: dict[str, Any]) -> str:
    """`text` with every `{{name}}` replaced (unset: empty)."""

    def value(match: re.Match[str]) -> str:
        found = lookup(match.group(1), variables, contact)
        if isinstance(found, list):
            return ", ".join(str(v) for v in found)
        return "" if found is None else str(found)

    return TEMPLATE.sub(value, text)
