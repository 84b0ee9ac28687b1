"""Message templates: creation rules (reference §5), the per-WABA store and simulated review.

AUTHENTICATION templates follow rules of their own (`auth_templates`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from majlis.graphsim.auth_templates import authentication_components
from majlis.graphsim.errors import SimError, invalid

CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
_NAME = re.compile(r"[a-z0-9_]{1,512}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
_HEADER_FORMATS = frozenset({"TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"})
_BUTTON_TYPES = frozenset(
    {"QUICK_REPLY", "URL", "PHONE_NUMBER", "OTP", "COPY_CODE", "FLOW", "MPM", "CATALOG"}
)


@dataclass
class Template:
    """One template in one language, with the review outcome decided at creation."""

    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str
    decided_at: float
    event: str  # APPROVED or REJECTED, effective from decided_at
    reason: str
    deleted: bool = field(default=False)

    def status(self, now: float) -> str:
        """PENDING until review is over, then the decision."""
        return "PENDING" if now < self.decided_at else self.event

    def body_parameter_count(self) -> int:
        """How many distinct parameters the BODY text takes."""
        for component in self.components:
            if str(component.get("type", "")).upper() == "BODY":
                return len(set(_PLACEHOLDER.findall(str(component.get("text", "")))))
        return 0

    def public(self, now: float) -> dict[str, Any]:
        """The template as ``GET /{waba_id}/message_templates`` lists it."""
        return {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "language": self.language,
            "status": self.status(now),
            "category": self.category,
            "id": self.id,
        }


class TemplateStore:
    """Templates of every WABA, in creation order."""

    def __init__(self) -> None:
        self._items: list[Template] = []

    def add(self, template: Template) -> None:
        """Store a new template; name and language must be free in its WABA."""
        if self.find(template.waba_id, template.name, template.language) is not None:
            raise SimError(
                100,
                "Content in This Language Already Exists: a template with this name and "
                "language exists. Choose another name or language.",
                subcode=2388024,
            )
        self._items.append(template)

    def find(self, waba_id: str, name: str, language: str) -> Template | None:
        """The live template with this name and language."""
        for template in self._items:
            key = (template.waba_id, template.name, template.language)
            if not template.deleted and key == (waba_id, name, language):
                return template
        return None

    def by_id(self, template_id: str) -> Template | None:
        """A live template by id."""
        return next((t for t in self._items if t.id == template_id and not t.deleted), None)

    def of_waba(self, waba_id: str) -> list[Template]:
        """Live templates of a WABA."""
        return [t for t in self._items if t.waba_id == waba_id and not t.deleted]

    def delete(self, waba_id: str, name: str, template_id: str | None) -> int:
        """Delete every language of a name (or the one id); returns how many went."""
        gone = 0
        for template in self.of_waba(waba_id):
            if template.name == name and template_id in (None, template.id):
                template.deleted = True
                gone += 1
        return gone


def new_template_id() -> str:
    """A numeric id like Meta's template ids."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def validate_template(body: Any) -> tuple[str, str, str, list[dict[str, Any]], str]:
    """Check a creation request; returns name, language, category, components, format."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    name, language = body.get("name"), body.get("language")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid("Param name must be lowercase letters, digits and underscores (max 512)")
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise invalid("Param language must be a language code such as en_US or ar")
    category = str(body.get("category", "")).upper()
    if category not in CATEGORIES:
        raise invalid("Param category must be one of {AUTHENTICATION, MARKETING, UTILITY}")
    parameter_format = str(body.get("parameter_format", "positional")).lower()
    if parameter_format not in {"positional", "named"}:
        raise invalid("Param parameter_format must be one of {NAMED, POSITIONAL}")
    components = body.get("components")
    if not isinstance(components, list) or not components:
        raise invalid("The parameter components is required")
    if category == "AUTHENTICATION":
        return name, language, category, authentication_components(components), parameter_format
    seen: set[str] = set()
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            raise invalid(f"Param components[{index}] must be an object")
        kind = str(component.get("type", "")).upper()
        if kind not in {"HEADER", "BODY", "FOOTER", "BUTTONS"} or kind in seen:
            raise invalid(f"Param components[{index}]['type'] is invalid or repeated")
        seen.add(kind)
        _component(kind, component)
    if "BODY" not in seen:
        raise invalid("A template needs a BODY component")
    return name, language, category, components, parameter_format


def _component(kind: str, component: dict[str, Any]) -> None:
    text = component.get("text")
    if kind == "BODY":
        _text(text, "BODY text", 1024)
        placeholders = _PLACEHOLDER.findall(str(text))
        example = component.get("example")
        if placeholders and not (
            isinstance(example, dict)
            and (example.get("body_text") or example.get("body_text_named_params"))
        ):
            raise invalid("Every BODY parameter needs an example (example.body_text)")
    elif kind == "HEADER":
        header_format = str(component.get("format", "")).upper()
        if header_format not in _HEADER_FORMATS:
            raise invalid("Param HEADER format must be TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION")
        if header_format == "TEXT":
            _text(text, "HEADER text", 60)
    elif kind == "FOOTER":
        _text(text, "FOOTER text", 60)
    else:
        buttons = component.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 10:
            raise invalid("Param BUTTONS must have 1 to 10 buttons")
        for button in buttons:
            if not isinstance(button, dict):
                raise invalid("Param BUTTONS buttons must be objects")
            button_type = str(button.get("type", "")).upper()
            if button_type not in _BUTTON_TYPES:
                raise invalid("Param BUTTONS button type is not supported")
            if button_type == "OTP":
                raise invalid("OTP buttons belong to AUTHENTICATION templates only")
            if "text" in button:
                _text(button["text"], "button text", 25)


def _text(value: Any, name: str, high: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"The parameter {name} is required")
    if len(value) > high:
        raise invalid(f"Param {name} must be at most {high} characters long")
