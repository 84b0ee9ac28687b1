"""SQL of contacts (CRM): rows, search, writes, tags, consent, deletion, attribute definitions.

Plain async functions, connection first, one statement each, `$n` parameters, run inside a
tenant transaction: row-level security scopes every statement to the transaction's tenant.
Optional filters and optional changes are flags in fixed SQL, never SQL built from values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from inbox.repository import Conn

# One optional change of an encrypted, indexed column: None leaves it alone, (None, None)
# clears it, (ciphertext, blind index) sets it.
Sealed = tuple[bytes | None, bytes | None]

_COLUMNS = """
  c.id, c.phone_enc, c.bsuid_enc, c.name_enc, c.email_enc, c.attributes_enc,
  c.marketing_opt_in, c.marketing_opt_out, c.consent_updated_at, c.processing_restricted,
  c.created_at, c.updated_at, c.deleted_at,
  coalesce((SELECT array_agg(t.tag ORDER BY t.tag) FROM contact_tags t
            WHERE t.tenant_id = c.tenant_id AND t.contact_id = c.id), '{}') AS tags
"""


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A contact as stored: ciphertexts, consent flags, times and tags."""

    id: UUID
    phone_enc: bytes | None = field(repr=False)
    bsuid_enc: bytes | None = field(repr=False)
    name_enc: bytes | None = field(repr=False)
    email_enc: bytes | None = field(repr=False)
    attributes_enc: bytes | None = field(repr=False)
    marketing_opt_in: bool
    marketing_opt_out: bool
    consent_updated_at: datetime | None
    processing_restricted: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    tags: list[str]


