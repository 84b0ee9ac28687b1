"""`/api/v1/knowledge/entries` (FAQ) and `/api/v1/knowledge/documents`: CRUD, encrypted at rest.

Owners and admins write, every role reads. Every change bumps the tenant's knowledge version in
the same transaction (search indexes rebuild) and is audited with ids and counts only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from aiohttp import web

from chatflow.ai import repository as repo
from chatflow.ai.knowledge import (
    TEXT_FIELD,
    TITLE_FIELD,
    DocumentBody,
    EntryBody,
    chunk_text,
    open_entry,
    seal_entry,
)
from chatflow.ai.response_models import (
    KnowledgeDocumentDetailOut,
    KnowledgeDocumentOut,
    KnowledgeEntryOut,
)
from chatflow.ai.service import AI_SERVICE
from chatflow.ai.web import (
    ALL_ROLES,
    MANAGER_ROLES,
    audit,
    caller,
    make_cursor,
    page_limit,
    parse_cursor,
    path_id,
)
from majlis.crypto import FieldCipher
from majlis.http import Page, ProblemError, parse_json, responds
from majlis.http.auth import caller_transaction


def _entry_json(cipher: FieldCipher, tenant_id: UUID, row: Any) -> dict[str, Any]:
    content = open_entry(cipher, tenant_id, row["content_enc"])
    return {
        "id": str(row["id"]),
        "questions": content["questions"],
        "answer": content["answers"],
        "languages": list(row["languages"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _document_json(
    cipher: FieldCipher, tenant_id: UUID, row: Any, *, with_text: bool
) -> dict[str, Any]:
    body = {
        "id": str(row["id"]),
        "title": cipher.decrypt_text(row["title_enc"], tenant_id=tenant_id, field=TITLE_FIELD),
        "language": row["language"],
        "chunks": row["chunk_count"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    if with_text:
        body["text"] = cipher.decrypt_text(row["text_enc"], tenant_id=tenant_id, field=TEXT_FIELD)
    return body


@responds(KnowledgeEntryOut)
async def create_entry(request: web.Request) -> web.Response:
    """POST /api/v1/knowledge/entries (owner, admin)."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, EntryBody)
    ai, entry_id = request.app[AI_SERVICE], uuid4()
    sealed = seal_entry(ai.cipher, identity.tenant_id, body)
    languages = sorted(body.answer.by_language())
    async with caller_transaction(ai.pool, identity) as conn:
        row = await repo.insert_entry(conn, entry_id, sealed, languages)
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.entry.created", "knowledge_entry", entry_id,
                    details={"questions": len(body.questions), "languages": languages})  # fmt: skip
    response = web.json_response(_entry_json(ai.cipher, identity.tenant_id, row), status=201)
    response.headers["Location"] = f"/api/v1/knowledge/entries/{entry_id}"
    return response


@responds(Page[KnowledgeEntryOut])
async def list_entries(request: web.Request) -> web.Response:
    """GET /api/v1/knowledge/entries?limit=&after= (every role), newest first."""
    identity = await caller(request, ALL_ROLES)
    limit, after = page_limit(request), parse_cursor(request)
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        rows = await repo.page_entries(conn, after, limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return web.json_response({
        "items": [_entry_json(ai.cipher, identity.tenant_id, r) for r in rows],
        "next_cursor": make_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
    })  # fmt: skip


@responds(KnowledgeEntryOut)
async def get_entry(request: web.Request) -> web.Response:
    """GET /api/v1/knowledge/entries/{id} (every role)."""
    identity = await caller(request, ALL_ROLES)
    entry_id = path_id(request, "entry_id", "Entry")
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        row = await repo.get_entry(conn, entry_id)
    if row is None:
        raise ProblemError(404, "Entry not found")
    return web.json_response(_entry_json(ai.cipher, identity.tenant_id, row))


@responds(KnowledgeEntryOut)
async def update_entry(request: web.Request) -> web.Response:
    """PUT /api/v1/knowledge/entries/{id} (owner, admin): replace questions and answers."""
    identity = await caller(request, MANAGER_ROLES)
    entry_id = path_id(request, "entry_id", "Entry")
    body = await parse_json(request, EntryBody)
    ai = request.app[AI_SERVICE]
    sealed = seal_entry(ai.cipher, identity.tenant_id, body)
    languages = sorted(body.answer.by_language())
    async with caller_transaction(ai.pool, identity) as conn:
        row = await repo.update_entry(conn, entry_id, sealed, languages)
        if row is None:
            raise ProblemError(404, "Entry not found")
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.entry.updated", "knowledge_entry", entry_id,
                    details={"questions": len(body.questions), "languages": languages})  # fmt: skip
    return web.json_response(_entry_json(ai.cipher, identity.tenant_id, row))


