"""The parameters of a template send: what each component of a stored template expects.

`check_parameters` checks the parameters of a send against a stored template before any send,
as Meta does at send: counts and kinds per component. An AUTHENTICATION template (a BODY with
no text of its own, an OTP button) takes the code as the body's one parameter and as the text
parameter of button 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
# Any {{...}}; only {{n}} (positional) is supported.
_ANY_VARIABLE = re.compile(r"\{\{(.*?)\}\}")
_POSITIONAL = re.compile(r"\s*([0-9]+)\s*")


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
            if "text" not in component:  # an authentication body: Meta's text, with the code
                expected["body"] = (["text"], False)
                continue
            count = len(set(variables(str(component.get("text", ""))) or []))
            if count:
                expected["body"] = (["text"] * count, False)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                is_otp = button.get("type") == "OTP"  # the copy-code button carries the code
                if is_otp or (
                    button.get("type") == "URL" and variables(str(button.get("url", "")))
                ):
                    expected[f"button.{index}"] = (["url-text"], False)
                elif button.get("type") == "QUICK_REPLY":
                    expected[f"button.{index}"] = (["payload"], True)  # a payload is optional
    return expected