def _row(r: Any) -> ContactRow:
    return ContactRow(
        r["id"], r["phone_enc"], r["bsuid_enc"], r["name_enc"], r["email_enc"],
        r["attributes_enc"], r["marketing_opt_in"], r["marketing_opt_out"],
        r["consent_updated_at"], r["processing_restricted"], r["created_at"], r["updated_at"],
        r["deleted_at"], list(r["tags"]),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """Search of the list: blind indexes (equality only), a tag, deleted or live, a page."""

    phone_bidx: bytes | None = None
    email_bidx: bytes | None = None
    name_bidx: bytes | None = None
    tag: str | None = None
    deleted: bool = False
    retention: timedelta = timedelta(days=30)
    after: tuple[datetime, UUID] | None = None
    limit: int = 25


async def list_contacts(conn: Conn, f: ContactFilter) -> list[ContactRow]:
    """A page of contacts, newest first (keyset on created_at, id)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM contacts c"  # noqa: S608  (constant fragments only)
        """
        WHERE CASE WHEN $1 THEN c.deleted_at > now() - $2::interval ELSE c.deleted_at IS NULL END
          AND ($3::bytea IS NULL OR c.phone_bidx = $3)
          AND ($4::bytea IS NULL OR c.email_bidx = $4)
          AND ($5::bytea IS NULL OR c.name_bidx = $5)
          AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM contact_tags t
               WHERE t.tenant_id = c.tenant_id AND t.contact_id = c.id AND t.tag = $6))
          AND ($7::timestamptz IS NULL OR (c.created_at, c.id) < ($7, $8::uuid))
        ORDER BY c.created_at DESC, c.id DESC
        LIMIT $9
        """,
        f.deleted, f.retention, f.phone_bidx, f.email_bidx, f.name_bidx, f.tag,
        f.after[0] if f.after else None, f.after[1] if f.after else None, f.limit,
    )  # fmt: skip
    return [_row(r) for r in rows]


_GET = f"SELECT {_COLUMNS} FROM contacts c WHERE c.id = $1 AND ($2 OR c.deleted_at IS NULL)"  # noqa: S608  (constant fragments only)
_GET_FOR_UPDATE = _GET + " FOR UPDATE OF c"


async def get_contact(
    conn: Conn, contact_id: UUID, *, include_deleted: bool = False, for_update: bool = False
) -> ContactRow | None:
    """One contact (None for an unknown id, another tenant's, or a deleted one unless asked)."""
    row = await conn.fetchrow(
        _GET_FOR_UPDATE if for_update else _GET,
        contact_id,
        include_deleted,
    )
    return None if row is None else _row(row)


async def contact_id_by_phone(conn: Conn, phone_bidx: bytes) -> UUID | None:
    """The contact (live or soft-deleted) holding this phone blind index."""
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM contacts WHERE phone_bidx = $1", phone_bidx
    )
    return found


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact to create: sealed fields, encrypted attributes and consent flags."""

    id: UUID
    phone: Sealed
    name: Sealed = (None, None)
    email: Sealed = (None, None)
    attributes_enc: bytes | None = None
    opt_in: bool = False
    opt_out: bool = False
    has_consent: bool = False


async def insert_contact(conn: Conn, tenant_id: UUID, new: NewContact) -> bool:
    """Create a contact; False if its phone blind index is taken (live or soft-deleted)."""
    created = await conn.fetchval(
        """
        INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc, name_bidx,
                              email_enc, email_bidx, attributes_enc, marketing_opt_in,
                              marketing_opt_out, consent_updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $12 THEN now() END)
        ON CONFLICT DO NOTHING RETURNING id
        """,
        tenant_id, new.id, *new.phone, *new.name, *new.email, new.attributes_enc,
        new.opt_in, new.opt_out, new.has_consent,
    )  # fmt: skip
    return created is not None


@dataclass(frozen=True, slots=True)
class ContactPatch:
    """Changes to a contact; None leaves a field as it is."""

    phone: Sealed | None = None
    bsuid: Sealed | None = None
    name: Sealed | None = None
    email: Sealed | None = None
    attributes_enc: tuple[bytes | None] | None = None
    consent: tuple[bool, bool] | None = None  # (opt_in, opt_out)
    processing_restricted: bool | None = None


async def update_contact(conn: Conn, contact_id: UUID, p: ContactPatch) -> bool:
    """Apply a patch to a live contact; False if there is none with this id."""
    none: Sealed = (None, None)
    updated = await conn.fetchval(
        """
        UPDATE contacts SET
          phone_enc = CASE WHEN $2 THEN $3 ELSE phone_enc END,
          phone_bidx = CASE WHEN $2 THEN $4 ELSE phone_bidx END,
          bsuid_enc = CASE WHEN $5 THEN $6 ELSE bsuid_enc END,
          bsuid_bidx = CASE WHEN $5 THEN $7 ELSE bsuid_bidx END,
          name_enc = CASE WHEN $8 THEN $9 ELSE name_enc END,
          name_bidx = CASE WHEN $8 THEN $10 ELSE name_bidx END,
          email_enc = CASE WHEN $11 THEN $12 ELSE email_enc END,
          email_bidx = CASE WHEN $11 THEN $13 ELSE email_bidx END,
          attributes_enc = CASE WHEN $14 THEN $15 ELSE attributes_enc END,
          marketing_opt_in = CASE WHEN $16 THEN $17 ELSE marketing_opt_in END,
          marketing_opt_out = CASE WHEN $16 THEN $18 ELSE marketing_opt_out END,
          processing_restricted = coalesce($19, processing_restricted),
          consent_updated_at = CASE WHEN $16 OR $19::boolean IS NOT NULL THEN now()
                                    ELSE consent_updated_at END,
          updated_at = now()
        WHERE id = $1 AND deleted_at IS NULL
        RETURNING id
        """,
        contact_id,
        p.phone is not None, *(p.phone or none),
        p.bsuid is not None, *(p.bsuid or none),
        p.name is not None, *(p.name or none),
        p.email is not None, *(p.email or none),
        p.attributes_enc is not None, (p.attributes_enc or (None,))[0],
        p.consent is not None, *(p.consent or (False, False)),
        p.processing_restricted,
    )  # fmt: skip
    return updated is not None


async def replace_tags(conn: Conn, tenant_id: UUID, contact_id: UUID, tags: list[str]) -> None:
    """Make `tags` the contact's whole tag set."""
    await conn.execute(
        "DELETE FROM contact_tags WHERE contact_id = $1 AND tag <> ALL($2::text[])",
        contact_id,
        tags,
    )
    await add_tags(conn, tenant_id, [contact_id] * len(tags), tags)


async def add_tags(conn: Conn, tenant_id: UUID, contact_ids: list[UUID], tags: list[str]) -> None:
    """Add (contact id, tag) pairs; pairs already there are kept."""
    await conn.execute(
        "INSERT INTO contact_tags (tenant_id, contact_id, tag)"
        " SELECT $1, u.contact_id, u.tag FROM unnest($2::uuid[], $3::text[]) AS u(contact_id, tag)"
        " ON CONFLICT DO NOTHING",
        tenant_id,
        contact_ids,
        tags,
    )


