"""The conversation list: query parameters, keyset cursors, and items as the API answers them.

Filters become fixed SQL fragments with `$n` parameters (never SQL made of values). Search
`q` matches contacts by blind index only (phone or name), so no row is ever decrypted to
search. The cursor is the keyset (last_message_at DESC NULLS LAST, id DESC) of the last item.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from multidict import MultiMapping

from inbox.contact_keys import NAME_FIELD, PHONE_FIELD, name_key
from inbox.content import e164
from majlis.crypto import (
    BlindIndexer,
    DecryptionError,
    FieldCipher,
    InvalidPhoneNumber,
    normalise_phone,
)
from majlis.http import ProblemError

STATUSES = frozenset({"open", "pending", "snoozed", "resolved"})
# A status is written into the statement as one of these fixed fragments, not passed as a
# parameter: the planner then knows it (a rare status is served by another plan than "open")
# and the statement keeps its plan (see conversations_repository.list_sql).
_STATUS_WHERE = {status: f"c.status = '{status}'" for status in sorted(STATUSES)}
LIST_PARAMS = frozenset(
    {"status", "assignee", "label", "number", "unread", "contact", "q", "limit", "cursor", "team"}
)
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_Q = 200
BODY_FIELD = "messages.body"


def bad_query(name: str, message: str) -> ProblemError:
    """422 for one query parameter; the value is never echoed (it may be a phone number)."""
    return ProblemError(
        422,
        "A query parameter is not valid",
        slug="invalid-query-parameter",
        errors=[{"field": name, "message": message}],
    )


def only_params(query: MultiMapping[str], allowed: frozenset[str]) -> None:
    """422 for an unknown or repeated query parameter."""
    for name in query:
        if name not in allowed:
            raise bad_query(name, "unknown parameter")
        if len(query.getall(name)) > 1:
            raise bad_query(name, "given more than once")


def uuid_param(query: MultiMapping[str], name: str) -> UUID | None:
    """A UUID query parameter, if present."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise bad_query(name, "must be a UUID") from None


def int_param(query: MultiMapping[str], name: str, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high], if present."""
    raw = query.get(name)
    if raw is None:
        return None
    digits = raw[1:] if raw.startswith("-") and low < 0 else raw
    if (
        not digits.isascii()
        or not digits.isdigit()
        or len(digits) > 19
        or not low <= int(raw) <= high
    ):
        raise bad_query(name, f"must be an integer from {low} to {high}")
    return int(raw)


def encode_cursor(last_message_at: datetime | None, conversation_id: UUID) -> str:
    """The opaque cursor after an item."""
    raw = orjson.dumps(
        [last_message_at.isoformat() if last_message_at else None, str(conversation_id)]
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, UUID]:
    """The keyset a cursor holds; 422 for anything this API did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, ident = orjson.loads(raw)
        moment = None if stamp is None else datetime.fromisoformat(stamp)
        if moment is not None and moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, UUID(ident)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise bad_query("cursor", "not a cursor of this list") from None


