"""SQL of the knowledge base, its version stamp and the AI settings.

Plain async functions, connection first, one statement each, `$n` parameters. Every function
runs inside a tenant transaction: RLS keeps another tenant's rows invisible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row = asyncpg.Record
_ENTRY = "id, content_enc, languages, created_at, updated_at"
_DOCUMENT = "id, title_enc, text_enc, language, chunk_count, created_at, updated_at"
_SETTINGS = (
    "provider, model, api_key_enc, api_key_hint, min_confidence, timeout_seconds, updated_at"
)


async def bump_version(conn: Conn) -> None:
    """Mark the tenant's knowledge base changed (every replica rebuilds its index)."""
    await conn.execute(
        "INSERT INTO knowledge_versions (tenant_id) VALUES ((SELECT app.current_tenant_id()))"
        " ON CONFLICT (tenant_id) DO UPDATE SET version = knowledge_versions.version + 1"
    )


async def version(conn: Conn) -> int:
    """The tenant's knowledge-base version (0 before its first change)."""
    value = await conn.fetchval("SELECT version FROM knowledge_versions")
    return int(value or 0)


async def insert_entry(conn: Conn, entry_id: UUID, sealed: bytes, languages: Sequence[str]) -> Row:
    """A new FAQ entry."""
    row: Row | None = await conn.fetchrow(
        "INSERT INTO knowledge_entries (tenant_id, id, content_enc, languages)"  # noqa: S608
        f" VALUES ((SELECT app.current_tenant_id()), $1, $2, $3) RETURNING {_ENTRY}",
        entry_id, sealed, languages,
    )  # fmt: skip
    assert row is not None
    return row


async def update_entry(
    conn: Conn, entry_id: UUID, sealed: bytes, languages: Sequence[str]
) -> Row | None:
    """Replace an entry's content; None if it is not the tenant's."""
    return await conn.fetchrow(
        "UPDATE knowledge_entries SET content_enc = $2, languages = $3,"  # noqa: S608
        f" updated_at = now() WHERE id = $1 RETURNING {_ENTRY}",
        entry_id, sealed, languages,
    )  # fmt: skip


async def get_entry(conn: Conn, entry_id: UUID) -> Row | None:
    """One entry of the tenant."""
    sql = f"SELECT {_ENTRY} FROM knowledge_entries WHERE id = $1"  # noqa: S608  (constants)
    return await conn.fetchrow(sql, entry_id)


async def delete_entry(conn: Conn, entry_id: UUID) -> bool:
    """Delete an entry; False if it was not there."""
    gone = await conn.fetchval("DELETE FROM knowledge_entries WHERE id = $1 RETURNING 1", entry_id)
    return gone is not None


async def page_entries(conn: Conn, after: tuple[datetime, UUID] | None, limit: int) -> list[Row]:
    """Entries, newest first, keyset after (created_at, id)."""
    return await conn.fetch(
        f"SELECT {_ENTRY} FROM knowledge_entries"  # noqa: S608  (a constant column list)
        " WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $3",
        after[0] if after else None, after[1] if after else None, limit,
    )  # fmt: skip


async def all_entries(conn: Conn) -> list[Row]:
    """Every entry of the tenant (to build the search index)."""
    return await conn.fetch("SELECT id, content_enc FROM knowledge_entries")


async def insert_document(
    conn: Conn, document_id: UUID, title: bytes, text: bytes, language: str, chunks: int
) -> Row:
    """A new document."""
    row: Row | None = await conn.fetchrow(
        "INSERT INTO knowledge_documents (tenant_id, id, title_enc, text_enc, language,"  # noqa: S608
        " chunk_count) VALUES ((SELECT app.current_tenant_id()), $1, $2, $3, $4, $5)"
        f" RETURNING {_DOCUMENT}",
        document_id, title, text, language, chunks,
    )  # fmt: skip
    assert row is not None
    return row


async def update_document(
    conn: Conn, document_id: UUID, title: bytes, text: bytes, language: str, chunks: int
) -> Row | None:
    """Replace a document; None if it is not the tenant's."""
    return await conn.fetchrow(
        "UPDATE knowledge_documents SET title_enc = $2, text_enc = $3, language = $4,"  # noqa: S608
        f" chunk_count = $5, updated_at = now() WHERE id = $1 RETURNING {_DOCUMENT}",
        document_id, title, text, language, chunks,
    )  # fmt: skip


async def get_document(conn: Conn, document_id: UUID) -> Row | None:
    """One document of the tenant."""
    sql = f"SELECT {_DOCUMENT} FROM knowledge_documents WHERE id = $1"  # noqa: S608
    return await conn.fetchrow(sql, document_id)


async def entries_by_ids(conn: Conn, ids: Sequence[UUID]) -> list[Row]:
    """The tenant's entries among `ids` (their sealed content)."""
    return await conn.fetch(
        "SELECT id, content_enc FROM knowledge_entries WHERE id = ANY($1::uuid[])", list(ids)
    )


async def document_titles(conn: Conn, ids: Sequence[UUID]) -> list[Row]:
    """The tenant's documents among `ids` (their sealed titles, not their texts)."""
    return await conn.fetch(
        "SELECT id, title_enc FROM knowledge_documents WHERE id = ANY($1::uuid[])", list(ids)
    )


async def delete_document(conn: Conn, document_id: UUID) -> bool:
    """Delete a document; False if it was not there."""
    gone = await conn.fetchval(
        "DELETE FROM knowledge_documents WHERE id = $1 RETURNING 1", document_id
    )
    return gone is not None


async def page_documents(conn: Conn, after: tuple[datetime, UUID] | None, limit: int) -> list[Row]:
    """Documents, newest first, keyset after (created_at, id)."""
    return await conn.fetch(
        f"SELECT {_DOCUMENT} FROM knowledge_documents"  # noqa: S608  (constant columns)
        " WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $3",
        after[0] if after else None, after[1] if after else None, limit,
    )  # fmt: skip


async def all_documents(conn: Conn) -> list[Row]:
    """Every document of the tenant (to build the search index)."""
    return await conn.fetch("SELECT id, title_enc, text_enc, language FROM knowledge_documents")


async def get_settings(conn: Conn) -> Row | None:
    """The tenant's AI settings (None: the built-in answerer with defaults)."""
    sql = f"SELECT {_SETTINGS} FROM ai_settings"  # noqa: S608  (a constant column list)
    return await conn.fetchrow(sql)


async def upsert_settings(
    conn: Conn,
    provider: str,
    model: str | None,
    key: tuple[bytes, str] | None,
    clear_key: bool,
    min_confidence: float,
    timeout_seconds: float,
) -> Row:
    """Write the settings; the key is replaced only when given (or removed when asked)."""
    row: Row | None = await conn.fetchrow(
        "INSERT INTO ai_settings (tenant_id, id, provider, model, api_key_enc, api_key_hint,"  # noqa: S608
        " min_confidence, timeout_seconds) VALUES ((SELECT app.current_tenant_id()),"
        " gen_random_uuid(), $1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET"
        " provider = $1, model = $2,"
        " api_key_enc = CASE WHEN $7 THEN NULL ELSE COALESCE($3, ai_settings.api_key_enc) END,"
        " api_key_hint = CASE WHEN $7 THEN NULL ELSE COALESCE($4, ai_settings.api_key_hint) END,"
        f" min_confidence = $5, timeout_seconds = $6, updated_at = now() RETURNING {_SETTINGS}",
        provider, model, key[0] if key else None, key[1] if key else None,
        min_confidence, timeout_seconds, clear_key,
    )  # fmt: skip
    assert row is not None
    return row
