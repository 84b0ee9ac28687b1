"""Message templates: the creation body, Meta's content rules, and the parameter check.

`validate_components` applies the rules Meta's review applies at creation (reference §5), so
a bad template is a 422 with field errors here rather than a round trip to Meta.
`check_parameters` checks the parameters of a send against a stored template before any send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from majlis.http import ProblemError, RequestModel

NAME_PATTERN = r"^[a-z0-9_]{1,512}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
CONTENT_FIELD = "templates.content"
Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]

# Any {{...}}; only {{n}} (positional) is supported.
_ANY_VARIABLE = re.compile(r"\{\{(.*?)\}\}")
_POSITIONAL = re.compile(r"\s*([0-9]+)\s*")
_URL = re.compile(r"^https?://[^\s]{1,2000}$")
_PHONE = re.compile(r"^\+?[0-9]{6,20}$")
BUTTON_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1}
MAX_BUTTONS = 10
MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})

Text = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Example(RequestModel):
    """Examples of a component's variables, as Meta expects them."""

    header_text: list[Text] | None = Field(default=None, max_length=1)
    header_handle: list[Text] | None = Field(default=None, max_length=1)
    body_text: list[list[Text]] | None = Field(default=None, max_length=1)


class Header(RequestModel):
    """HEADER: text (at most one variable) or a media kind."""

    type: Literal["HEADER"]
    format: Literal["TEXT", "IMAGE", "VIDEO", "DOCUMENT"]
    text: str | None = None
    example: Example | None = None


class Body(RequestModel):
    """BODY: up to 1,024 characters with {{1}}..{{n}} variables."""

    type: Literal["BODY"]
    text: str
    example: Example | None = None


class Footer(RequestModel):
    """FOOTER: up to 60 characters, no variables."""

    type: Literal["FOOTER"]
    text: str


class Button(RequestModel):
    """One button: QUICK_REPLY, URL (optionally ending in {{1}}) or PHONE_NUMBER."""

    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER"]
    text: str
    url: str | None = None
    phone_number: str | None = None
    example: list[Text] | None = Field(default=None, max_length=1)


class Buttons(RequestModel):
    """BUTTONS: at most 10 in all."""

    type: Literal["BUTTONS"]
    buttons: list[Button] = Field(min_length=1, max_length=MAX_BUTTONS)


Component = Annotated[Header | Body | Footer | Buttons, Field(discriminator="type")]


class CreateTemplate(RequestModel):
    """POST /api/v1/templates: the number (or its WABA) and the template."""

    number_id: UUID | None = None
    waba_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")] | None = None
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    category: Category
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]
    components: list[Component] = Field(min_length=1, max_length=4)


class TemplateParameterError(ValueError):
    """The parameters of a send do not fit the template (count or kind)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def variables(text: str) -> list[int] | None:
    """The positional variables of a text in order; None if any {{...}} is not {{n}}."""
    found: list[int] = []
    for inner in _ANY_VARIABLE.findall(text):
        match = _POSITIONAL.fullmatch(inner)
        if match is None:
            return None
        found.append(int(match.group(1)))
    if text.count("{{") != len(found) or text.count("}}") != len(found):
        return None  # an unclosed or nested brace
    return found


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str, code: str) -> None:
        self.items.append({"field": field, "message": message, "code": code})


def validate_components(body: CreateTemplate) -> None:
    """Meta's creation rules; 422 with every field error found."""
    errors = _Errors()
    kinds = [c.type for c in body.components]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            errors.add("components", f"{kind} appears more than once", "duplicate-component")
    if "BODY" not in kinds:
        errors.add("components", "A template needs a BODY component", "body-required")
    if body.number_id is None and body.waba_id is None:
        errors.add("number_id", "Give number_id or waba_id", "number-required")
    for index, component in enumerate(body.components):
        where = f"components.{index}"
        if isinstance(component, Header):
            _header(component, where, errors)
        elif isinstance(component, Body):
            _body(component, where, errors)
        elif isinstance(component, Footer):
            _text(component.text, f"{where}.text", 60, errors)
            if "{{" in component.text:
                errors.add(f"{where}.text", "A footer takes no variables", "footer-variable")
        else:
            _buttons(component, where, errors)
    if errors.items:
        raise ProblemError(
            422, "The template is not valid", slug="invalid-template", errors=errors.items
        )


def _text(text: str, field: str, limit: int, errors: _Errors) -> bool:
    if not text.strip():
        errors.add(field, "Text is required", "text-required")
        return False
    if len(text) > limit:
        errors.add(field, f"Text must be at most {limit} characters", "text-too-long")
        return False
    return True


def _header(header: Header, where: str, errors: _Errors) -> None:
    example = header.example
    if header.format in MEDIA_FORMATS:
        if header.text is not None:
            errors.add(f"{where}.text", "A media header has no text", "header-text")
        if example is None or not example.header_handle:
            errors.add(
                f"{where}.example.header_handle",
                "A media header needs an example handle",
                "example-required",
            )
        return
    if header.text is None or not _text(header.text, f"{where}.text", 60, errors):
        if header.text is None:
            errors.add(f"{where}.text", "A text header needs text", "text-required")
        return
    found = variables(header.text)
    if found is None or len(found) > 1 or (found and found != [1]):
        errors.add(f"{where}.text", "A text header takes at most one variable, {{1}}", "variables")
    elif found and (example is None or not example.header_text):
        errors.add(f"{where}.example.header_text", "The variable needs an example", "example")


