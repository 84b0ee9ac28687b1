"""Media endpoints: upload, look up (a signed short-lived URL), download with the token, delete."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from majlis.graphsim.context import authorize_number, bearer_token, simulator
from majlis.graphsim.errors import SimError, invalid, no_such_object
from majlis.graphsim.media import LARGEST, MAX_BYTES, MediaItem

_CHUNK = 64 * 1024


async def upload_media(request: web.Request) -> web.Response:
    """``POST /{version}/{phone_number_id}/media``: multipart upload, kept for the media TTL."""
    sim = simulator(request)
    number = authorize_number(request, request.match_info["node"], "post")
    if not request.content_type.startswith("multipart/"):
        raise invalid("The media upload must be multipart/form-data")
    fields: dict[str, str] = {}
    data: bytes | None = None
    file_type = ""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise invalid("Nested multipart bodies are not supported")
        if part.name == "file":
            file_type = part.headers.get("Content-Type", "")
            data = await _read_limited(part, LARGEST)
        elif part.name:
            fields[part.name] = (await part.read(decode=True)).decode(errors="replace")[:256]
    if fields.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be whatsapp")
    if data is None:
        raise invalid("The parameter file is required")
    mime_type = fields.get("type") or file_type
    limit = MAX_BYTES.get(mime_type)
    if limit is None:
        raise SimError(131053, f"Unsupported file type: {mime_type or 'unknown'}")
    if len(data) > limit:
        raise SimError(131053, f"File is too big for {mime_type} ({limit} bytes at most)")
    if not _content_matches(data, mime_type):
        # Meta checks the file against the declared type: a mismatch is its usual 131053.
        raise SimError(131053, f"Media upload error: the file is not {mime_type}")
    item = sim.media.add(data, mime_type, number.phone_number_id, sim.config.media_ttl_s)
    return web.json_response({"id": item.id})


def media_info(request: web.Request, media_id: str) -> web.Response:
    """``GET /{version}/{media_id}``: metadata and a download URL valid for a few minutes."""
    sim = simulator(request)
    item = _authorized_item(request, media_id, "get")
    path = sim.media.signed_path(item.id, sim.config.media_url_ttl_s)
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "url": f"{request.url.origin()}{path}",
            "mime_type": item.mime_type,
            "sha256": item.sha256,
            "file_size": len(item.data),
            "id": item.id,
        }
    )


def delete_media(request: web.Request, media_id: str) -> web.Response:
    """``DELETE /{version}/{media_id}``."""
    _authorized_item(request, media_id, "delete")
    simulator(request).media.delete(media_id)
    return web.json_response({"success": True})


async def download_media(request: web.Request) -> web.StreamResponse:
    """The media URL: needs a genuine, unexpired link and the bearer token, as at Meta."""
    sim = simulator(request)
    media_id = request.match_info["media_id"]
    token = bearer_token(request)
    query = request.query
    if not sim.media.check_signature(media_id, query.get("ext", ""), query.get("hash", "")):
        raise SimError(100, "The media URL is invalid or has expired", status=404)
    item = sim.media.live(media_id)
    if item is None:
        raise SimError(100, "The media has expired", status=404)
    owner = sim.state.number(item.owner)
    if owner is None or not sim.state.may_use_number(owner, token):
        raise SimError(100, "The media URL is invalid or has expired", status=404)
    return web.Response(body=item.data, content_type=item.mime_type)


# Types whose files start with a fixed signature (the others are not checked here).
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
    "audio/ogg": (b"OggS",),
    "audio/amr": (b"#!AMR",),
}


def _content_matches(data: bytes, mime_type: str) -> bool:
    if mime_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if mime_type in ("video/mp4", "video/3gpp", "audio/mp4"):
        return data[4:8] == b"ftyp"
    signatures = _SIGNATURES.get(mime_type)
    return signatures is None or data.startswith(signatures)


def _authorized_item(request: web.Request, media_id: str, method: str) -> MediaItem:
    sim = simulator(request)
    token = bearer_token(request)
    item = sim.media.live(media_id)
    if item is None:
        raise no_such_object(media_id, method)
    owner = sim.state.number(item.owner)
    if owner is None or not sim.state.may_use_number(owner, token):
        raise no_such_object(media_id, method)
    return item


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise SimError(131053, f"File is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
