"""CSV import and export of contacts, both streamed.

Import (`POST /api/v1/contacts/import`, text/csv, agents+): the body is read in chunks, never
whole, and applied in batches of BATCH_ROWS rows, one transaction each. Columns: phone
(required), name, email, tags (";" or "|" separated) and `attr:<key>`; UTF-8, BOM allowed.
A phone number already known (by blind index) updates that contact: name and e-mail are
overwritten when the cell is not empty, tags are added, attributes merged (the file wins).
A phone number seen earlier in the same file is an update too ("updated"): later rows win,
as in a spreadsheet. A soft-deleted contact is "skipped" (restore it first). Invalid rows are
reported by line number with a reason that never repeats the value, and are not stored.
Each batch emits one `inbox.contact.changed` (created or updated) per contact it wrote, through
the outbox in the batch's transaction, like every other contact write.
Past 10 MB or 50,000 rows the import stops with 413 (a broken line or bad UTF-8 mid-file:
422); the rows before it stay imported and the problem carries their counts (re-importing
the whole file is safe: every row dedupes by phone number).

Export (`GET /api/v1/contacts/export.csv`, owner/admin, audited with the row count): every
cell that starts with =, +, -, @, tab, CR or NUL is prefixed with a single quote so that a
spreadsheet never runs it as a formula (OWASP CSV injection). Phone numbers start with "+",
so they come out as '+971...: expected, and the reason the import strips a leading quote.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from aiohttp import web

from inbox import contact_attributes, contact_keys
from inbox import contacts_records_repository as records
from inbox import contacts_repository as repo
from inbox.contact_answers import ContactImportOut
from inbox.contact_attributes import InvalidAttribute, Schema
from inbox.contact_keys import seal_phone
from inbox.contacts import (
    MAX_TAGS,
    InvalidContact,
    clean_phone,
    clean_tags,
    marketing_state,
    seal_email,
    seal_name,
)
from inbox.contacts_records_repository import ImportedContact
from inbox.deps import INBOX_DEPS, InboxDeps
from inbox.web import AGENT_ROLES, MANAGER_ROLES, audit, caller
from majlis.events import make_envelope
from majlis.events.inbox import ContactChanged
from majlis.http import ProblemError, responds, responds_file
from majlis.http.auth import Identity, caller_transaction
from majlis.http.csv_files import BOM, csv_bytes, csv_download
from majlis.messaging import add_all_to_outbox

IMPORT_MAX_BYTES = 10 * 1024 * 1024
IMPORT_MAX_ROWS = 50_000
BATCH_ROWS = 500
RECORD_MAX_CHARS = 64 * 1024
_CHUNK = 64 * 1024
_COLUMNS = frozenset({"phone", "name", "email", "tags"})


async def _records(request: web.Request) -> AsyncIterator[tuple[int, list[str]]]:
    """(line number, cells) of each CSV record, read in chunks; 413 past the size limit."""
    if request.content_length is not None and request.content_length > IMPORT_MAX_BYTES:
        raise _too_large("The file is larger than 10 MB")
    decoder = codecs.getincrementaldecoder("utf-8-sig")()  # drops a leading BOM
    received, line_no, start, rest, record, quotes = 0, 0, 1, "", "", 0
    at_end = False
    chunks = request.content.iter_chunked(_CHUNK)
    while not at_end:
        chunk = await anext(chunks, None)
        at_end = chunk is None
        received += len(chunk or b"")
        if received > IMPORT_MAX_BYTES:
            raise _too_large("The file is larger than 10 MB")
        try:
            text = decoder.decode(chunk or b"", final=at_end)
        except UnicodeDecodeError:
            raise ProblemError(422, "The file is not UTF-8", slug="import-not-utf8") from None
        lines = (rest + text).split("\n")
        rest = "" if at_end else lines.pop()
        for line in lines:
            if at_end and not line:
                continue
            line_no += 1
            record += line + "\n"
            quotes += line.count('"')
            if len(record) > RECORD_MAX_CHARS:
                raise ProblemError(422, f"Line {start} is too long", slug="import-line-too-long")
            if quotes % 2:
                continue  # a quoted field goes on over the next line
            try:
                cells = next(csv.reader([record]), [])
            except csv.Error:
                cells = None
            yield start, cells if cells is not None else ["\0invalid"]
            record, quotes, start = "", 0, line_no + 1
    if record:
        yield start, ["\0invalid"]  # an unterminated quoted field


def _too_large(title: str) -> ProblemError:
    return ProblemError(413, title, slug="import-too-large",
                        detail="Imports are limited to 10 MB and 50,000 rows.")  # fmt: skip


@dataclass
class Row:
    """One parsed data row: its line and cleaned values (or the reason it is invalid)."""

    line: int
    phone: str = ""
    name: str | None = None
    email: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _header(cells: list[str], schema: Schema) -> list[str]:
    names = [c.strip().lower() for c in cells]
    for name in names:
        known = name in _COLUMNS or (name.startswith("attr:") and name[5:] in schema)
        if not known:
            raise ProblemError(422, "The header has an unknown column", slug="import-bad-header",
                               detail="Columns: phone, name, email, tags, attr:<key> of a"
                               " defined attribute.")  # fmt: skip
    if "phone" not in names or len(set(names)) != len(names):
        raise ProblemError(422, "The header needs one phone column and no repeated column",
                           slug="import-bad-header")  # fmt: skip
    return names


def _parse(line: int, names: list[str], cells: list[str], schema: Schema, region: str) -> Row:
    row = Row(line)
    if len(cells) != len(names):
        row.error = "wrong number of columns"
        return row
    values = {n: c.strip() for n, c in zip(names, cells, strict=True)}
    try:
        # A leading quote is how our export neutralises cells ('+9715...); read it back.
        row.phone = clean_phone(values["phone"].removeprefix("'"), region)
        row.name = values.get("name") or None
        row.email = values.get("email") or None
        raw_tags = values.get("tags", "").replace("|", ";")
        row.tags = clean_tags([t for t in raw_tags.split(";") if t.strip()])
        for name, value in values.items():
            if name.startswith("attr:") and value:
                row.attributes[name[5:]] = contact_attributes.parse_text(schema[name[5:]], value)
    except (InvalidContact, InvalidAttribute) as error:
        row.error = str(error)
    return row


@dataclass
class Summary:
    """The import's answer."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line: int, outcome: str, contact_id: UUID | None = None, error: str = "") -> None:
        """Record one row's outcome."""
        item: dict[str, Any] = {"row": line, "outcome": outcome}
        if contact_id is not None:
            item["contact_id"] = str(contact_id)
        if error:
            item["error"] = error
        self.rows.append(item)

    def counts(self) -> dict[str, int]:
        """How many rows had each outcome."""
        keys = ("created", "updated", "skipped", "invalid")
        return {k: sum(1 for r in self.rows if r["outcome"] == k) for k in keys}


