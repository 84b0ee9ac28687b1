"""Download inbound media after its message is stored, and keep it encrypted.

Meta keeps inbound media for 7 days and hands out download URLs valid for 5 minutes, so the
file is fetched right after the message commits, by the same consumer delivery: the message
and its `inbox.message.stored` event never wait for a download, and a transient failure
(timeout, 5xx, rate limit) raises so the bus retries the event with backoff; the redelivery
finds the message stored and only retries the download. Failures retrying cannot fix
(too large, refused token, unknown media, hash mismatch) mark the row `failed` with a code.
No database connection is held while the file is downloaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from uuid import UUID

from inbox import media_repository
from inbox.deps import InboxDeps
from inbox.media_repository import MediaJob
from majlis.crypto import DecryptionError
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.inbox import MediaStored
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox
from majlis.meta import GraphApiError, MediaTooLarge

log = get_logger(__name__)

CONTENT_FIELD = "media.content"
TOKEN_FIELD = "whatsapp_numbers.access_token"  # noqa: S105  (a field name, not a secret)
# Meta's largest inbound media (documents); bigger files fail at Meta already (131052).
MAX_MEDIA_BYTES = 100 * 1024 * 1024


async def fetch_pending_media(deps: InboxDeps, tenant_id: UUID, wamid: str) -> int:
    """Download and store every pending media file of a message; returns how many stored."""
    async with tenant_transaction(deps.pool, tenant_id, "system", readonly=True) as conn:
        jobs = await media_repository.pending_media_for_wamid(conn, wamid)
    stored = 0
    for job in jobs:
        async with deps.media_slots:
            stored += await _fetch_one(deps, tenant_id, job)
    return stored


async def _fetch_one(deps: InboxDeps, tenant_id: UUID, job: MediaJob) -> bool:
    try:
        token = deps.cipher.decrypt_text(
            job.access_token_enc, tenant_id=tenant_id, field=TOKEN_FIELD
        )
    except DecryptionError:
        return await _give_up(deps, tenant_id, job, "token_unusable")
    try:
        info = await deps.graph.get_media_url(job.meta_media_id, token)
        content = await deps.graph.download_media(info.url, token, max_bytes=MAX_MEDIA_BYTES)
    except MediaTooLarge:
        return await _give_up(deps, tenant_id, job, "too_large")
    except GraphApiError as exc:
        if exc.is_retryable:
            raise  # the consumer retries the event with backoff
        reason = "token_rejected" if exc.is_auth_error else f"graph_error_{exc.code}"
        return await _give_up(deps, tenant_id, job, reason)
    if not sha256_matches(content, info.sha256):
        return await _give_up(deps, tenant_id, job, "sha256_mismatch")
    mime_type = info.mime_type if 0 < len(info.mime_type) <= 255 else job.mime_type
    sealed = deps.cipher.encrypt(content, tenant_id=tenant_id, field=CONTENT_FIELD)
    async with tenant_transaction(deps.pool, tenant_id, "system") as conn:
        if not await media_repository.store_media_content(
            conn, job.id, sealed, len(content), mime_type
        ):
            return False
        stored = MediaStored(
            media_id=job.id,
            message_id=job.message_id,
            conversation_id=job.conversation_id,
            mime_type=mime_type,
            size=len(content),
        )
        await add_to_outbox(conn, make_envelope(stored, tenant_id=tenant_id))
    log.info("inbox.media_stored", media_id=str(job.id), body_bytes=len(content))
    return True


async def _give_up(deps: InboxDeps, tenant_id: UUID, job: MediaJob, reason: str) -> bool:
    async with tenant_transaction(deps.pool, tenant_id, "system") as conn:
        await media_repository.mark_media_failed(conn, job.id, reason)
    log.warning("inbox.media_failed", media_id=str(job.id), reason=reason)
    return False


def sha256_matches(content: bytes, claimed: str) -> bool:
    """False only if `claimed` is a SHA-256 (hex or base64) that differs from the content's.

    Meta reports the hash as hex when resolving the URL and (reportedly) base64 in webhooks;
    a value in neither form cannot be checked and is not held against the file.
    """
    digest = hashlib.sha256(content).digest()
    text = claimed.strip()
    if len(text) == 64:
        try:
            return hmac.compare_digest(bytes.fromhex(text), digest)
        except ValueError:
            return True
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return True
    return len(decoded) != len(digest) or hmac.compare_digest(decoded, digest)
