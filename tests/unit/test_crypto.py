"""majlis.crypto without services: AES-GCM field encryption, key ring, blind indexes."""

from __future__ import annotations

import base64
import inspect
import pickle
import uuid

import pytest

from majlis.crypto import (
    ENCRYPTED_COLUMNS,
    BlindIndexer,
    DecryptionError,
    EncryptedColumn,
    FieldCipher,
    InvalidPhoneNumber,
    KeyRing,
    normalise_phone,
)
from majlis.crypto.aead import NONCE_BYTES
from majlis.settings import Settings

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))
B64_1 = base64.b64encode(KEY_1).decode()
B64_2 = base64.b64encode(KEY_2).decode()
SPEC = f"k1:{B64_1},k2:{B64_2}"
FIELD = "contacts.phone"
TENANT_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
TENANT_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KeyRing.from_spec(SPEC, "k1"))


def _nonce(ciphertext: bytes) -> bytes:
    start = 2 + ciphertext[1]
    return ciphertext[start : start + NONCE_BYTES]


def test_round_trip_bytes_and_arabic_text(cipher: FieldCipher) -> None:
    raw = bytes(range(256))
    assert (
        cipher.decrypt(
            cipher.encrypt(raw, tenant_id=TENANT_A, field=FIELD), tenant_id=TENANT_A, field=FIELD
        )
        == raw
    )
    text = "مرحبا بك في مجلس"
    ct = cipher.encrypt(text, tenant_id=TENANT_A, field="messages.body")
    assert cipher.decrypt_text(ct, tenant_id=TENANT_A, field="messages.body") == text
    assert text.encode() not in ct
    empty = cipher.encrypt(b"", tenant_id=TENANT_A, field=FIELD)
    assert cipher.decrypt(empty, tenant_id=TENANT_A, field=FIELD) == b""


def test_same_plaintext_twice_gives_different_ciphertexts(cipher: FieldCipher) -> None:
    one = cipher.encrypt("+971501234567", tenant_id=TENANT_A, field=FIELD)
    two = cipher.encrypt("+971501234567", tenant_id=TENANT_A, field=FIELD)
    assert one != two
    assert _nonce(one) != _nonce(two)


def test_ciphertext_starts_with_version_and_key_id(cipher: FieldCipher) -> None:
    ct = cipher.encrypt(b"x", tenant_id=TENANT_A, field=FIELD)
    assert ct[:4] == b"\x01\x02k1"
    assert ct.startswith(cipher.active_prefix())
    assert cipher.active_prefix() == b"\x01\x02k1"
    # header + nonce + 1 byte of ciphertext + 16-byte tag
    assert len(ct) == 4 + 12 + 1 + 16
    assert cipher.key_id_of(ct) == "k1"
    assert cipher.is_current(ct)


def test_value_moved_to_another_tenant_fails(cipher: FieldCipher) -> None:
    ct = cipher.encrypt("secret", tenant_id=TENANT_A, field=FIELD)
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct, tenant_id=TENANT_B, field=FIELD)


def test_value_moved_to_another_field_fails(cipher: FieldCipher) -> None:
    ct = cipher.encrypt("secret", tenant_id=TENANT_A, field="contacts.phone")
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct, tenant_id=TENANT_A, field="contacts.name")


def test_any_flipped_bit_fails(cipher: FieldCipher) -> None:
    ct = cipher.encrypt("a short secret", tenant_id=TENANT_A, field=FIELD)
    for index in range(len(ct)):
        for bit in range(8):
            tampered = bytearray(ct)
            tampered[index] ^= 1 << bit
            with pytest.raises(DecryptionError):
                cipher.decrypt(bytes(tampered), tenant_id=TENANT_A, field=FIELD)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x01",
        b"\x01\x02k1",
        b"\x02\x02k1" + bytes(40),
        b"\x01\x00" + bytes(40),
        b"\x01\xffk1" + bytes(40),
        b"\x01\x02\xff\xfe" + bytes(40),
        b"\x01\x02k!" + bytes(40),
        "not bytes",
        None,
        12345,
    ],
)
def test_garbage_fails_with_decryption_error_only(cipher: FieldCipher, garbage: object) -> None:
    with pytest.raises(DecryptionError):
        cipher.decrypt(garbage, tenant_id=TENANT_A, field=FIELD)  # type: ignore[arg-type]
    assert not cipher.is_current(garbage)  # type: ignore[arg-type]


