"""HTTP API of the inbox: the media download endpoint.

Authorisation: a valid access token (verified here with the public keys: zero trust behind
the gateway); its tenant selects the rows through row-level security, so another tenant's
media id is simply not found (404, the same answer as an unknown id).

The file is served so that no browser ever runs it: `nosniff`, a sandboxing CSP, and
`attachment` for everything but a short list of image/audio/video types.
"""

from __future__ import annotations

import re
from uuid import UUID

from aiohttp import web

from inbox import media_repository, media_upload
from inbox.deps import CIPHER
from inbox.media import CONTENT_FIELD
from majlis.http import ProblemError, responds_file
from majlis.http.auth import caller_transaction
from majlis.http.resources import AUTHENTICATOR, DB_POOL
from majlis.logging import get_logger

log = get_logger(__name__)

_INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mpeg", "audio/mp4",
     "audio/aac", "audio/amr", "video/mp4", "video/3gpp"}
)  # fmt: skip
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}$")


@responds_file("*/*")
async def get_media(request: web.Request) -> web.Response:
    """`GET /api/v1/media/{id}`: the decrypted file of a stored inbound media object.

    Its Content-Type is the file's own, as stored (application/octet-stream when that is not
    a valid media type); images, audio and video come inline, anything else as an attachment.
    """
    # Signature, claims and revocation (logout, password change) are all checked here.
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    try:
        media_id = UUID(request.match_info["media_id"])
    except ValueError:
        raise ProblemError(404, "Media not found") from None
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        media = await media_repository.media_for_download(conn, media_id)
    if media is None or media.status != "stored" or media.content_enc is None:
        raise ProblemError(404, "Media not found")
    content = request.app[CIPHER].decrypt(
        media.content_enc, tenant_id=identity.tenant_id, field=CONTENT_FIELD
    )
    essence = media.mime_type.split(";", 1)[0].strip().lower()
    content_type = essence if _MIME.fullmatch(essence) else "application/octet-stream"
    disposition = "inline" if content_type in _INLINE_TYPES else "attachment"
    log.info("inbox.media_served", media_id=str(media_id), body_bytes=len(content))
    return web.Response(
        body=content,
        content_type=content_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def add_routes(app: web.Application) -> None:
    """Mount the inbox's HTTP API."""
    app.router.add_get("/api/v1/media/{media_id}", get_media)
    app.router.add_post("/api/v1/media", media_upload.post_media)
