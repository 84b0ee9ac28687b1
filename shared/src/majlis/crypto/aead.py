"""Field encryption: AES-256-GCM bound to a tenant and a column, with the key id in every value.

Format (stored in ``bytea``): ``0x01`` version, 1-byte key-id length, key id (ASCII),
12-byte random nonce, ciphertext and 16-byte tag. The associated data is
``b"majlis/v1|" + field + b"|" + tenant_id.bytes``, so a value copied to another tenant's row
or another column fails authentication instead of decrypting.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag

from majlis.crypto.keyring import KEY_ID_PATTERN, KeyRing

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_PREFIX = b"majlis/v1|"


class DecryptionError(Exception):
    """A value could not be authenticated or parsed; deliberately says nothing more."""

    def __init__(self, message: str = "value could not be decrypted") -> None:
        super().__init__(message)


def _aad(tenant_id: UUID, field: str) -> bytes:
    if not isinstance(tenant_id, UUID):
        raise TypeError("tenant_id must be a UUID")
    if not isinstance(field, str) or not field:
        raise ValueError("field must be a non-empty string such as 'contacts.phone'")
    return _AAD_PREFIX + field.encode() + b"|" + tenant_id.bytes


def _header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes((VERSION, len(encoded))) + encoded


def key_prefix(key_id: str) -> bytes:
    """The first bytes of every value sealed under `key_id` (version and key-id header), to
    find them in SQL. The length byte makes prefixes unambiguous: "k1" never matches "k10"."""
    if KEY_ID_PATTERN.fullmatch(key_id) is None:
        raise ValueError("not a key id")
    return _header(key_id)


def _parse(ciphertext: object) -> tuple[str, bytes, bytes]:
    """(key id, nonce, ciphertext+tag); any malformed input is a DecryptionError."""
    if isinstance(ciphertext, bytearray | memoryview):
        ciphertext = bytes(ciphertext)
    if not isinstance(ciphertext, bytes) or len(ciphertext) < 2 or ciphertext[0] != VERSION:
        raise DecryptionError
    kid_len = ciphertext[1]
    body_at = 2 + kid_len
    if kid_len == 0 or len(ciphertext) < body_at + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError
    try:
        key_id = ciphertext[2:body_at].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError from None
    if KEY_ID_PATTERN.fullmatch(key_id) is None:
        raise DecryptionError
    nonce = ciphertext[body_at : body_at + NONCE_BYTES]
    return key_id, nonce, ciphertext[body_at + NONCE_BYTES :]


class FieldCipher:
    """Encrypts under the ring's active key; decrypts under whichever key a value names."""

    __slots__ = ("_keyring",)

    def __init__(self, keyring: KeyRing) -> None:
        """Use ``keyring`` for every operation."""
        self._keyring = keyring

    @property
    def keyring(self) -> KeyRing:
        """The ring this cipher uses."""
        return self._keyring

    def encrypt(self, plaintext: bytes | str, *, tenant_id: UUID, field: str) -> bytes:
        """Encrypt for one tenant's column; str is UTF-8 encoded."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        if not isinstance(data, bytes):
            raise TypeError("plaintext must be bytes or str")
        key_id = self._keyring.active_key_id
        aead = self._keyring.aead(key_id)
        if aead is None:  # unreachable: the ring refuses an active id it does not hold
            raise RuntimeError("the active key is missing from the key ring")
        # A fresh random 96-bit nonce per value, made here only: callers can never reuse one.
        # Random nonces are safe up to ~2**32 values per key; rotate keys long before that.
        nonce = os.urandom(NONCE_BYTES)
        return _header(key_id) + nonce + aead.encrypt(nonce, data, _aad(tenant_id, field))

    def decrypt(self, ciphertext: bytes, *, tenant_id: UUID, field: str) -> bytes:
        """Authenticate and decrypt; DecryptionError for any wrong, tampered or unknown value."""
        aad = _aad(tenant_id, field)
        key_id, nonce, sealed = _parse(ciphertext)
        aead = self._keyring.aead(key_id)
        if aead is None:
            raise DecryptionError
        try:
            return aead.decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError, OverflowError):
            raise DecryptionError from None

    def decrypt_text(self, ciphertext: bytes, *, tenant_id: UUID, field: str) -> str:
        """Decrypt a value that was encrypted from a str."""
        data = self.decrypt(ciphertext, tenant_id=tenant_id, field=field)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError from None

    def key_id_of(self, ciphertext: bytes) -> str:
        """The key id a value names (not authenticated: decrypt() is what proves it)."""
        return _parse(ciphertext)[0]

    def is_current(self, ciphertext: bytes) -> bool:
        """True if the value is encrypted under the active key; False if older or malformed."""
        try:
            return self.key_id_of(ciphertext) == self._keyring.active_key_id
        except DecryptionError:
            return False

    def active_prefix(self) -> bytes:
        """Version and key-id header of the active key, to find stale rows in SQL."""
        # The length byte makes prefixes unambiguous: "k1" never matches a value under "k10".
        return _header(self._keyring.active_key_id)

    def __repr__(self) -> str:
        return f"FieldCipher({self._keyring!r})"

    __str__ = __repr__
