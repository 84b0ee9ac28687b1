"""Message templates: the creation body and Meta's content rules.

`validate_components` applies the rules Meta's review applies at creation (reference §5), so
a bad template is a 422 with field errors here rather than a round trip to Meta.
`check_parameters` (from `template_parameters`, re-exported here) checks the parameters of a
send against a stored template before any send.

AUTHENTICATION templates carry no text of their own: Meta writes "<code> is your verification
code." itself. They take a BODY with only `add_security_recommendation`, an optional FOOTER with
only `code_expiration_minutes` (1 to 90) and BUTTONS with one `OTP` button of `otp_type`
`COPY_CODE` (its text optional). A send fills the code twice: as the body's parameter and as the
text parameter of the `button` component (`sub_type: "url"`, `index: "0"`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from broadcast.template_parameters import (
    MEDIA_FORMATS,
    TemplateParameterError,
    check_parameters,
    variables,
)
from majlis.http import ProblemError, RequestModel

NAME_PATTERN = r"^[a-z0-9_]{1,512}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
CONTENT_FIELD = "templates.content"
Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]

_URL = re.compile(r"^https?://[^\s]{1,2000}$")
_PHONE = re.compile(r"^\+?[0-9]{6,20}$")
BUTTON_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1}
MAX_BUTTONS = 10
AUTHENTICATION = "AUTHENTICATION"

__all__ = [
    "CONTENT_FIELD",
    "LANGUAGE_PATTERN",
    "NAME_PATTERN",
    "CreateTemplate",
    "TemplateParameterError",
    "check_parameters",
    "meta_payload",
    "validate_components",
    "variables",
]

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
    """BODY: up to 1,024 characters with {{1}}..{{n}} variables; no text if AUTHENTICATION."""

    type: Literal["BODY"]
    text: str | None = None
    example: Example | None = None
    add_security_recommendation: bool | None = None


class Footer(RequestModel):
    """FOOTER: up to 60 characters, no variables; AUTHENTICATION: only the code's expiry."""

    type: Literal["FOOTER"]
    text: str | None = None
    code_expiration_minutes: int | None = None


class Button(RequestModel):
    """One button: QUICK_REPLY, URL (optionally ending in {{1}}), PHONE_NUMBER or OTP."""

    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER", "OTP"]
    text: str | None = None
    url: str | None = None
    phone_number: str | None = None
    otp_type: Literal["COPY_CODE"] | None = None
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


_AUTH_ONLY = "Only AUTHENTICATION templates take this"


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
    if body.category == AUTHENTICATION:
        _authentication(body.components, kinds, errors)
    else:
        _standard(body.components, errors)
    if errors.items:
        raise ProblemError(
            422, "The template is not valid", slug="invalid-template", errors=errors.items
        )


def _standard(components: list[Header | Body | Footer | Buttons], errors: _Errors) -> None:
    for index, component in enumerate(components):
        where = f"components.{index}"
        if isinstance(component, Header):
            _header(component, where, errors)
        elif isinstance(component, Body):
            _body(component, where, errors)
        elif isinstance(component, Footer):
            _footer(component, where, errors)
        else:
            _buttons(component, where, errors)


def _authentication(
    components: list[Header | Body | Footer | Buttons], kinds: Sequence[str], errors: _Errors
) -> None:
    """Meta presets an authentication template's text: only its options may be chosen."""
    preset = "Authentication templates have preset text"
    if "BUTTONS" not in kinds:
        errors.add("components", "Add BUTTONS with one OTP button", "otp-button-required")
    for index, component in enumerate(components):
        where = f"components.{index}"
        if isinstance(component, Header):
            errors.add(f"{where}.type", "Authentication templates have no header", "header")
        elif isinstance(component, Body):
            if component.text is not None or component.example is not None:
                errors.add(f"{where}.text", preset, "preset-text")
        elif isinstance(component, Footer):
            minutes = component.code_expiration_minutes
            if component.text is not None:
                errors.add(f"{where}.text", preset, "preset-text")
            if minutes is None or not 1 <= minutes <= 90:
                errors.add(f"{where}.code_expiration_minutes", "Minutes from 1 to 90", "expiration")
        else:
            (button, *others) = component.buttons
            if others or button.type != "OTP" or button.otp_type != "COPY_CODE":
                errors.add(
                    f"{where}.buttons", "Exactly one OTP button, otp_type COPY_CODE", "otp-button"
                )
            elif button.url is not None or button.phone_number is not None or button.example:
                errors.add(f"{where}.buttons.0", "An OTP button has only text", "otp-button")
            elif button.text is not None:
                _text(button.text, f"{where}.buttons.0.text", 25, errors)


def _text(text: str, field: str, limit: int, errors: _Errors) -> bool:
    if not text.strip():
        errors.add(field, "Text is required", "text-required")
        return False
    if len(text) > limit:
        errors.add(field, f"Text must be at most {limit} characters", "text-too-long")
        return False
    return True


def _footer(footer: Footer, where: str, errors: _Errors) -> None:
    if footer.code_expiration_minutes is not None:
        errors.add(f"{where}.code_expiration_minutes", _AUTH_ONLY, "authentication-only")
    if footer.text is None:
        errors.add(f"{where}.text", "Text is required", "text-required")
    elif _text(footer.text, f"{where}.text", 60, errors) and "{{" in footer.text:
        errors.add(f"{where}.text", "A footer takes no variables", "footer-variable")


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
    if body.add_security_recommendation is not None:
        errors.add(f"{where}.add_security_recommendation", _AUTH_ONLY, "authentication-only")
    if body.text is None:
        errors.add(f"{where}.text", "Text is required", "text-required")
        return
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
        if button.type == "OTP" or button.otp_type is not None:
            errors.add(f"{at}.type", _AUTH_ONLY, "authentication-only")
            continue
        if button.text is None:
            errors.add(f"{at}.text", "Text is required", "text-required")
        else:
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
