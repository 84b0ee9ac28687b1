"""AUTHENTICATION templates (one-time codes): Meta's creation rules and its checks at send.

Meta writes the text of an authentication template itself: the creation request only chooses
the security sentence (``add_security_recommendation`` on BODY), the expiry line
(``code_expiration_minutes``, 1 to 90, on FOOTER) and one ``OTP`` button. The template is
stored as Meta shows it afterwards: a BODY text with ``{{1}}`` (the code) and a URL button
whose ``{{1}}`` is the code again (the copy-code button is a URL button at send time). The
preset text is Meta's English wording in every language here; the simulator does not
translate.

A send fills both: the body parameter (the code, at most 15 characters) and a ``button``
component, ``sub_type: "url"``, ``index: "0"``, whose text parameter is the same code.
"""

from __future__ import annotations

from typing import Any

from majlis.graphsim.errors import SimError, invalid

CODE_MAX = 15
BODY_TEXT = "{{1}} is your verification code."
SECURITY_TEXT = " For your security, do not share this code."
EXPIRY_TEXT = "This code expires in {minutes} minutes."
COPY_CODE_TEXT = "Copy code"
COPY_CODE_URL = "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}"
_OTP_TYPES = frozenset({"COPY_CODE", "ONE_TAP", "ZERO_TAP"})
_KINDS = frozenset({"BODY", "FOOTER", "BUTTONS"})


def authentication_components(components: list[Any]) -> list[dict[str, Any]]:
    """Check an AUTHENTICATION creation request; the components as Meta stores them."""
    by_kind: dict[str, dict[str, Any]] = {}
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            raise invalid(f"Param components[{index}] must be an object")
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            raise invalid("An AUTHENTICATION template takes no HEADER component")
        if kind not in _KINDS or kind in by_kind:
            raise invalid(f"Param components[{index}]['type'] is invalid or repeated")
        by_kind[kind] = component
    if "BODY" not in by_kind:
        raise invalid("A template needs a BODY component")
    if "BUTTONS" not in by_kind:
        raise invalid("An AUTHENTICATION template needs a BUTTONS component with an OTP button")
    stored = [_body(by_kind["BODY"])]
    if "FOOTER" in by_kind:
        stored.append(_footer(by_kind["FOOTER"]))
    stored.append(_buttons(by_kind["BUTTONS"]))
    return stored


def _body(component: dict[str, Any]) -> dict[str, Any]:
    if "text" in component:
        raise invalid(
            "Param BODY text is not allowed in an AUTHENTICATION template: its text is preset"
        )
    security = component.get("add_security_recommendation", False)
    if not isinstance(security, bool):
        raise invalid("Param BODY add_security_recommendation must be a boolean")
    text = BODY_TEXT + (SECURITY_TEXT if security else "")
    return {"type": "BODY", "text": text, "add_security_recommendation": security}


def _footer(component: dict[str, Any]) -> dict[str, Any]:
    if "text" in component:
        raise invalid(
            "Param FOOTER text is not allowed in an AUTHENTICATION template: its text is preset"
        )
    minutes = component.get("code_expiration_minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 90:
        raise invalid("Param FOOTER code_expiration_minutes must be a whole number from 1 to 90")
    return {
        "type": "FOOTER",
        "text": EXPIRY_TEXT.format(minutes=minutes),
        "code_expiration_minutes": minutes,
    }


def _buttons(component: dict[str, Any]) -> dict[str, Any]:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or len(buttons) != 1 or not isinstance(buttons[0], dict):
        raise invalid("An AUTHENTICATION template takes exactly one OTP button")
    button = buttons[0]
    if str(button.get("type", "")).upper() != "OTP":
        raise invalid("An AUTHENTICATION template takes exactly one OTP button")
    otp_type = str(button.get("otp_type", "")).upper()
    if otp_type not in _OTP_TYPES:
        raise invalid("Param otp_type must be one of {COPY_CODE, ONE_TAP, ZERO_TAP}")
    has_app = button.get("package_name") and button.get("signature_hash")
    if otp_type != "COPY_CODE" and not (button.get("supported_apps") or has_app):
        raise invalid(f"An {otp_type} button needs supported_apps (package name, signature hash)")
    text = button.get("text", COPY_CODE_TEXT)
    if not isinstance(text, str) or not text.strip() or len(text) > 25:
        raise invalid("Param button text must be 1 to 25 characters long")
    # Created as OTP, listed as URL: the copy-code link carries the code (reference §5).
    url_button = {"type": "URL", "text": text, "url": COPY_CODE_URL, "otp_type": otp_type}
    return {"type": "BUTTONS", "buttons": [url_button]}


def check_authentication_send(components: Any) -> None:
    """Meta's checks of an authentication template send: the code in body and button alike."""
    components = components if isinstance(components, list) else []
    bodies = [c for c in components if c.get("type") == "body"]
    code = _code(bodies[0].get("parameters", []) if bodies else [], "body")
    buttons = [c for c in components if c.get("type") == "button"]
    if not buttons:
        raise SimError(131008, "buttons: Button at index 0 of type Url requires a parameter")
    (button, *others) = buttons
    if (
        others
        or str(button.get("sub_type", "")).lower() != "url"
        or str(button.get("index")) != "0"
    ):
        raise SimError(131009, "buttons: the copy-code button is sub_type url at index 0")
    if _code(button.get("parameters", []), "button") != code:
        raise SimError(131009, "buttons: the button parameter must be the code of the body")


def _code(parameters: Any, where: str) -> str:
    if (
        not isinstance(parameters, list)
        or len(parameters) != 1
        or not isinstance(parameters[0], dict)
        or parameters[0].get("type") != "text"
    ):
        raise SimError(131008, f"{where}: the one-time code is required as one text parameter")
    code = parameters[0].get("text")
    if not isinstance(code, str) or not code or len(code) > CODE_MAX:
        raise SimError(131009, f"{where}: the one-time code must be 1 to {CODE_MAX} characters")
    return code