def _body(body: Body, where: str, errors: _Errors) -> None:
    if not _text(body.text, f"{where}.text", 1024, errors):
        return
    found = variables(body.text)
    if found is None:
        errors.add(f"{where}.text", "Variables must be {{1}}, {{2}}, ...", "variables")
        return
    count = len(set(found))
    if sorted(set(found)) != list(range(1, count + 1)):
        errors.add(f"{where}.text", "Variables must be consecutive from {{1}}", "variables")
        return
    stripped = body.text.strip()
    if found and (stripped.startswith("{{") or stripped.endswith("}}")):
        errors.add(f"{where}.text", "The body can't start or end with a variable", "variables")
    examples = body.example.body_text if body.example else None
    if count and (not examples or len(examples[0]) != count):
        errors.add(
            f"{where}.example.body_text", f"Give one example for each of {count} variables",
            "example",
        )  # fmt: skip


def _buttons(buttons: Buttons, where: str, errors: _Errors) -> None:
    for kind, limit in BUTTON_LIMITS.items():
        if sum(b.type == kind for b in buttons.buttons) > limit:
            errors.add(f"{where}.buttons", f"At most {limit} {kind} buttons", "too-many-buttons")
    for index, button in enumerate(buttons.buttons):
        at = f"{where}.buttons.{index}"
        _text(button.text, f"{at}.text", 25, errors)
        if button.type == "URL":
            if button.url is None or not _URL.fullmatch(button.url):
                errors.add(f"{at}.url", "A URL button needs an http(s) URL", "url")
                continue
            found = variables(button.url)
            if found is None or found not in ([], [1]) or (found and not button.url.endswith("}}")):
                errors.add(f"{at}.url", "A URL takes one {{1}} variable, at its end", "variables")
            elif found and not button.example:
                errors.add(f"{at}.example", "The URL variable needs an example", "example")
        elif button.type == "PHONE_NUMBER":
            if button.phone_number is None or not _PHONE.fullmatch(button.phone_number):
                errors.add(f"{at}.phone_number", "A phone button needs a number", "phone")
        elif button.url is not None or button.phone_number is not None:
            errors.add(at, "A quick reply has only text", "quick-reply")


def meta_payload(body: CreateTemplate) -> dict[str, Any]:
    """The creation request to Meta (components exactly as validated)."""
    return {
        "name": body.name,
        "language": body.language,
        "category": body.category,
        "components": content_of(body),
    }


def content_of(body: CreateTemplate) -> list[dict[str, Any]]:
    """The components as stored (encrypted) and sent to Meta."""
    return [c.model_dump(mode="json", exclude_none=True) for c in body.components]


def check_parameters(
    template: Sequence[Mapping[str, Any]], components: Sequence[Mapping[str, Any]]
) -> None:
    """Raise TemplateParameterError unless `components` fill `template`'s variables exactly.

    `template` is the stored components (as `GET /api/v1/templates/{id}` returns them);
    `components` are the Cloud API send components (`header`, `body`, `button`), each with
    its `parameters`. Counts and kinds per component are checked, as Meta does at send.
    """
    expected = _expected(template)
    errors: list[str] = []
    seen: set[str] = set()
    for component in components:
        key = _key(component)
        if key is None or key in seen:
            errors.append(f"unexpected or repeated component {component.get('type')!r}")
            continue
        seen.add(key)
        want = expected.get(key)
        parameters = component.get("parameters") or []
        if want is None:
            errors.append(f"{key} takes no parameters")
            continue
        kinds, optional = want
        if not isinstance(parameters, list) or len(parameters) != len(kinds):
            errors.append(f"{key} needs {len(kinds)} parameters, got {_len(parameters)}")
            continue
        for position, (parameter, kind) in enumerate(zip(parameters, kinds, strict=True)):
            if not _fits(parameter, kind):
                errors.append(f"{key} parameter {position + 1} must be {kind}")
    for key, (kinds, optional) in expected.items():
        if key not in seen and kinds and not optional:
            errors.append(f"{key} needs {len(kinds)} parameters, got 0")
    if errors:
        raise TemplateParameterError(errors)


def _len(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _key(component: Mapping[str, Any]) -> str | None:
    kind = str(component.get("type", "")).lower()
    if kind in ("header", "body"):
        return kind
    if kind == "button":
        return f"button.{component.get('index')}"
    return None


def _fits(parameter: Any, kind: str) -> bool:
    if not isinstance(parameter, Mapping) or parameter.get("type") not in _ACCEPTS[kind]:
        return False
    if kind in ("image", "video", "document"):
        media = parameter.get(kind)
        return isinstance(media, Mapping) and bool(media.get("id") or media.get("link"))
    if parameter["type"] == "text":
        return isinstance(parameter.get("text"), str) and bool(parameter["text"].strip())
    return parameter["type"] in parameter and parameter[parameter["type"]] not in (None, "")


# Meta accepts currency and date_time wherever a text variable goes (body and header).
_ACCEPTS = {
    "text": ("text", "currency", "date_time"),
    "url-text": ("text",),
    "payload": ("payload",),
    "image": ("image",),
    "video": ("video",),
    "document": ("document",),
}


def _expected(template: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[str], bool]]:
    """Parameter kinds per send component key, and whether the component is optional."""
    expected: dict[str, tuple[list[str], bool]] = {}
    for component in template:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format in MEDIA_FORMATS:
                expected["header"] = ([header_format.lower()], False)
            elif variables(str(component.get("text", ""))):
                expected["header"] = (["text"], False)
        elif kind == "BODY":
            count = len(set(variables(str(component.get("text", ""))) or []))
            if count:
                expected["body"] = (["text"] * count, False)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if button.get("type") == "URL" and variables(str(button.get("url", ""))):
                    expected[f"button.{index}"] = (["url-text"], False)
                elif button.get("type") == "QUICK_REPLY":
                    expected[f"button.{index}"] = (["payload"], True)  # a payload is optional
    return expected
