"""Shape checks of ``POST /{phone_number_id}/messages`` bodies, as Meta applies them (§4).

Every failure is a code-100 error whose details name the offending parameter.
"""

from __future__ import annotations

import re
from typing import Any

from majlis.graphsim.errors import invalid

MESSAGE_TYPES = frozenset(
    {
        "text",
        "template",
        "interactive",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
    }
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_CAPTIONED = frozenset({"image", "video", "document"})
_PHONE = re.compile(r"\+?[\d\s().-]+")
_INTERACTIVE_TYPES = frozenset(
    {
        "button",
        "list",
        "cta_url",
        "flow",
        "product",
        "product_list",
        "catalog_message",
        "location_request_message",
        "order_details",
        "order_status",
        "carousel",
    }
)


def validate_message(payload: Any) -> tuple[str, str]:
    """Check a send request; returns ``(type, to)`` or raises a code-100 SimError."""
    if not isinstance(payload, dict):
        raise invalid("The request body must be a JSON object")
    if payload.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be whatsapp")
    if payload.get("recipient_type", "individual") not in {"individual", "group"}:
        raise invalid("Param recipient_type must be one of {INDIVIDUAL, GROUP}")
    to = payload.get("to")
    if not isinstance(to, str) or not _PHONE.fullmatch(to):
        raise invalid("The parameter to is required and must be a phone number")
    if not 7 <= sum(ch.isdigit() for ch in to) <= 15:
        raise invalid("Param to is not a valid phone number")
    kind = payload.get("type", "text")  # Meta defaults the type to text
    if kind not in MESSAGE_TYPES:
        raise invalid(f"Param type must be one of {{{', '.join(sorted(MESSAGE_TYPES))}}}")
    body = payload.get(kind)
    if kind == "contacts":
        _contacts(body)
    elif not isinstance(body, dict):
        raise invalid(f"The parameter {kind} is required")
    elif kind == "text":
        _text(body)
    elif kind == "template":
        _template(body)
    elif kind == "interactive":
        _interactive(body)
    elif kind in MEDIA_TYPES:
        _media(kind, body)
    elif kind == "location":
        _location(body)
    else:
        _reaction(body)
    context = payload.get("context")
    if context is not None and not (
        isinstance(context, dict) and _is_text(context.get("message_id"), 1, 512)
    ):
        raise invalid("Param context['message_id'] must be a message id")
    return kind, to


def media_reference(kind: str, payload: dict[str, Any]) -> str | None:
    """The media id a valid media message refers to, if it uses one (not a link)."""
    body = payload.get(kind)
    if kind in MEDIA_TYPES and isinstance(body, dict) and isinstance(body.get("id"), str):
        return str(body["id"])
    return None


def _is_text(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def _require(value: Any, name: str, high: int, low: int = 1) -> None:
    if not isinstance(value, str) or len(value) < low:
        raise invalid(f"The parameter {name} is required")
    if len(value) > high:
        raise invalid(f"Param {name} must be at most {high} characters long")


def _optional(value: Any, name: str, high: int) -> None:
    if value is not None:
        _require(value, name, high)


def _text(body: dict[str, Any]) -> None:
    _require(body.get("body"), "text['body']", 4096)
    if not isinstance(body.get("preview_url", False), bool):
        raise invalid("Param text['preview_url'] must be a boolean")


def _template(body: dict[str, Any]) -> None:
    _require(body.get("name"), "template['name']", 512)
    language = body.get("language")
    if not isinstance(language, dict):
        raise invalid("The parameter template['language'] is required")
    _require(language.get("code"), "template['language']['code']", 15)
    components = body.get("components", [])
    if not isinstance(components, list):
        raise invalid("Param template['components'] must be an array")
    for index, component in enumerate(components):
        where = f"template['components'][{index}]"
        if not isinstance(component, dict):
            raise invalid(f"Param {where} must be an object")
        if component.get("type") not in {"header", "body", "footer", "button"}:
            raise invalid(f"Param {where}['type'] must be one of {{HEADER, BODY, BUTTON}}")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
            raise invalid(f"Param {where}['parameters'] must be an array of objects")
        if any(not isinstance(p.get("type"), str) for p in parameters):
            raise invalid(f"The parameter {where}['parameters'][]['type'] is required")
        if component["type"] == "button" and component.get("sub_type") is None:
            raise invalid(f"The parameter {where}['sub_type'] is required")


def _interactive(body: dict[str, Any]) -> None:
    kind = body.get("type")
    if kind not in _INTERACTIVE_TYPES:
        raise invalid("Param interactive['type'] is not a valid interactive type")
    action = body.get("action")
    if not isinstance(action, dict):
        raise invalid("The parameter interactive['action'] is required")
    footer = body.get("footer")
    if footer is not None:
        _require(footer.get("text") if isinstance(footer, dict) else None, "footer['text']", 60)
    if kind == "button":
        _body_text(body, 1024)
        _buttons(action)
    elif kind == "list":
        _body_text(body, 4096)
        header = body.get("header")
        if header is not None and not (
            isinstance(header, dict)
            and header.get("type") == "text"
            and _is_text(header.get("text"), 1, 60)
        ):
            raise invalid("Param interactive['header'] of a list must be text of at most 60")
        _list(action)


def _body_text(body: dict[str, Any], high: int) -> None:
    text = body.get("body")
    _require(text.get("text") if isinstance(text, dict) else None, "interactive['body']", high)


def _buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise invalid("Param interactive['action']['buttons'] must have 1 to 3 buttons")
    ids: set[str] = set()
    titles: set[str] = set()
    for index, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, dict) else None
        if (
            not isinstance(button, dict)
            or button.get("type") != "reply"
            or not isinstance(reply, dict)
        ):
            raise invalid(f"Param buttons[{index}] must be a reply button")
        _require(reply.get("id"), f"buttons[{index}]['reply']['id']", 256)
        _require(reply.get("title"), f"buttons[{index}]['reply']['title']", 20)
        ids.add(reply["id"])
        titles.add(reply["title"])
    if len(ids) != len(buttons) or len(titles) != len(buttons):
        raise invalid("Button ids and titles must be unique")


def _list(action: dict[str, Any]) -> None:
    _require(action.get("button"), "interactive['action']['button']", 20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise invalid("Param interactive['action']['sections'] must have 1 to 10 sections")
    row_ids: set[str] = set()
    total = 0
    for s_index, section in enumerate(sections):
        rows = section.get("rows") if isinstance(section, dict) else None
        if not isinstance(section, dict) or not isinstance(rows, list) or not rows:
            raise invalid(f"Param sections[{s_index}]['rows'] is required")
        if len(sections) > 1 or "title" in section:
            _require(section.get("title"), f"sections[{s_index}]['title']", 24)
        for r_index, row in enumerate(rows):
            where = f"sections[{s_index}]['rows'][{r_index}]"
            if not isinstance(row, dict):
                raise invalid(f"Param {where} must be an object")
            _require(row.get("id"), f"{where}['id']", 200)
            _require(row.get("title"), f"{where}['title']", 24)
            _optional(row.get("description"), f"{where}['description']", 72)
            row_ids.add(row["id"])
        total += len(rows)
    if total > 10:
        raise invalid("Total row count exceed max allowed count: 10")
    if len(row_ids) != total:
        raise invalid("Row ids must be unique")


def _media(kind: str, body: dict[str, Any]) -> None:
    has_id, has_link = "id" in body, "link" in body
    if has_id == has_link:
        raise invalid(f"Param {kind} must have exactly one of id or link")
    if has_id:
        _require(body["id"], f"{kind}['id']", 128)
    elif not isinstance(body["link"], str) or not body["link"].startswith(("https://", "http://")):
        raise invalid(f"Param {kind}['link'] must be an http(s) URL")
    if "caption" in body:
        if kind not in _CAPTIONED:
            raise invalid(f"Param {kind}['caption'] is not a valid parameter")
        _require(body["caption"], f"{kind}['caption']", 1024)
    if kind == "document":
        _optional(body.get("filename"), "document['filename']", 240)


def _location(body: dict[str, Any]) -> None:
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound:
            raise invalid(f"Param location['{name}'] must be a number within ±{bound}")
    _optional(body.get("name"), "location['name']", 1000)
    _optional(body.get("address"), "location['address']", 1000)


def _contacts(body: Any) -> None:
    if not isinstance(body, list) or not body:
        raise invalid("The parameter contacts is required and must be a non-empty array")
    for index, contact in enumerate(body):
        name = contact.get("name") if isinstance(contact, dict) else None
        formatted = name.get("formatted_name") if isinstance(name, dict) else None
        _require(formatted, f"contacts[{index}]['name']['formatted_name']", 1000)


def _reaction(body: dict[str, Any]) -> None:
    _require(body.get("message_id"), "reaction['message_id']", 512)
    emoji = body.get("emoji")
    if not isinstance(emoji, str) or len(emoji) > 10:
        raise invalid("The parameter reaction['emoji'] is required (empty removes the reaction)")
