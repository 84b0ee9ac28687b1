"""Resolving a campaign's audience into recipients: who is reached, who is skipped and why.

The same resolution serves the preview (counts only) and the snapshot at start (rows). The
contacts are the inbox's (read here under RLS, decrypted with the same field names); a CSV
row whose phone number is not a contact yet is allowed and reaches that number.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import orjson

from broadcast import campaigns_repository as repo
from broadcast.campaigns import Audience, MissingValue, ParameterMapping, render
from majlis.crypto import BlindIndexer, DecryptionError, FieldCipher, normalise_phone
from majlis.crypto.blind_index import InvalidPhoneNumber
from majlis.http import ProblemError

CONTACT_PHONE = "contacts.phone"
CONTACT_NAME = "contacts.name"
CONTACT_EMAIL = "contacts.email"
CONTACT_ATTRIBUTES = "contacts.attributes"
CSV_MAX_BYTES = 10 * 1024 * 1024
CSV_MAX_ROWS = 100_000

SKIP_TITLES = {
    "deleted": "The contact was deleted",
    "restricted": "The contact asked to restrict processing",
    "opted-out": "The contact opted out of marketing",
    "no-consent": "The contact has not opted in to marketing",
    "no-phone": "The contact has no phone number",
    "invalid-phone": "Not a valid phone number",
    "duplicate": "The phone number is already in the audience",
    "missing-parameter": "A template variable has no value and no fallback",
    "unknown-contact": "No such contact",
    "campaign-cancelled": "The campaign was cancelled before this message was sent",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One member of the audience before the checks: a contact, a CSV row, or both."""

    phone: str | None
    contact: Any = None
    csv_fields: Mapping[str, Any] = field(default_factory=dict)
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    """One resolved recipient: reachable (components set) or skipped with a reason."""

    id: UUID
    seq: int
    phone: str | None
    contact_id: UUID | None
    components: list[dict[str, Any]] | None
    reason: str | None


@dataclass
class Resolution:
    """The recipients in order, and the skip reasons counted."""

    recipients: list[Recipient] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def reachable(self) -> int:
        """Recipients that will be sent the message."""
        return len(self.recipients) - sum(self.skipped.values())


