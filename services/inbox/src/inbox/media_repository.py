"""SQL of inbound media: one statement per function, inside tenant_transaction() (RLS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from inbox.content import MediaRef
from inbox.repository import Conn


@dataclass(frozen=True, slots=True)
class MediaJob:
    """A media file still to download, with what the download needs."""

    id: UUID
    message_id: UUID
    conversation_id: UUID
    meta_media_id: str
    mime_type: str
    access_token_enc: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A media row as the download endpoint needs it."""

    status: str
    mime_type: str
    content_enc: bytes | None = field(repr=False)


async def insert_media(
    conn: Conn, tenant_id: UUID, media_id: UUID, message_id: UUID, number_id: UUID, ref: MediaRef
) -> None:
    """Record a message's media object (pending download) together with the message."""
    await conn.execute(
        "INSERT INTO media (tenant_id, id, message_id, number_id, meta_media_id, mime_type,"
        " sha256) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        tenant_id,
        media_id,
        message_id,
        number_id,
        ref.meta_media_id,
        ref.mime_type,
        ref.sha256,
    )


async def pending_media_for_wamid(conn: Conn, wamid: str) -> list[MediaJob]:
    """Media of the message with this wamid that is not downloaded yet."""
    rows = await conn.fetch(
        """
        SELECT md.id, md.message_id, m.conversation_id, md.meta_media_id, md.mime_type,
               n.access_token_enc
        FROM messages AS m
        JOIN media AS md ON md.tenant_id = m.tenant_id AND md.message_id = m.id
        JOIN whatsapp_numbers AS n ON n.tenant_id = md.tenant_id AND n.id = md.number_id
        WHERE m.wamid = $1 AND md.status = 'pending'
        """,
        wamid,
    )
    return [
        MediaJob(
            r["id"],
            r["message_id"],
            r["conversation_id"],
            r["meta_media_id"],
            r["mime_type"],
            r["access_token_enc"],
        )
        for r in rows
    ]


async def store_media_content(
    conn: Conn, media_id: UUID, content_enc: bytes, size: int, mime_type: str
) -> bool:
    """Keep the encrypted file; False if it was stored (or given up on) meanwhile."""
    stored = await conn.fetchval(
        "UPDATE media SET content_enc = $2, file_size = $3, mime_type = $4, status = 'stored',"
        " failure = NULL, fetched_at = now(), updated_at = now()"
        " WHERE id = $1 AND status = 'pending' RETURNING id",
        media_id,
        content_enc,
        size,
        mime_type,
    )
    return stored is not None


async def mark_media_failed(conn: Conn, media_id: UUID, failure: str) -> None:
    """Give up on a download for a reason retrying cannot fix (a short code of ours)."""
    await conn.execute(
        "UPDATE media SET status = 'failed', failure = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending'",
        media_id,
        failure[:64],
    )


async def media_for_download(conn: Conn, media_id: UUID) -> StoredMedia | None:
    """A media row of the transaction's tenant (None for another tenant's id)."""
    row = await conn.fetchrow(
        "SELECT status, mime_type, content_enc FROM media WHERE id = $1", media_id
    )
    if row is None:
        return None
    return StoredMedia(row["status"], row["mime_type"], row["content_enc"])


@dataclass(frozen=True, slots=True)
class UploadNumber:
    """A number of the tenant, as an upload to Meta needs it."""

    phone_number_id: str
    status: str
    access_token_enc: bytes = field(repr=False)


async def number_for_upload(conn: Conn, number_id: UUID) -> UploadNumber | None:
    """The tenant's number with this id (None for another tenant's or an unknown id)."""
    row = await conn.fetchrow(
        "SELECT phone_number_id, status, access_token_enc FROM whatsapp_numbers WHERE id = $1",
        number_id,
    )
    if row is None:
        return None
    return UploadNumber(row["phone_number_id"], row["status"], row["access_token_enc"])


async def insert_upload(
    conn: Conn,
    tenant_id: UUID,
    media_id: UUID,
    number_id: UUID,
    meta_media_id: str,
    mime_type: str,
    sha256: str,
    content_enc: bytes,
    size: int,
) -> None:
    """Keep an uploaded file (encrypted) until replies send it; it has no message yet."""
    await conn.execute(
        "INSERT INTO media (tenant_id, id, message_id, number_id, meta_media_id, mime_type,"
        " sha256, file_size, content_enc, status, origin, fetched_at)"
        " VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, 'stored', 'upload', now())",
        tenant_id, media_id, number_id, meta_media_id, mime_type, sha256, size, content_enc,
    )  # fmt: skip


async def attach_upload(
    conn: Conn, message_id: UUID, number_id: UUID, meta_media_id: str
) -> bool | None:
    """Tie a copy of the upload with this Meta id to an outbound message.

    True when attached; False when the id was uploaded for another number of the tenant;
    None when the tenant never uploaded it here (a client that uploaded to Meta itself).
    """
    rows = await conn.fetch(
        "SELECT number_id FROM media WHERE origin = 'upload' AND meta_media_id = $1",
        meta_media_id,
    )
    if not rows:
        return None
    if all(r["number_id"] != number_id for r in rows):
        return False
    await conn.execute(
        "INSERT INTO media (tenant_id, id, message_id, number_id, meta_media_id, mime_type,"
        " sha256, file_size, content_enc, status, origin, fetched_at)"
        " SELECT tenant_id, gen_random_uuid(), $1, number_id, meta_media_id, mime_type, sha256,"
        " file_size, content_enc, 'stored', 'outbound', fetched_at FROM media"
        " WHERE origin = 'upload' AND number_id = $2 AND meta_media_id = $3"
        " ORDER BY created_at DESC LIMIT 1",
        message_id, number_id, meta_media_id,
    )  # fmt: skip
    return True