@dataclass
class ListFilter:
    """WHERE fragments and their parameters, numbered in the order they are added; and the
    keyset of a cursor after a dated item (see conversations_repository.list_sql)."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    after_dated: str | None = None

    def fragment(self, fragment: str, *values: Any) -> str:
        """A fixed fragment whose `{n}` placeholders become `$n` of the next `values`."""
        numbers = [f"${len(self.params) + i + 1}" for i in range(len(values))]
        self.params.extend(values)
        return fragment.format(*numbers)

    def add(self, fragment: str, *values: Any) -> None:
        """Add a fixed fragment whose `{}` placeholders become the next `$n` of `values`."""
        self.where.append(self.fragment(fragment, *values))


def phone_key(q: str, region: str) -> str | None:
    """E.164 of a search text that is a phone number (national or international form)."""
    try:
        return normalise_phone(q, region)
    except InvalidPhoneNumber:
        digits = q.replace(" ", "").replace("-", "")
        return e164(digits, region) if digits.lstrip("+").isdigit() else None


def list_filter(
    query: MultiMapping[str],
    *,
    caller_id: UUID,
    tenant_id: UUID,
    indexer: BlindIndexer,
    region: str,
) -> tuple[ListFilter, int]:
    """The WHERE fragments of a list request, and its page size; 422 for a bad parameter."""
    only_params(query, LIST_PARAMS)
    flt = ListFilter()
    status = query.get("status", "open")
    if status != "all" and status not in STATUSES:
        raise bad_query("status", "must be open, pending, snoozed, resolved or all")
    if status != "all":
        flt.add(_STATUS_WHERE[status])
    assignee = query.get("assignee")
    if assignee == "me":
        flt.add("c.assigned_user_id = {}", caller_id)
    elif assignee == "unassigned":
        flt.add("c.assigned_user_id IS NULL")
    elif assignee is not None:
        try:
            flt.add("c.assigned_user_id = {}", UUID(assignee))
        except ValueError:
            raise bad_query("assignee", "must be me, unassigned or a user id") from None
    team = query.get("team")
    if team == "mine":
        flt.add(
            "c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = {})", caller_id
        )
    elif team is not None:
        try:
            flt.add("c.team_id = {}", UUID(team))
        except ValueError:
            raise bad_query("team", "must be mine or a team id") from None
    if (label := uuid_param(query, "label")) is not None:
        flt.add(
            "EXISTS (SELECT 1 FROM conversation_labels f"
            " WHERE f.conversation_id = c.id AND f.label_id = {})",
            label,
        )
    if (number := uuid_param(query, "number")) is not None:
        flt.add("c.number_id = {}", number)
    if (contact := uuid_param(query, "contact")) is not None:
        flt.add("c.contact_id = {}", contact)
    unread = query.get("unread")
    if unread not in (None, "true", "false"):
        raise bad_query("unread", "must be true or false")
    if unread == "true":
        flt.add("c.unread_count > 0")
    q = query.get("q", "").strip()
    if len(q) > MAX_Q:
        raise bad_query("q", f"at most {MAX_Q} characters")
    if q:
        phone = phone_key(q, region)
        phone_bidx = indexer.value(phone, tenant_id=tenant_id, field=PHONE_FIELD) if phone else None
        name_bidx = indexer.value(name_key(q), tenant_id=tenant_id, field=NAME_FIELD)
        flt.add(
            "c.contact_id IN (SELECT s.id FROM contacts s"
            " WHERE s.phone_bidx = {} OR s.name_bidx = {})",
            phone_bidx,
            name_bidx,
        )
    if (cursor := query.get("cursor")) is not None:
        stamp, last_id = decode_cursor(cursor)
        if stamp is None:
            flt.add("(c.last_message_at IS NULL AND c.id < {})", last_id)
        else:
            # Later dated items, and then every undated one: two index ranges (list_sql). The
            # row comparison is itself the index condition (and one estimate for the planner).
            flt.after_dated = flt.fragment("(c.last_message_at, c.id) < ({0}, {1})", stamp, last_id)
    limit = int_param(query, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    return flt, limit


def _text(cipher: FieldCipher, value: bytes | None, tenant_id: UUID, field_name: str) -> str | None:
    if value is None:
        return None
    try:
        return cipher.decrypt_text(value, tenant_id=tenant_id, field=field_name)
    except DecryptionError:
        return None  # an unreadable value answers as absent, never as a 500


def item_json(row: Any, cipher: FieldCipher, tenant_id: UUID) -> dict[str, Any]:
    """A conversation as a list item."""
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "controller": row["controller"],
        "assigned_user_id": str(row["assigned_user_id"]) if row["assigned_user_id"] else None,
        "number_id": str(row["number_id"]),
        "contact": {
            "id": str(row["contact_id"]),
            "name": _text(cipher, row["name_enc"], tenant_id, NAME_FIELD),
            "phone": _text(cipher, row["phone_enc"], tenant_id, PHONE_FIELD),
        },
        "last_message_at": row["last_message_at"],
        "last_customer_message_at": row["last_customer_message_at"],
        "unread_count": row["unread_count"],
        "team_id": str(row["team_id"]) if row["team_id"] else None,
        "labels": [str(label_id) for label_id in row["label_ids"]],
        "snoozed_until": row["snoozed_until"],
        "window_open": row["window_open"],
        "window_closes_at": row["window_closes_at"],
        "created_at": row["created_at"],
    }


def message_json(row: Any, cipher: FieldCipher, tenant_id: UUID) -> dict[str, Any]:
    """A message of a conversation, its body decrypted (JSON content, or text as it was)."""
    body: Any = None
    if row["body_enc"] is not None:
        try:
            plain = cipher.decrypt(row["body_enc"], tenant_id=tenant_id, field=BODY_FIELD)
            try:
                body = orjson.loads(plain)
            except orjson.JSONDecodeError:
                body = plain.decode("utf-8", errors="replace")
        except DecryptionError:
            body = None
    return {
        "id": str(row["id"]),
        "seq": row["seq"],
        "direction": row["direction"],
        "type": row["type"],
        "status": row["status"],
        "body": body,
        "sender_kind": row["sender_kind"],
        "sender_user_id": str(row["sender_user_id"]) if row["sender_user_id"] else None,
        "error_code": row["error_code"],
        "error_title": row["error_title"],
        "created_at": row["created_at"],
        # Meta's id: reactions and replies name the message they refer to by it.
        "wamid": row.get("wamid"),
        "media": _media_json(row),
    }


def _media_json(row: Any) -> dict[str, Any] | None:
    """The message's file, if any: fetched through GET /api/v1/media/{id} once stored."""
    media_id = row.get("media_id")
    if media_id is None:
        return None
    return {
        "id": str(media_id),
        "status": row["media_status"],
        "mime_type": row["media_mime_type"],
        "file_size": row["media_file_size"],
    }