def test_every_truncation_fails(cipher: FieldCipher) -> None:
    ct = cipher.encrypt("truncate me", tenant_id=TENANT_A, field=FIELD)
    for length in range(len(ct)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(ct[:length], tenant_id=TENANT_A, field=FIELD)


def test_unknown_key_id_fails() -> None:
    ct = FieldCipher(KeyRing.from_spec(f"k9:{B64_1}", "k9")).encrypt(
        "x", tenant_id=TENANT_A, field=FIELD
    )
    with pytest.raises(DecryptionError):
        FieldCipher(KeyRing.from_spec(SPEC, "k1")).decrypt(ct, tenant_id=TENANT_A, field=FIELD)


def test_decryption_error_says_nothing(cipher: FieldCipher) -> None:
    ct = cipher.encrypt("+971501234567", tenant_id=TENANT_A, field=FIELD)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(ct, tenant_id=TENANT_B, field=FIELD)
    assert str(info.value) == "value could not be decrypted"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_encrypt_takes_no_nonce() -> None:
    params = inspect.signature(FieldCipher.encrypt).parameters
    assert set(params) == {"self", "plaintext", "tenant_id", "field"}
    assert not any("nonce" in name or name == "iv" for name in params)
    assert not any("nonce" in name for name in dir(FieldCipher) if not name.startswith("_"))


def test_no_repeated_nonce_in_a_million_encryptions(cipher: FieldCipher) -> None:
    """Security checklist 32: one million encryptions under one key, no nonce twice."""
    count = 1_000_000
    nonces = {_nonce(cipher.encrypt(b"", tenant_id=TENANT_A, field=FIELD)) for _ in range(count)}
    assert len(nonces) == count


@pytest.mark.parametrize(
    ("spec", "active", "message"),
    [
        ("", "k1", "no encryption keys"),
        (f"k1:{B64_1}!!", "k1", "not valid base64"),
        ("k1:not-base64", "k1", "not valid base64"),
        (f"k1:{base64.b64encode(bytes(16)).decode()}", "k1", "exactly 32 bytes"),
        (f"k1:{base64.b64encode(bytes(64)).decode()}", "k1", "exactly 32 bytes"),
        (f"k1:{B64_1},k1:{B64_2}", "k1", "more than once"),
        (f"k1:{B64_1}", "k2", "not in the ring"),
        (f"k1:{B64_1}", "", "missing or malformed"),
        (B64_1, "k1", "id:base64"),
        (f"bad id:{B64_1}", "k1", "id outside"),
        (f"{'k' * 33}:{B64_1}", "k1", "id outside"),
    ],
)
def test_key_ring_validation(spec: str, active: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        KeyRing.from_spec(spec, active)
    assert B64_1 not in str(info.value)
    assert B64_1[:12] not in str(info.value)


def test_key_ring_from_settings_and_properties(settings: Settings) -> None:
    ring = KeyRing.from_settings(settings)
    assert ring.active_key_id == "k1"
    assert ring.key_ids == ("k1", "k2")
    with pytest.raises(AttributeError):
        ring._active = "k2"


def test_no_key_material_in_str_or_repr() -> None:
    ring = KeyRing.from_spec(SPEC, "k2")
    cipher = FieldCipher(ring)
    indexer = BlindIndexer(KEY_1)
    for obj in (ring, cipher, indexer):
        for text in (str(obj), repr(obj), f"{obj}"):
            for secret in (B64_1, B64_2, KEY_1.hex(), KEY_2.hex(), repr(KEY_1), repr(KEY_2)):
                assert secret not in text
    assert repr(ring) == "KeyRing(active_key_id='k2', key_ids=('k1', 'k2'))"
    # Serialising a ring would write key bytes somewhere: refused.
    with pytest.raises(TypeError):
        pickle.dumps(ring)


def test_rotation_at_unit_level() -> None:
    old = FieldCipher(KeyRing.from_spec(SPEC, "k1"))
    new = FieldCipher(KeyRing.from_spec(SPEC, "k2"))
    legacy = old.encrypt("token", tenant_id=TENANT_A, field=FIELD)
    assert new.decrypt_text(legacy, tenant_id=TENANT_A, field=FIELD) == "token"
    assert not new.is_current(legacy)
    fresh = new.encrypt("token", tenant_id=TENANT_A, field=FIELD)
    assert new.key_id_of(fresh) == "k2"
    assert fresh.startswith(b"\x01\x02k2")
    assert new.is_current(fresh)
    assert old.decrypt_text(fresh, tenant_id=TENANT_A, field=FIELD) == "token"
    # A ring that has dropped k1 can no longer read k1 values.
    retired = FieldCipher(KeyRing.from_spec(f"k2:{B64_2}", "k2"))
    with pytest.raises(DecryptionError):
        retired.decrypt(legacy, tenant_id=TENANT_A, field=FIELD)


# --- blind indexes ---


@pytest.fixture
def indexer() -> BlindIndexer:
    return BlindIndexer(bytes(range(64, 96)))


def test_uae_forms_give_the_same_index(indexer: BlindIndexer) -> None:
    forms = ["+971 50 123 4567", "00971501234567", "0501234567", "+971501234567"]
    assert {normalise_phone(f) for f in forms} == {"+971501234567"}
    indexes = {indexer.phone(f, tenant_id=TENANT_A) for f in forms}
    assert len(indexes) == 1
    assert len(indexes.pop()) == 32


def test_index_differs_between_tenants_and_fields(indexer: BlindIndexer) -> None:
    a = indexer.phone("0501234567", tenant_id=TENANT_A)
    assert a != indexer.phone("0501234567", tenant_id=TENANT_B)
    assert a == indexer.value("+971501234567", tenant_id=TENANT_A, field="contacts.phone")
    assert a != indexer.value("+971501234567", tenant_id=TENANT_A, field="contacts.bsuid")
    assert a != indexer.phone("0501234568", tenant_id=TENANT_A)
    assert a != BlindIndexer(bytes(32)).phone("0501234567", tenant_id=TENANT_A)


def test_email_index_via_value(indexer: BlindIndexer) -> None:
    one = indexer.value("ali@example.ae", tenant_id=TENANT_A, field="contacts.email")
    assert one == indexer.value("ali@example.ae", tenant_id=TENANT_A, field="contacts.email")
    assert one != indexer.value("ali@example.ae", tenant_id=TENANT_B, field="contacts.email")


def test_region_argument(indexer: BlindIndexer) -> None:
    uk = indexer.phone("07911 123456", tenant_id=TENANT_A, region="GB")
    assert uk == indexer.phone("+44 7911 123456", tenant_id=TENANT_A)
    assert normalise_phone("07911 123456", "GB") == "+447911123456"


@pytest.mark.parametrize(
    "raw", ["", "   ", "abc", "12345", "+971 50 123", "050 123 456", "+999 123 456 789", "1" * 100]
)
def test_invalid_numbers_raise(indexer: BlindIndexer, raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        indexer.phone(raw, tenant_id=TENANT_A)
    assert isinstance(info.value, ValueError)
    if raw.strip():
        assert raw not in str(info.value)


def test_blind_indexer_key_checks(settings: Settings) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        BlindIndexer(bytes(16))
    from_settings = BlindIndexer.from_settings(settings)
    direct = BlindIndexer(bytes(range(64, 96)))
    assert from_settings.phone("0501234567", tenant_id=TENANT_A) == direct.phone(
        "0501234567", tenant_id=TENANT_A
    )


def test_encrypted_column_registry() -> None:
    names = [c.name for c in ENCRYPTED_COLUMNS]
    assert len(names) == len(set(names))
    assert "whatsapp_numbers.access_token_enc" in names
    assert all(c.column.endswith("_enc") for c in ENCRYPTED_COLUMNS)
    with pytest.raises(ValueError, match="identifier"):
        EncryptedColumn("contacts; DROP TABLE x", "phone_enc", "contacts.phone")
