"""Media objects: uploads and inbound media, their expiry, and signed short-lived download URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from majlis.graphsim.state import Clock

_MB = 1024 * 1024
# Types and size limits of reference §6.
MAX_BYTES = {
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,
    "audio/aac": 16 * _MB,
    "audio/amr": 16 * _MB,
    "audio/mpeg": 16 * _MB,
    "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB,
    "video/mp4": 16 * _MB,
    "video/3gpp": 16 * _MB,
    "text/plain": 100 * _MB,
    "application/pdf": 100 * _MB,
    "application/msword": 100 * _MB,
    "application/vnd.ms-excel": 100 * _MB,
    "application/vnd.ms-powerpoint": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * _MB,
}
LARGEST = max(MAX_BYTES.values())


@dataclass
class MediaItem:
    """One stored media object."""

    id: str
    data: bytes = field(repr=False)
    mime_type: str
    owner: str  # phone_number_id it belongs to
    expires_at: float

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content, as ``GET /{media_id}`` reports it."""
        return hashlib.sha256(self.data).hexdigest()


class MediaStore:
    """Media by id; expired ids are remembered so they answer "gone", not "unknown"."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[str, MediaItem] = {}
        self._expired: set[str] = set()
        # Signs download URLs; a fresh key per process, so URLs die with the simulator.
        self._url_key = secrets.token_bytes(32)

    def add(self, data: bytes, mime_type: str, owner: str, ttl_s: float) -> MediaItem:
        """Store content; returns the new media object."""
        item = MediaItem(
            str(10**15 + secrets.randbelow(9 * 10**15)),
            data,
            mime_type,
            owner,
            self._clock() + ttl_s,
        )
        self._items[item.id] = item
        return item

    def knows(self, media_id: str) -> bool:
        """Whether this id is or was a media id (so it is not a phone number id)."""
        return media_id in self._items or media_id in self._expired

    def live(self, media_id: str) -> MediaItem | None:
        """The media object if it exists and has not expired."""
        item = self._items.get(media_id)
        if item is not None and self._clock() >= item.expires_at:
            del self._items[media_id]
            self._expired.add(media_id)
            item = None
        return item

    def delete(self, media_id: str) -> bool:
        """Delete a live media object."""
        if self.live(media_id) is None:
            return False
        del self._items[media_id]
        self._expired.add(media_id)
        return True

    def signed_path(self, media_id: str, ttl_s: float) -> str:
        """A download path that stops working after ``ttl_s`` seconds."""
        expires = int(self._clock() + ttl_s)
        return f"/_sim/media/{media_id}?ext={expires}&hash={self._sign(media_id, expires)}"

    def check_signature(self, media_id: str, expires: str, signature: str) -> bool:
        """Whether a download link is genuine and still valid."""
        if not expires.isdigit() or int(expires) < self._clock():
            return False
        return hmac.compare_digest(self._sign(media_id, int(expires)), signature)

    def _sign(self, media_id: str, expires: int) -> str:
        message = f"{media_id}:{expires}".encode()
        return hmac.new(self._url_key, message, hashlib.sha256).hexdigest()[:32]
