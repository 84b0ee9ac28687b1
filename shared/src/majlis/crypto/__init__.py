"""Field encryption (AES-256-GCM with a key ring), blind indexes and the encrypted-column registry.

Key rotation lives in ``majlis.crypto.reencrypt`` (not imported here: it needs the database).
"""

from majlis.crypto.aead import DecryptionError, FieldCipher
from majlis.crypto.blind_index import BlindIndexer, InvalidPhoneNumber, normalise_phone
from majlis.crypto.columns import ENCRYPTED_COLUMNS, EncryptedColumn
from majlis.crypto.keyring import KeyRing

__all__ = [
    "ENCRYPTED_COLUMNS",
    "BlindIndexer",
    "DecryptionError",
    "EncryptedColumn",
    "FieldCipher",
    "InvalidPhoneNumber",
    "KeyRing",
    "normalise_phone",
]
