"""Blind indexes: keyed HMACs that let the database find a value without ever holding it.

Each (tenant, field) pair gets its own HMAC key derived from one master key with HKDF, so the
same phone number indexes differently in every tenant and every column: an index leaked from
one tenant says nothing about another's customers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING
from uuid import UUID

import phonenumbers
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from majlis.settings import Settings

PHONE_FIELD = "contacts.phone"
_MASTER_BYTES = 32
# Derived keys cost an HKDF each; a few thousand active tenant/field pairs fit comfortably.
_DERIVED_CACHE_SIZE = 4096
_MAX_PHONE_INPUT = 64


class InvalidPhoneNumber(ValueError):
    """The input is not a valid phone number (the message never repeats the input)."""


def normalise_phone(raw: str, region: str = "AE") -> str:
    """E.164 form of a phone number; national forms are read in ``region``."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > _MAX_PHONE_INPUT:
        raise InvalidPhoneNumber("not a phone number")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("not a phone number") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class BlindIndexer:
    """Computes blind indexes: HMAC-SHA256 under a per-tenant, per-field HKDF-derived key."""

    __slots__ = ("_default_region", "_derive")

    def __init__(self, master_key: bytes, *, default_region: str = "AE") -> None:
        """Hold a 32-byte master key; national phone forms default to ``default_region``."""
        if not isinstance(master_key, bytes) or len(master_key) != _MASTER_BYTES:
            raise ValueError("the blind-index master key must be exactly 32 bytes")
        self._default_region = default_region

        # A closure keeps the master key out of attributes (and so out of any repr or dir()).
        @lru_cache(maxsize=_DERIVED_CACHE_SIZE)
        def derive(field: str, tenant_id: UUID) -> bytes:
            hkdf = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"majlis-bidx|" + field.encode() + b"|" + tenant_id.bytes,
            )
            return hkdf.derive(master_key)

        self._derive = derive

    @classmethod
    def from_settings(cls, settings: Settings) -> BlindIndexer:
        """From ``blind_index_key`` (base64 of 32 bytes) and ``default_phone_region``."""
        try:
            key = base64.b64decode(settings.blind_index_key.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the blind-index key is not valid base64") from None
        if len(key) != _MASTER_BYTES:
            raise ValueError("the blind-index key must decode to exactly 32 bytes")
        return cls(key, default_region=settings.default_phone_region)

    def phone(self, raw: str, *, tenant_id: UUID, region: str | None = None) -> bytes:
        """Index of a phone number in any common form (normalised to E.164 first)."""
        normalised = normalise_phone(raw, region or self._default_region)
        return self.value(normalised, tenant_id=tenant_id, field=PHONE_FIELD)

    def value(self, normalised: str, *, tenant_id: UUID, field: str) -> bytes:
        """Index of an already-normalised value (e.g. a lower-cased email) for one column."""
        if not isinstance(tenant_id, UUID):
            raise TypeError("tenant_id must be a UUID")
        if not isinstance(field, str) or not field:
            raise ValueError("field must be a non-empty string such as 'contacts.email'")
        key = self._derive(field, tenant_id)
        return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"BlindIndexer(default_region={self._default_region!r})"

    __str__ = __repr__
