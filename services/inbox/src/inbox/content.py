"""What an inbound message says and who sent it, read from Meta's message dict.

Pure functions: no I/O, so every message type is unit-testable from the fixtures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from majlis.crypto import InvalidPhoneNumber, normalise_phone

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
# Who/when fields live in columns (or are the contact); everything else is content.
_ENVELOPE_FIELDS = frozenset({"from", "from_user_id", "id", "timestamp"})
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# BSUID: `<ISO country>.<id>` (reference §8), e.g. "AE.13491208655302741918".
_BSUID = re.compile(r"^[A-Za-z]{2}\.[A-Za-z0-9._-]{1,160}$")
_PHONE_DIGITS = re.compile(r"^[0-9]{7,15}$")
MAX_WAMID = 255
_MAX_NAME = 200
# A Meta timestamp further from our clock than this is not believed (clock bugs, replays).
_MAX_SKEW = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media object as announced in the webhook; the file itself is fetched later."""

    meta_media_id: str
    mime_type: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """The sender: E.164 phone and/or business-scoped user id, and the profile name."""

    phone: str | None
    bsuid: str | None
    name: str | None


def message_type(message: dict[str, Any]) -> str:
    """Meta's type name if it is a plausible one (fits the column), else "unknown"."""
    value = message.get("type")
    return value if isinstance(value, str) and _TYPE.fullmatch(value) else "unknown"


def message_content(message: dict[str, Any]) -> dict[str, Any]:
    """The content fields to encrypt: the type object, context, referral, errors, and more."""
    return {k: v for k, v in message.items() if k not in _ENVELOPE_FIELDS}


def wamid_of(message: dict[str, Any]) -> str | None:
    """The message's wamid, if usable as a key."""
    wamid = message.get("id")
    return wamid if isinstance(wamid, str) and 0 < len(wamid) <= MAX_WAMID else None


def media_ref(message: dict[str, Any]) -> MediaRef | None:
    """The media object of an image/audio/video/document/sticker message, if well formed."""
    kind = message_type(message)
    media = message.get(kind) if kind in MEDIA_TYPES else None
    if not isinstance(media, dict):
        return None
    media_id, mime_type, sha256 = media.get("id"), media.get("mime_type"), media.get("sha256")
    if not isinstance(media_id, str) or not _MEDIA_ID.fullmatch(media_id):
        return None
    if not isinstance(mime_type, str) or not 0 < len(mime_type) <= 255:
        mime_type = "application/octet-stream"
    if not isinstance(sha256, str) or not 0 < len(sha256) <= 128:
        sha256 = None
    return MediaRef(media_id, mime_type, sha256)


def sent_at(timestamp: object, received_at: datetime) -> datetime:
    """Meta's send time (unix seconds as a string) when believable, else when we received it."""
    if isinstance(timestamp, str) and timestamp.isdigit() and len(timestamp) <= 12:
        moment = datetime.fromtimestamp(int(timestamp), UTC)
        if abs(moment - received_at) <= _MAX_SKEW:
            return moment
    return received_at


def e164(raw: object, region: str) -> str | None:
    """A wa_id / `from` value as E.164; Meta sends international digits without the `+`."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    candidate = text if text.startswith("+") else f"+{text}"
    try:
        return normalise_phone(candidate, region)
    except InvalidPhoneNumber:
        # New ranges and test numbers are unknown to the phone library; WhatsApp vouches for
        # them, so plain international digits are kept as they are.
        return candidate if _PHONE_DIGITS.fullmatch(candidate[1:]) else None


def sender_identity(
    message: dict[str, Any], contact: dict[str, Any] | None, region: str
) -> SenderIdentity | None:
    """Who sent the message; None if neither a phone number nor a BSUID identifies them."""
    contact = contact or {}
    phone = e164(message.get("from"), region) or e164(contact.get("wa_id"), region)
    bsuid_raw = message.get("from_user_id") or contact.get("user_id")
    bsuid = bsuid_raw if isinstance(bsuid_raw, str) and _BSUID.fullmatch(bsuid_raw) else None
    if phone is None and bsuid is None:
        return None
    profile = contact.get("profile")
    name = profile.get("name") if isinstance(profile, dict) else None
    if not isinstance(name, str) or not name.strip():
        name = None
    return SenderIdentity(phone, bsuid, name.strip()[:_MAX_NAME] if name else None)


def recipient_identity(echo: dict[str, Any], region: str) -> SenderIdentity | None:
    """Whom the business wrote to in an echo (`to`, `to_user_id`); None if neither identifies.

    An echo carries no profile: the name stays what the customer's own messages told.
    """
    phone = e164(echo.get("to"), region)
    bsuid_raw = echo.get("to_user_id")
    bsuid = bsuid_raw if isinstance(bsuid_raw, str) and _BSUID.fullmatch(bsuid_raw) else None
    if phone is None and bsuid is None:
        return None
    return SenderIdentity(phone, bsuid, None)


def address_book_identity(change: dict[str, Any], region: str) -> SenderIdentity | None:
    """The contact of an address-book change of the WhatsApp Business app (`state_sync[]`):
    its number and the name the business gave it (full name, else first name); None if the
    number is not one."""
    contact = change.get("contact")
    if not isinstance(contact, dict):
        return None
    phone = e164(contact.get("phone_number"), region)
    if phone is None:
        return None
    name = next(
        (
            value.strip()
            for value in (contact.get("full_name"), contact.get("first_name"))
            if isinstance(value, str) and value.strip()
        ),
        None,
    )
    return SenderIdentity(phone, None, name[:_MAX_NAME] if name else None)


def plain_text(message: dict[str, Any]) -> str:
    """What a person wrote: a text body, a button's or list row's title, a caption; else ""."""
    kind = message_type(message)
    value: object = None
    if kind == "text":
        value = (message.get("text") or {}).get("body")
    elif kind == "button":
        value = (message.get("button") or {}).get("text")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        if isinstance(interactive, dict):
            chosen = interactive.get("button_reply") or interactive.get("list_reply") or {}
            value = chosen.get("title") if isinstance(chosen, dict) else None
    elif kind in MEDIA_TYPES:
        media = message.get(kind)
        value = media.get("caption") if isinstance(media, dict) else None
    return value if isinstance(value, str) else ""
