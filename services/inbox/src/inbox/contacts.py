"""Contact use cases: clean and seal input, create, patch, and show a contact.

Every value is normalised by inbox.contact_keys before it is sealed, so a contact created
here, by the CSV import or by an inbound message is found by the same blind index. Problems
name the field, never its value (a phone number or an e-mail address is personal data).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg

from inbox import contact_attributes, contact_keys
from inbox import contacts_repository as repo
from inbox.contact_attributes import InvalidAttribute, Schema
from inbox.contacts_repository import ContactPatch, ContactRow, NewContact, Sealed
from inbox.deps import InboxDeps
from inbox.repository import Conn
from majlis.crypto import InvalidPhoneNumber, normalise_phone
from majlis.http import ProblemError

Marketing = Literal["opted_in", "opted_out", "unknown"]
MAX_TAGS = 50
TAG_MAX = 64
NAME_MAX = 200
EMAIL_MAX = 320
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidContact(ValueError):
    """Input that cannot be stored; the message names the field, never the value."""


def consent_flags(marketing: Marketing) -> tuple[bool, bool]:
    """(marketing_opt_in, marketing_opt_out) for a consent state."""
    return (marketing == "opted_in", marketing == "opted_out")


def marketing_state(opt_in: bool, opt_out: bool) -> Marketing:
    """The consent state of the two stored flags."""
    return "opted_out" if opt_out else "opted_in" if opt_in else "unknown"


def clean_phone(raw: str, region: str) -> str:
    """E.164 form of a phone number (InvalidContact otherwise)."""
    try:
        return normalise_phone(raw, region)
    except InvalidPhoneNumber:
        raise InvalidContact("phone is not a valid phone number") from None


def clean_name(raw: str) -> str:
    """A display name, trimmed; 1 to 200 characters without control characters."""
    name = " ".join(raw.split())
    if not 1 <= len(name) <= NAME_MAX or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidContact(f"name must be 1 to {NAME_MAX} printable characters")
    return name


def clean_email(raw: str) -> str:
    """An e-mail address, trimmed (its blind index uses contact_keys.email_key)."""
    email = raw.strip()
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise InvalidContact("email is not a valid e-mail address")
    return email


def clean_tags(raw: list[str]) -> list[str]:
    """Tags lower-cased and trimmed, duplicates dropped; each 1..64 characters, at most 50."""
    tags = list(dict.fromkeys(tag.strip().lower() for tag in raw))
    for tag in tags:
        if not 1 <= len(tag) <= TAG_MAX or any(unicodedata.category(ch) == "Cc" for ch in tag):
            raise InvalidContact(f"each tag must be 1 to {TAG_MAX} printable characters")
    if len(tags) > MAX_TAGS:
        raise InvalidContact(f"a contact has at most {MAX_TAGS} tags")
    return tags


def seal_phone(deps: InboxDeps, tenant_id: UUID, raw: str) -> Sealed:
    """(ciphertext, blind index) of a phone number in any common form."""
    e164 = clean_phone(raw, deps.phone_region)
    return contact_keys.seal_phone(deps.cipher, deps.indexer, tenant_id, e164)


def seal_name(deps: InboxDeps, tenant_id: UUID, raw: str | None) -> Sealed:
    """(ciphertext, blind index) of a name; (None, None) clears it."""
    if raw is None:
        return (None, None)
    return contact_keys.seal_name(deps.cipher, deps.indexer, tenant_id, clean_name(raw))


def seal_email(deps: InboxDeps, tenant_id: UUID, raw: str | None) -> Sealed:
    """(ciphertext, blind index) of an e-mail address; (None, None) clears it."""
    if raw is None:
        return (None, None)
    return contact_keys.seal_email(deps.cipher, deps.indexer, tenant_id, clean_email(raw))


def invalid(error: InvalidContact | InvalidAttribute) -> ProblemError:
    """422 for input that cannot be stored (the message never holds the value)."""
    slug = "invalid-attribute" if isinstance(error, InvalidAttribute) else "invalid-contact"
    return ProblemError(422, "The contact is not valid", slug=slug, detail=str(error))


def _text(deps: InboxDeps, tenant_id: UUID, sealed: bytes | None, field: str) -> str | None:
    if sealed is None:
        return None
    return deps.cipher.decrypt_text(sealed, tenant_id=tenant_id, field=field)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def contact_json(
    deps: InboxDeps, tenant_id: UUID, row: ContactRow, schema: Schema
) -> dict[str, Any]:
    """A contact as the API shows it (decrypted for the caller's tenant)."""
    stored = contact_attributes.unseal(deps.cipher, tenant_id, row.attributes_enc)
    return {
        "id": str(row.id),
        "phone": _text(deps, tenant_id, row.phone_enc, contact_keys.PHONE_FIELD),
        "name": _text(deps, tenant_id, row.name_enc, contact_keys.NAME_FIELD),
        "email": _text(deps, tenant_id, row.email_enc, contact_keys.EMAIL_FIELD),
        "tags": row.tags,
        "attributes": contact_attributes.visible(stored, schema),
        "consent": {
            "marketing": marketing_state(row.marketing_opt_in, row.marketing_opt_out),
            "processing_restricted": row.processing_restricted,
            "updated_at": _time(row.consent_updated_at),
        },
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "deleted_at": _time(row.deleted_at),
    }


def contact_exists(contact_id: UUID | None) -> ProblemError:
    """409 naming the contact that already has the phone number."""
    return ProblemError(
        409,
        "A contact with this phone number exists",
        slug="contact-exists",
        contact_id=str(contact_id) if contact_id else None,
    )


async def create_contact(
    conn: Conn, deps: InboxDeps, tenant_id: UUID, fields: dict[str, Any], schema: Schema
) -> UUID:
    """Create a contact from validated request fields; 409 if its phone number is taken."""
    try:
        if fields.get("phone") is None:
            raise InvalidContact("phone is required")
        phone = seal_phone(deps, tenant_id, fields["phone"])
        name, email = (
            seal_name(deps, tenant_id, fields.get("name")),
            seal_email(deps, tenant_id, fields.get("email")),
        )
        tags = clean_tags(fields.get("tags") or [])
        values = contact_attributes.apply_changes({}, fields.get("attributes") or {}, schema)
    except (InvalidContact, InvalidAttribute) as error:
        raise invalid(error) from None
    marketing = fields.get("marketing")
    opt_in, opt_out = consent_flags(marketing or "unknown")
    new = NewContact(
        uuid4(), phone, name, email, contact_attributes.seal(deps.cipher, tenant_id, values),
        opt_in, opt_out, marketing is not None,
    )  # fmt: skip
    if not await repo.insert_contact(conn, tenant_id, new):
        raise contact_exists(await repo.contact_id_by_phone(conn, phone[1] or b""))
    await repo.add_tags(conn, tenant_id, [new.id] * len(tags), tags)
    return new.id


async def patch_contact(
    conn: Conn,
    deps: InboxDeps,
    tenant_id: UUID,
    current: ContactRow,
    fields: dict[str, Any],
    schema: Schema,
) -> list[str]:
    """Apply the fields a PATCH sent (null clears name/email); returns the changed field names."""
    try:
        phone = None
        if "phone" in fields:
            if fields["phone"] is None:
                raise InvalidContact("phone cannot be removed")
            phone = seal_phone(deps, tenant_id, fields["phone"])
        name = seal_name(deps, tenant_id, fields["name"]) if "name" in fields else None
        email = seal_email(deps, tenant_id, fields["email"]) if "email" in fields else None
        tags = clean_tags(fields["tags"] or []) if "tags" in fields else None
        attributes = None
        if fields.get("attributes") is not None:
            stored = contact_attributes.unseal(deps.cipher, tenant_id, current.attributes_enc)
            merged = contact_attributes.apply_changes(stored, fields["attributes"], schema)
            attributes = (contact_attributes.seal(deps.cipher, tenant_id, merged),)
    except (InvalidContact, InvalidAttribute) as error:
        raise invalid(error) from None
    if phone is not None:
        holder = await repo.contact_id_by_phone(conn, phone[1] or b"")
        if holder is not None and holder != current.id:
            raise contact_exists(holder)
    marketing = fields.get("marketing")
    patch = ContactPatch(
        phone=phone, name=name, email=email, attributes_enc=attributes,
        consent=consent_flags(marketing) if marketing is not None else None,
    )  # fmt: skip
    try:
        updated = await repo.update_contact(conn, current.id, patch)
    except asyncpg.UniqueViolationError:
        raise contact_exists(None) from None  # taken by a concurrent writer meanwhile
    if not updated:
        raise ProblemError(404, "Contact not found")
    if tags is not None:
        await repo.replace_tags(conn, tenant_id, current.id, tags)
    return sorted(k for k in fields if k != "marketing" or marketing is not None)