async def _apply(
    deps: InboxDeps, identity: Identity, rows: list[Row], schema: Schema, summary: Summary
) -> None:
    """Write one batch of valid rows in one transaction."""
    tenant_id, cipher = identity.tenant_id, deps.cipher
    sealed = {r.line: seal_phone(cipher, deps.indexer, tenant_id, r.phone) for r in rows}
    async with caller_transaction(deps.pool, identity) as conn:
        known = await records.contacts_by_phone(conn, list({s[1] for s in sealed.values()}))
        touched: dict[bytes, ImportedContact] = {}
        outcomes: list[tuple[Row, str, ImportedContact | None, str]] = []
        for row in rows:
            bidx = sealed[row.line][1]
            match, contact = known.get(bidx), touched.get(bidx)
            if match is not None and match.is_deleted:
                outcomes.append((row, "skipped", None, "the contact is deleted"))
                continue
            if contact is None:
                contact = ImportedContact(match.id if match else uuid4())
                if match is None:
                    contact.phone = sealed[row.line]
                else:
                    contact.tags = list(match.tags)
                    contact.attributes = contact_attributes.unseal(
                        cipher, tenant_id, match.attributes_enc
                    )
            tags = list(dict.fromkeys([*(contact.tags or []), *row.tags]))
            if len(tags) > MAX_TAGS:
                outcomes.append((row, "invalid", None, f"a contact has at most {MAX_TAGS} tags"))
                continue
            try:
                name = seal_name(deps, tenant_id, row.name) if row.name else None
                email = seal_email(deps, tenant_id, row.email) if row.email else None
                attributes = contact_attributes.apply_changes(
                    contact.attributes or {}, row.attributes, schema
                )
            except (InvalidContact, InvalidAttribute) as error:
                outcomes.append((row, "invalid", None, str(error)))
                continue
            contact.name, contact.email = name or contact.name, email or contact.email
            contact.tags, contact.attributes = tags, attributes
            existed = match is not None or bidx in touched
            touched[bidx] = contact
            outcomes.append((row, "updated" if existed else "created", contact, ""))
        contacts = list(touched.values())
        for c in contacts:
            c.attributes_enc = contact_attributes.seal(cipher, tenant_id, c.attributes or {})
        created = await records.insert_imported(conn, tenant_id, [c for c in contacts if c.phone])
        updated = await records.update_imported(conn, [c for c in contacts if not c.phone])
        kept = [c for c in contacts if not c.phone or c.id in created]
        pairs = [(c.id, t) for c in kept for t in c.tags or []]
        await repo.add_tags(conn, tenant_id, [p[0] for p in pairs], [p[1] for p in pairs])
        await _emit_changes(conn, tenant_id, created, updated)
    for row, outcome, contact, reason in outcomes:
        if contact is not None and contact.phone and contact.id not in created:
            outcome, reason = "skipped", "the phone number was added meanwhile; import again"
        summary.add(row.line, outcome, contact.id if contact else None, reason)


