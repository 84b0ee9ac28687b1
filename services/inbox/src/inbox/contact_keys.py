"""How contact fields are normalised and sealed: one place, so every writer and every search agree.

A blind index finds equal values only, so the same person must always produce the same key:
phone numbers become E.164 (`majlis.crypto.normalise_phone`), names are NFKC, case-folded and
whitespace-collapsed, e-mails are trimmed and lower-cased.
"""

from __future__ import annotations

import unicodedata
from uuid import UUID

from majlis.crypto import BlindIndexer, FieldCipher

PHONE_FIELD = "contacts.phone"
BSUID_FIELD = "contacts.bsuid"
NAME_FIELD = "contacts.name"
EMAIL_FIELD = "contacts.email"
ATTRIBUTES_FIELD = "contacts.attributes"
ERASED_FIELD = "erased_identities.phone"


def name_key(name: str) -> str:
    """The searchable form of a name: "  SARA   Al-Hashimi " and "sara al-hashimi" match."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def email_key(email: str) -> str:
    """The searchable form of an e-mail address."""
    return email.strip().lower()


def seal_name(
    cipher: FieldCipher, indexer: BlindIndexer, tenant_id: UUID, name: str
) -> tuple[bytes, bytes]:
    """(ciphertext, blind index) of a contact's name."""
    return (
        cipher.encrypt(name, tenant_id=tenant_id, field=NAME_FIELD),
        indexer.value(name_key(name), tenant_id=tenant_id, field=NAME_FIELD),
    )


def seal_email(
    cipher: FieldCipher, indexer: BlindIndexer, tenant_id: UUID, email: str
) -> tuple[bytes, bytes]:
    """(ciphertext, blind index) of a contact's e-mail address."""
    return (
        cipher.encrypt(email.strip(), tenant_id=tenant_id, field=EMAIL_FIELD),
        indexer.value(email_key(email), tenant_id=tenant_id, field=EMAIL_FIELD),
    )


def seal_phone(
    cipher: FieldCipher, indexer: BlindIndexer, tenant_id: UUID, e164: str
) -> tuple[bytes, bytes]:
    """(ciphertext, blind index) of an already E.164 phone number (the inbound path's form)."""
    return (
        cipher.encrypt(e164, tenant_id=tenant_id, field=PHONE_FIELD),
        indexer.value(e164, tenant_id=tenant_id, field=PHONE_FIELD),
    )


def erasure_marker(indexer: BlindIndexer, tenant_id: UUID, phone_bidx: bytes) -> bytes:
    """What erased_identities (0036) keeps of an erased contact's number: a keyed HMAC of its
    blind index under a key of its own, so no blind index of the person outlives them."""
    return indexer.value(phone_bidx.hex(), tenant_id=tenant_id, field=ERASED_FIELD)