async def soft_delete(conn: Conn, contact_id: UUID, user_id: UUID) -> bool:
    """Mark a live contact deleted; False if there is none."""
    done = await conn.fetchval(
        "UPDATE contacts SET deleted_at = now(), deleted_by = $2, updated_at = now()"
        " WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        contact_id,
        user_id,
    )
    return done is not None


async def restore(conn: Conn, contact_id: UUID, retention: timedelta) -> str:
    """Undo a soft delete within retention: "restored", "not_deleted", "expired" or "missing"."""
    outcome: str | None = await conn.fetchval(
        """
        WITH target AS (SELECT id, deleted_at FROM contacts WHERE id = $1 FOR UPDATE),
        restored AS (
          UPDATE contacts c SET deleted_at = NULL, deleted_by = NULL, updated_at = now()
          FROM target t WHERE c.id = t.id AND t.deleted_at > now() - $2::interval
          RETURNING c.id)
        SELECT CASE WHEN EXISTS (SELECT 1 FROM restored) THEN 'restored'
                    WHEN t.deleted_at IS NULL THEN 'not_deleted' ELSE 'expired' END
        FROM target t
        """,
        contact_id,
        retention,
    )
    return outcome or "missing"


@dataclass(frozen=True, slots=True)
class DeletedContact:
    """What a contact deleted for good leaves to its caller: its number's blind index."""

    phone_bidx: bytes | None


async def delete_contact(
    conn: Conn, contact_id: UUID, *, older_than: timedelta | None
) -> DeletedContact | None:
    """Delete a contact for good (rows cascade); with `older_than`, only if deleted that long.
    None if there was no such contact."""
    row = await conn.fetchrow(
        "DELETE FROM contacts WHERE id = $1"
        " AND ($2::interval IS NULL OR deleted_at < now() - $2::interval) RETURNING phone_bidx",
        contact_id,
        older_than,
    )
    return None if row is None else DeletedContact(row["phone_bidx"])


async def remember_erasure(conn: Conn, tenant_id: UUID, marker: bytes) -> None:
    """Note that the person with this number marker was erased now (erased_identities)."""
    await conn.execute(
        "INSERT INTO erased_identities (tenant_id, phone_marker) VALUES ($1, $2)"
        " ON CONFLICT (tenant_id, phone_marker) DO UPDATE SET erased_at = now()",
        tenant_id,
        marker,
    )


# Attribute definitions -------------------------------------------------------------------

AttributeType = Literal["text", "number", "boolean", "date", "list"]


@dataclass(frozen=True, slots=True)
class AttributeDefinition:
    """One custom attribute of the tenant's contacts."""

    key: str
    label: str
    type: AttributeType
    options: list[str] | None
    created_at: datetime


def _definition(r: Any) -> AttributeDefinition:
    options = list(r["options"]) if r["options"] is not None else None
    return AttributeDefinition(r["key"], r["label"], r["type"], options, r["created_at"])


async def list_definitions(conn: Conn) -> list[AttributeDefinition]:
    """The tenant's attribute schema, by key."""
    rows = await conn.fetch(
        "SELECT key, label, type, options, created_at FROM contact_attribute_definitions"
        " ORDER BY key"
    )
    return [_definition(r) for r in rows]


async def insert_definition(
    conn: Conn, tenant_id: UUID, key: str, label: str, kind: str, options: list[str] | None
) -> AttributeDefinition | None:
    """Add an attribute; None if the key exists."""
    row = await conn.fetchrow(
        "INSERT INTO contact_attribute_definitions (tenant_id, key, label, type, options)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        " RETURNING key, label, type, options, created_at",
        tenant_id,
        key,
        label,
        kind,
        options,
    )
    return None if row is None else _definition(row)


async def update_definition(
    conn: Conn, key: str, label: str | None, options: list[str] | None
) -> AttributeDefinition | None:
    """Change an attribute's label or (list type only) options; None if there is no such key."""
    row = await conn.fetchrow(
        "UPDATE contact_attribute_definitions SET label = coalesce($2, label),"
        " options = CASE WHEN type = 'list' THEN coalesce($3, options) ELSE options END"
        " WHERE key = $1 RETURNING key, label, type, options, created_at",
        key,
        label,
        options,
    )
    return None if row is None else _definition(row)


async def delete_definition(conn: Conn, key: str) -> bool:
    """Remove an attribute from the schema; False if there is no such key."""
    done = await conn.fetchval(
        "DELETE FROM contact_attribute_definitions WHERE key = $1 RETURNING key", key
    )
    return done is not None