async def _emit_changes(conn: Any, tenant_id: UUID, created: set[UUID], updated: set[UUID]) -> None:
    """One `inbox.contact.changed` per contact the batch wrote, committed with it (ids only,
    like every other contact write: subscribers read the data through the API)."""
    events = [ContactChanged(contact_id=i, change="created") for i in sorted(created)]
    events += [ContactChanged(contact_id=i, change="updated") for i in sorted(updated)]
    await add_all_to_outbox(conn, [make_envelope(e, tenant_id=tenant_id) for e in events])


@responds(ContactImportOut)
async def import_contacts(request: web.Request) -> web.Response:
    """`POST /api/v1/contacts/import` (agents+): a streamed CSV, applied in batches."""
    identity = await caller(request, AGENT_ROLES)
    if request.content_type != "text/csv":
        raise ProblemError(415, "Request body must be text/csv")
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        schema = await contact_attributes.load_schema(conn)
    summary, batch = Summary(), []
    names: list[str] | None = None
    data_rows = 0
    try:
        async for line, cells in _records(request):
            if names is None:
                names = _header(cells, schema)
                continue
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            data_rows += 1
            if data_rows > IMPORT_MAX_ROWS:
                raise _too_large("The file has more than 50,000 rows")
            row = _parse(line, names, cells, schema, deps.phone_region)
            if row.error:
                summary.add(line, "invalid", error=row.error)
                continue
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                await _apply(deps, identity, batch, schema, summary)
                batch = []
        if names is None:
            raise ProblemError(422, "The file has no header row", slug="import-bad-header")
    except ProblemError as error:
        if names is not None:  # what was read before the problem is imported, and said so
            if batch:
                await _apply(deps, identity, batch, schema, summary)
            error.extensions.update(summary.counts())
            await _audit_import(request, identity, summary, complete=False)
        raise
    if batch:
        await _apply(deps, identity, batch, schema, summary)
    await _audit_import(request, identity, summary, complete=True)
    return web.json_response({**summary.counts(), "rows": summary.rows})


async def _audit_import(
    request: web.Request, identity: Identity, summary: Summary, *, complete: bool
) -> None:
    async with caller_transaction(request.app[INBOX_DEPS].pool, identity) as conn:
        await audit(conn, request, "contacts.imported", target_type="contact",
                    details={**summary.counts(), "complete": complete})  # fmt: skip


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@responds_file("text/csv")
async def export_contacts(request: web.Request) -> web.StreamResponse:
    """`GET /api/v1/contacts/export.csv` (owner/admin): every live contact, streamed."""
    identity = await caller(request, MANAGER_ROLES)
    deps = request.app[INBOX_DEPS]
    tenant_id = identity.tenant_id
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        schema = await contact_attributes.load_schema(conn)
    keys = sorted(schema)
    response = await csv_download(request, "contacts.csv")
    header = ["id", "phone", "name", "email", "tags", "marketing", "processing_restricted",
              "created_at", *(f"attr:{k}" for k in keys)]  # fmt: skip
    exported, complete = 0, False
    try:
        await response.write(BOM + csv_bytes([header]))
        f = repo.ContactFilter(limit=BATCH_ROWS)
        while True:
            # A short transaction per page: a slow client never holds a connection.
            async with caller_transaction(deps.pool, identity, readonly=True) as conn:
                page = await repo.list_contacts(conn, f)
            rows = [_export_cells(deps, tenant_id, r, schema, keys) for r in page]
            await response.write(csv_bytes(rows))
            exported += len(page)
            if len(page) < BATCH_ROWS:
                break
            f = repo.ContactFilter(limit=BATCH_ROWS, after=(page[-1].created_at, page[-1].id))
        complete = True
    finally:
        async with caller_transaction(deps.pool, identity) as conn:
            await audit(conn, request, "contacts.exported", target_type="contact",
                        details={"rows": exported, "complete": complete})  # fmt: skip
    await response.write_eof()
    return response


def _export_cells(
    deps: InboxDeps, tenant_id: UUID, row: repo.ContactRow, schema: Schema, keys: list[str]
) -> list[str]:
    def text(sealed: bytes | None, name: str) -> str:
        if sealed is None:
            return ""
        return deps.cipher.decrypt_text(sealed, tenant_id=tenant_id, field=name)

    values = contact_attributes.visible(
        contact_attributes.unseal(deps.cipher, tenant_id, row.attributes_enc), schema
    )
    return [
        str(row.id),
        text(row.phone_enc, contact_keys.PHONE_FIELD),
        text(row.name_enc, contact_keys.NAME_FIELD),
        text(row.email_enc, contact_keys.EMAIL_FIELD),
        ";".join(row.tags),
        marketing_state(row.marketing_opt_in, row.marketing_opt_out),
        _cell(row.processing_restricted),
        row.created_at.isoformat(),
        *(_cell(values.get(k)) for k in keys),
    ]


def add_routes(app: web.Application) -> None:
    """Mount import and export (before the `{contact_id}` routes)."""
    app.router.add_post("/api/v1/contacts/import", import_contacts)
    app.router.add_get("/api/v1/contacts/export.csv", export_contacts)