def parse_csv(raw: bytes) -> list[dict[str, Any]]:
    """CSV rows (a `phone` column, optional `name`, `email`, others as attributes), unchecked."""
    if len(raw) > CSV_MAX_BYTES:
        raise ProblemError(413, "The file is larger than 10 MB", slug="csv-too-large")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemError(422, "The file is not UTF-8", slug="csv-not-utf8") from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if "phone" not in header:
        raise ProblemError(422, "The file needs a phone column", slug="csv-no-phone")
    rows: list[dict[str, Any]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= CSV_MAX_ROWS:
                raise ProblemError(413, "More than 100,000 rows", slug="csv-too-large")
            values = {k: c.strip().removeprefix("'") for k, c in zip(header, cells, strict=False)}
            rows.append(
                {
                    "phone": values.pop("phone", ""),
                    "name": values.pop("name", "") or None,
                    "email": values.pop("email", "") or None,
                    "attributes": {k: v for k, v in values.items() if k and v},
                }
            )
    except csv.Error:
        raise ProblemError(422, "The file is not valid CSV", slug="csv-invalid") from None
    return rows


class AudienceResolver:
    """Reads an audience's contacts and checks each member, for one tenant."""

    def __init__(
        self, cipher: FieldCipher, indexer: BlindIndexer, tenant_id: UUID, region: str
    ) -> None:
        """Decrypt and index for `tenant_id`; national phone forms are read in `region`."""
        self._cipher, self._indexer = cipher, indexer
        self._tenant_id, self._region = tenant_id, region

    def _open(self, sealed: bytes | None, field_name: str) -> str | None:
        if sealed is None:
            return None
        try:
            return self._cipher.decrypt_text(sealed, tenant_id=self._tenant_id, field=field_name)
        except DecryptionError:
            return None

    def _fields(self, contact: Any) -> dict[str, Any]:
        if contact is None:
            return {}
        attributes = self._open(contact["attributes_enc"], CONTACT_ATTRIBUTES)
        return {
            "name": self._open(contact["name_enc"], CONTACT_NAME),
            "email": self._open(contact["email_enc"], CONTACT_EMAIL),
            "attributes": orjson.loads(attributes) if attributes else {},
        }

    async def candidates(
        self, conn: repo.Conn, audience: Audience, csv_rows: list[dict[str, Any]]
    ) -> list[Candidate]:
        """The members of the audience in a stable order (before consent and phone checks)."""
        if audience.source == "csv":
            return await self._csv_candidates(conn, csv_rows)
        if audience.source == "contact_ids":
            rows = await repo.contacts_by_ids(conn, audience.contact_ids)
            found = {row["id"]: row for row in rows}
            ordered = dict.fromkeys(audience.contact_ids)
            return [
                self._contact_candidate(found[cid])
                if cid in found
                else Candidate(None, unknown=True)
                for cid in ordered
            ]
        rows = await repo.contacts_by_tags(conn, audience.tags, audience.tags_match == "all")
        members = [self._contact_candidate(row) for row in rows]
        if audience.attributes:
            members = [m for m in members if _matches(self._fields(m.contact), audience.attributes)]
        return members

    def _contact_candidate(self, row: Any) -> Candidate:
        return Candidate(self._open(row["phone_enc"], CONTACT_PHONE), contact=row)

    async def _csv_candidates(self, conn: repo.Conn, rows: list[dict[str, Any]]) -> list[Candidate]:
        phones: list[str | None] = []
        for row in rows:
            try:
                phones.append(normalise_phone(str(row.get("phone") or ""), self._region))
            except InvalidPhoneNumber:
                phones.append(None)
        keys = {
            self._indexer.value(p, tenant_id=self._tenant_id, field=CONTACT_PHONE): p
            for p in phones
            if p is not None
        }
        contacts = await repo.contacts_by_phone_keys(conn, list(keys))
        by_phone = {keys[bytes(c["phone_bidx"])]: c for c in contacts}
        return [
            Candidate(phone or "", contact=by_phone.get(phone or ""), csv_fields=row)
            for phone, row in zip(phones, rows, strict=True)
        ]

    def resolve(
        self, candidates: Iterable[Candidate], audience: Audience, mapping: ParameterMapping
    ) -> Resolution:
        """Every candidate as a recipient, each either reachable or skipped with its reason."""
        result = Resolution()
        seen: set[str] = set()
        for seq, member in enumerate(candidates, start=1):
            reason, components = self._check(member, audience, mapping, seen)
            contact_id = member.contact["id"] if member.contact is not None else None
            phone = member.phone or None
            result.recipients.append(Recipient(uuid4(), seq, phone, contact_id, components, reason))
            if reason is not None:
                result.skipped[reason] += 1
        return result

    def _check(
        self,
        member: Candidate,
        audience: Audience,
        mapping: ParameterMapping,
        seen: set[str],
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
        contact = member.contact
        if member.unknown:
            return "unknown-contact", None
        if contact is not None and contact["deleted_at"] is not None:
            return "deleted", None
        if contact is not None and contact["processing_restricted"]:
            return "restricted", None
        if contact is not None and contact["marketing_opt_out"]:
            return "opted-out", None
        if audience.only_opted_in and (contact is None or not contact["marketing_opt_in"]):
            return "no-consent", None
        if member.phone is None:
            return "no-phone", None
        if member.phone == "":
            return "invalid-phone", None
        if member.phone in seen:
            return "duplicate", None
        seen.add(member.phone)
        fields = self._fields(contact)
        for key, value in member.csv_fields.items():
            if key == "attributes":
                fields["attributes"] = {**fields.get("attributes", {}), **value}
            elif value:
                fields[key] = value
        fields["phone"] = member.phone
        try:
            return None, render(mapping, fields)
        except MissingValue:
            return "missing-parameter", None


def _matches(fields: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Attribute equality; numbers compare as numbers, texts case-insensitively."""
    have = fields.get("attributes") or {}
    for key, value in wanted.items():
        actual = have.get(key)
        if isinstance(value, str) and isinstance(actual, str):
            if actual.casefold() != value.casefold():
                return False
        elif actual != value:
            return False
    return True
