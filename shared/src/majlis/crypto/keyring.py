"""The field-encryption key ring: several AES-256 keys by id, exactly one active for new values."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from majlis.settings import Settings

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
KEY_BYTES = 32


def _valid_key_id(key_id: str) -> bool:
    return KEY_ID_PATTERN.fullmatch(key_id) is not None


class KeyRing:
    """Immutable set of AES-256-GCM keys by id; reprs show ids only, never key material."""

    __slots__ = ("_active", "_aeads")

    _active: str
    _aeads: Mapping[str, AESGCM]

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        """Validate and hold ``keys``; prefer ``from_spec`` / ``from_settings``."""
        if not keys:
            raise ValueError("no encryption keys configured")
        aeads: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not _valid_key_id(key_id):
                raise ValueError("encryption key id must match [A-Za-z0-9_-]{1,32}")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ValueError(f"encryption key {key_id!r} must be exactly 32 bytes")
            aeads[key_id] = AESGCM(key)
        if not isinstance(active_key_id, str) or not _valid_key_id(active_key_id):
            raise ValueError("the active encryption key id is missing or malformed")
        if active_key_id not in aeads:
            raise ValueError(f"the active encryption key id {active_key_id!r} is not in the ring")
        # Only AESGCM objects are kept: they expose no key bytes to repr, pickle or attributes.
        object.__setattr__(self, "_aeads", MappingProxyType(aeads))
        object.__setattr__(self, "_active", active_key_id)

    @classmethod
    def from_spec(cls, spec: str, active_key_id: str) -> KeyRing:
        """Parse ``"k1:<base64 32 bytes>,k2:<base64 32 bytes>"``; errors name ids, never keys."""
        keys: dict[str, bytes] = {}
        entries = [e.strip() for e in spec.split(",")] if spec.strip() else []
        if not entries:
            raise ValueError("no encryption keys configured")
        for position, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            # The entry itself is never echoed: a malformed one may be mostly key material.
            if not sep:
                raise ValueError(f"encryption key entry #{position} is not of the form id:base64")
            if not _valid_key_id(key_id):
                raise ValueError(
                    f"encryption key entry #{position} has an id outside [A-Za-z0-9_-]{{1,32}}"
                )
            if key_id in keys:
                raise ValueError(f"encryption key id {key_id!r} appears more than once")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"encryption key {key_id!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise ValueError(f"encryption key {key_id!r} must decode to exactly 32 bytes")
            keys[key_id] = key
        return cls(keys, active_key_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The ring from ``encryption_keys`` and ``encryption_active_key_id``."""
        return cls.from_spec(
            settings.encryption_keys.get_secret_value(), settings.encryption_active_key_id
        )

    @property
    def active_key_id(self) -> str:
        """The id of the key new values are encrypted under."""
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id in the ring, in configuration order."""
        return tuple(self._aeads)

    def aead(self, key_id: str) -> AESGCM | None:
        """The AEAD for a key id, or None if the ring does not hold it."""
        return self._aeads.get(key_id)

    def with_active(self, active_key_id: str) -> KeyRing:
        """The same keys with another active id (rotation: add a key, then switch to it)."""
        ring = object.__new__(KeyRing)
        if active_key_id not in self._aeads:
            raise ValueError(f"the active encryption key id {active_key_id!r} is not in the ring")
        object.__setattr__(ring, "_aeads", self._aeads)
        object.__setattr__(ring, "_active", active_key_id)
        return ring

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("KeyRing is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("KeyRing is immutable")

    def __reduce__(self) -> NoReturn:
        # Pickling would have to serialise key bytes; a ring is rebuilt from settings instead.
        raise TypeError("KeyRing cannot be pickled")

    def __repr__(self) -> str:
        return f"KeyRing(active_key_id={self._active!r}, key_ids={self.key_ids!r})"

    __str__ = __repr__
