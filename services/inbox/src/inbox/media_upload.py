"""`POST /api/v1/media`: an agent's file, checked, uploaded to Meta and kept for the view.

The request is `multipart/form-data` with `number_id` (the tenant's WhatsApp number the file
will be sent from; it must come before `file`) and `file`. The type is sniffed from the
file's first bytes (the part's Content-Type only tells container formats apart): anything
WhatsApp cannot send is 415; a file over Meta's limit for its type, or over the platform's
upload limit, is 413 (the read stops there). The file goes to Meta
(`POST /{phone-number-id}/media`) with the number's token, and is stored encrypted behind
RLS so the conversation view can show what was sent. A reply then sends it by Meta's id:
`{"type": "image", "media": {"id": "<meta_media_id>"}}`. The file's content and name are
never logged.
"""

from __future__ import annotations

import hashlib
from uuid import UUID, uuid4

from aiohttp import BodyPartReader, web

from inbox import media_repository
from inbox.deps import INBOX_DEPS
from inbox.media import CONTENT_FIELD, TOKEN_FIELD
from inbox.media_sniff import SNIFF_BYTES, Sniffed, sniff
from inbox.response_models import UploadedMediaOut
from inbox.web import AGENT_ROLES, audit, caller
from majlis.crypto import DecryptionError
from majlis.http import ProblemError, json_response, responds
from majlis.http.auth import caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL
from majlis.logging import get_logger
from majlis.meta import GraphApiError, GraphUnavailable

log = get_logger(__name__)

_CHUNK = 64 * 1024
_FIELD_BYTES = 64


def _unsupported() -> ProblemError:
    return ProblemError(
        415,
        "WhatsApp cannot send this kind of file",
        slug="unsupported-media-type",
        detail="Send a JPEG or PNG image, a WebP sticker, AAC/AMR/MP3/M4A/OGG audio,"
        " MP4/3GP video, or a PDF, Office or plain-text document.",
    )


def _too_large(limit: int, mime_type: str | None) -> ProblemError:
    return ProblemError(
        413,
        "The file is too large",
        slug="media-too-large",
        detail=f"At most {limit} bytes" + (f" for {mime_type}." if mime_type else "."),
        limit_bytes=limit,
    )


async def _read_field(part: BodyPartReader) -> str:
    raw = await part.read_chunk(_FIELD_BYTES + 1)
    if len(raw) > _FIELD_BYTES or await part.read_chunk(1):
        raise ProblemError(422, f"The field {part.name} is too long", slug="invalid-field")
    return raw.decode("utf-8", errors="replace").strip()


async def _read_file(part: BodyPartReader, platform_limit: int) -> tuple[bytes, Sniffed]:
    """The whole file, its type sniffed from the head before the rest is read."""
    chunks: list[bytes] = []
    size = 0
    kind: Sniffed | None = None
    declared = part.headers.get("Content-Type", "")
    while chunk := await part.read_chunk(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if kind is None and size >= SNIFF_BYTES:
            kind = sniff(b"".join(chunks)[:SNIFF_BYTES], declared)
            if kind is None:
                raise _unsupported()
        limit = min(platform_limit, kind.limit) if kind is not None else platform_limit
        if size > limit:
            raise _too_large(limit, kind.mime_type if kind is not None else None)
    data = b"".join(chunks)
    if kind is None:
        kind = sniff(data, declared, complete=True)
        if kind is None or not data:
            raise _unsupported()
        if size > min(platform_limit, kind.limit):
            raise _too_large(min(platform_limit, kind.limit), kind.mime_type)
    return data, kind


async def _form(request: web.Request) -> tuple[UUID, bytes, Sniffed]:
    if request.content_type != "multipart/form-data":
        raise ProblemError(415, "Request body must be multipart/form-data")
    platform_limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > platform_limit + _CHUNK:
        raise _too_large(platform_limit, None)
    reader = await request.multipart()
    number_id: UUID | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ProblemError(422, "Nested multipart bodies are not supported")
        if part.name == "number_id":
            try:
                number_id = UUID(await _read_field(part))
            except ValueError:
                raise ProblemError(422, "number_id must be a UUID", slug="invalid-field") from None
        elif part.name == "file":
            if number_id is None:
                raise ProblemError(
                    422, "Send number_id before file", slug="invalid-field",
                    detail="The form's number_id field must precede its file field.",
                )  # fmt: skip
            data, kind = await _read_file(part, platform_limit)
            return number_id, data, kind
        else:
            raise ProblemError(
                422, f"Unknown field {(part.name or '')[:40]!r}", slug="unknown-field"
            )
    raise ProblemError(422, "The form has no file", slug="invalid-field")


@responds(UploadedMediaOut)
async def post_media(request: web.Request) -> web.Response:
    """`POST /api/v1/media`: upload a file to send from one of the tenant's numbers."""
    identity = await caller(request, AGENT_ROLES)
    deps = request.app[INBOX_DEPS]
    number_id, data, kind = await _form(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        number = await media_repository.number_for_upload(conn, number_id)
    if number is None:
        raise ProblemError(404, "Number not found")
    if number.status != "active":
        raise ProblemError(409, "This number is not active", slug="number-not-active")
    try:
        token = deps.cipher.decrypt_text(
            number.access_token_enc, tenant_id=identity.tenant_id, field=TOKEN_FIELD
        )
    except DecryptionError:
        raise ProblemError(
            422, "The number's access token cannot be used", slug="token-unusable"
        ) from None
    async with deps.media_slots:
        try:
            meta_media_id = await deps.graph.upload_media(
                number.phone_number_id, token, data, kind.mime_type
            )
        except GraphUnavailable:
            raise ProblemError(
                503, "Meta could not be reached", slug="graph-unavailable",
                headers={"Retry-After": "10"},
            ) from None  # fmt: skip
        except GraphApiError as error:
            log.info("inbox.media_upload_refused", code=error.code)
            if error.is_retryable:
                raise ProblemError(
                    503, "Meta is busy; try again", slug="graph-unavailable",
                    headers={"Retry-After": "10"},
                ) from None  # fmt: skip
            raise ProblemError(
                422, "Meta refused the file", slug="media-refused", meta_code=error.code
            ) from None
        sealed = deps.cipher.encrypt(data, tenant_id=identity.tenant_id, field=CONTENT_FIELD)
    media_id = uuid4()
    digest = hashlib.sha256(data).hexdigest()
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await media_repository.insert_upload(
            conn, identity.tenant_id, media_id, number_id, meta_media_id, kind.mime_type,
            digest, sealed, len(data),
        )  # fmt: skip
        await audit(
            conn, request, "media.uploaded", target_type="media", target_id=media_id,
            details={"number_id": str(number_id), "mime_type": kind.mime_type,
                     "size": len(data)},
        )  # fmt: skip
    log.info("inbox.media_uploaded", media_id=str(media_id), body_bytes=len(data))
    return json_response(
        {
            "id": str(media_id),
            "meta_media_id": meta_media_id,
            "number_id": str(number_id),
            "mime_type": kind.mime_type,
            "message_type": kind.message_type,
            "file_size": len(data),
            "sha256": digest,
        },
        status=201,
    )