async def delete_entry(request: web.Request) -> web.Response:
    """DELETE /api/v1/knowledge/entries/{id} (owner, admin)."""
    identity = await caller(request, MANAGER_ROLES)
    entry_id = path_id(request, "entry_id", "Entry")
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity) as conn:
        if not await repo.delete_entry(conn, entry_id):
            raise ProblemError(404, "Entry not found")
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.entry.deleted", "knowledge_entry", entry_id)
    return web.Response(status=204)


def _seal_document(ai: Any, tenant_id: UUID, body: DocumentBody) -> tuple[bytes, bytes, int]:
    title = ai.cipher.encrypt(body.title, tenant_id=tenant_id, field=TITLE_FIELD)
    text = ai.cipher.encrypt(body.text, tenant_id=tenant_id, field=TEXT_FIELD)
    return title, text, len(chunk_text(body.text))


@responds(KnowledgeDocumentOut)
async def create_document(request: web.Request) -> web.Response:
    """POST /api/v1/knowledge/documents (owner, admin)."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, DocumentBody)
    ai, document_id = request.app[AI_SERVICE], uuid4()
    title, text, chunks = _seal_document(ai, identity.tenant_id, body)
    async with caller_transaction(ai.pool, identity) as conn:
        row = await repo.insert_document(conn, document_id, title, text, body.language, chunks)
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.document.created", "knowledge_document",
                    document_id, details={"language": body.language, "chunks": chunks})  # fmt: skip
    payload = _document_json(ai.cipher, identity.tenant_id, row, with_text=False)
    response = web.json_response(payload, status=201)
    response.headers["Location"] = f"/api/v1/knowledge/documents/{document_id}"
    return response


@responds(Page[KnowledgeDocumentOut])
async def list_documents(request: web.Request) -> web.Response:
    """GET /api/v1/knowledge/documents?limit=&after= (every role): titles, not texts."""
    identity = await caller(request, ALL_ROLES)
    limit, after = page_limit(request), parse_cursor(request)
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        rows = await repo.page_documents(conn, after, limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return web.json_response({
        "items": [_document_json(ai.cipher, identity.tenant_id, r, with_text=False) for r in rows],
        "next_cursor": make_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
    })  # fmt: skip


@responds(KnowledgeDocumentDetailOut)
async def get_document(request: web.Request) -> web.Response:
    """GET /api/v1/knowledge/documents/{id} (every role), with its text."""
    identity = await caller(request, ALL_ROLES)
    document_id = path_id(request, "document_id", "Document")
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        row = await repo.get_document(conn, document_id)
    if row is None:
        raise ProblemError(404, "Document not found")
    return web.json_response(_document_json(ai.cipher, identity.tenant_id, row, with_text=True))


@responds(KnowledgeDocumentDetailOut)
async def update_document(request: web.Request) -> web.Response:
    """PUT /api/v1/knowledge/documents/{id} (owner, admin): replace title, language and text."""
    identity = await caller(request, MANAGER_ROLES)
    document_id = path_id(request, "document_id", "Document")
    body = await parse_json(request, DocumentBody)
    ai = request.app[AI_SERVICE]
    title, text, chunks = _seal_document(ai, identity.tenant_id, body)
    async with caller_transaction(ai.pool, identity) as conn:
        row = await repo.update_document(conn, document_id, title, text, body.language, chunks)
        if row is None:
            raise ProblemError(404, "Document not found")
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.document.updated", "knowledge_document",
                    document_id, details={"language": body.language, "chunks": chunks})  # fmt: skip
    return web.json_response(_document_json(ai.cipher, identity.tenant_id, row, with_text=True))


async def delete_document(request: web.Request) -> web.Response:
    """DELETE /api/v1/knowledge/documents/{id} (owner, admin)."""
    identity = await caller(request, MANAGER_ROLES)
    document_id = path_id(request, "document_id", "Document")
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity) as conn:
        if not await repo.delete_document(conn, document_id):
            raise ProblemError(404, "Document not found")
        await repo.bump_version(conn)
        await audit(conn, request, "knowledge.document.deleted", "knowledge_document",
                    document_id)  # fmt: skip
    return web.Response(status=204)


def add_knowledge_routes(app: web.Application) -> None:
    """Register the knowledge-base routes."""
    r = app.router
    r.add_post("/api/v1/knowledge/entries", create_entry)
    r.add_get("/api/v1/knowledge/entries", list_entries)
    r.add_get("/api/v1/knowledge/entries/{entry_id}", get_entry)
    r.add_put("/api/v1/knowledge/entries/{entry_id}", update_entry)
    r.add_delete("/api/v1/knowledge/entries/{entry_id}", delete_entry)
    r.add_post("/api/v1/knowledge/documents", create_document)
    r.add_get("/api/v1/knowledge/documents", list_documents)
    r.add_get("/api/v1/knowledge/documents/{document_id}", get_document)
    r.add_put("/api/v1/knowledge/documents/{document_id}", update_document)
    r.add_delete("/api/v1/knowledge/documents/{document_id}", delete_document)
