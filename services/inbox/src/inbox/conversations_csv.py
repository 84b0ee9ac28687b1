"""CSV export of conversations, one row per conversation, streamed.

`GET /api/v1/conversations/export.csv` (owners and admins): the conversations the list's
filters select (`status` defaults to open, as in the list; `all` for every one), newest
activity first, with the contact decrypted, and the number, assignee, team and labels by name
for a spreadsheet. It reads in keyset pages, each in a short read-only transaction (a slow
client never holds a connection), so a large inbox streams in constant memory. The export is
audited (conversations.exported, with the row count and whether it completed); cells a
spreadsheet would run as a formula are neutralised (majlis.http.csv_files).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web
from multidict import MultiDict

from inbox import conversations_repository as repo
from inbox.conversation_list import (
    LIST_PARAMS,
    ListFilter,
    encode_cursor,
    item_json,
    list_filter,
    only_params,
)
from inbox.deps import INBOX_DEPS
from inbox.web import MANAGER_ROLES, audit, caller
from majlis.http import responds_file
from majlis.http.auth import Identity, caller_transaction
from majlis.http.csv_files import BOM, csv_bytes, csv_download

PAGE_ROWS = 500
# The list's filters; the export pages by itself.
EXPORT_PARAMS = LIST_PARAMS - {"limit", "cursor"}
HEADER = [
    "id", "status", "contact_name", "contact_phone", "number", "assignee", "team", "labels",
    "bot_answers", "unread", "created_at", "last_message_at", "last_customer_message_at",
    "window_closes_at", "snoozed_until",
]  # fmt: skip


async def _names(conn: Any) -> dict[str, dict[UUID, str]]:
    """The tenant's numbers, people, teams and labels by id (small tables, read once)."""
    return {
        "number": {r["id"]: r["display_number"] for r in await conn.fetch(
            "SELECT id, display_number FROM whatsapp_numbers")},
        "user": {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM users")},
        "team": {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM teams")},
        "label": {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM labels")},
    }  # fmt: skip


def _stamp(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _row(item: dict[str, Any], names: dict[str, dict[UUID, str]]) -> list[str]:
    def named(kind: str, value: str | None) -> str:
        return names[kind].get(UUID(value), value) if value else ""

    return [
        item["id"],
        item["status"],
        item["contact"]["name"] or "",
        item["contact"]["phone"] or "",
        named("number", item["number_id"]),
        named("user", item["assigned_user_id"]),
        named("team", item["team_id"]),
        ";".join(named("label", label) for label in item["labels"]),
        "true" if item["controller"] == "bot" else "false",
        str(item["unread_count"]),
        _stamp(item["created_at"]),
        _stamp(item["last_message_at"]),
        _stamp(item["last_customer_message_at"]),
        _stamp(item["window_closes_at"]),
        _stamp(item["snoozed_until"]),
    ]


@responds_file("text/csv")
async def export_conversations(request: web.Request) -> web.StreamResponse:
    """`GET /api/v1/conversations/export.csv` (owner/admin): the filtered conversations."""
    identity = await caller(request, MANAGER_ROLES)
    deps = request.app[INBOX_DEPS]
    only_params(request.query, EXPORT_PARAMS)
    query: MultiDict[str] = MultiDict(request.query)

    def page_filter() -> ListFilter:
        flt, _ = list_filter(
            query, caller_id=identity.principal_id, tenant_id=identity.tenant_id,
            indexer=deps.indexer, region=deps.phone_region,
        )  # fmt: skip
        return flt

    page_filter()  # a bad filter is a 422 before any byte is sent
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        names = await _names(conn)
    response = await csv_download(request, "conversations.csv")
    exported, complete = 0, False
    try:
        await response.write(BOM + csv_bytes([HEADER]))
        while True:
            flt = page_filter()
            async with caller_transaction(deps.pool, identity, readonly=True) as conn:
                rows, _ = await repo.list_page(
                    conn, flt.where, flt.params, PAGE_ROWS, flt.after_dated
                )
            items = [item_json(r, deps.cipher, identity.tenant_id) for r in rows]
            await response.write(csv_bytes([_row(item, names) for item in items]))
            exported += len(items)
            if len(rows) < PAGE_ROWS:
                break
            query["cursor"] = encode_cursor(rows[-1]["last_message_at"], rows[-1]["id"])
        complete = True
    finally:
        await _audit_export(request, identity, exported, complete)
    await response.write_eof()
    return response


async def _audit_export(
    request: web.Request, identity: Identity, exported: int, complete: bool
) -> None:
    filters = {k: v for k, v in request.query.items() if k != "q"}  # a searched name: no
    async with caller_transaction(request.app[INBOX_DEPS].pool, identity) as conn:
        details = {"rows": exported, "complete": complete, "filters": filters}
        await audit(
            conn, request, "conversations.exported", target_type="conversation", details=details
        )


def add_routes(app: web.Application) -> None:
    """Mount the export (before the `{conversation_id}` routes)."""
    app.router.add_get("/api/v1/conversations/export.csv", export_conversations)
