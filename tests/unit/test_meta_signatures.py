"""Webhook signatures: HMAC-SHA256 of the exact bytes, ``sha256=`` + hex, never an exception."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from majlis.meta import sign_webhook, verify_webhook_signature

SECRET = "test-app-secret"
# Meta escapes non-ASCII, so the bytes on the wire are not what json.dumps gives by default.
BODY = (
    b'{"object":"whatsapp_business_account",'
    b'"entry":[{"text":"\\u0645\\u0631\\u062d\\u0628\\u0627 @x"}]}'
)


def test_signature_is_sha256_prefix_and_lowercase_hex_of_the_hmac() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(BODY, SECRET) == f"sha256={expected}"


def test_valid_signature_verifies() -> None:
    assert verify_webhook_signature(BODY, sign_webhook(BODY, SECRET), SECRET)


def test_one_changed_byte_fails() -> None:
    header = sign_webhook(BODY, SECRET)
    tampered = bytearray(BODY)
    tampered[10] ^= 0x01
    assert not verify_webhook_signature(bytes(tampered), header, SECRET)


def test_wrong_secret_fails() -> None:
    assert not verify_webhook_signature(BODY, sign_webhook(BODY, SECRET), "other-secret")


def test_reserialised_json_fails() -> None:
    header = sign_webhook(BODY, SECRET)
    reserialised = json.dumps(json.loads(BODY), ensure_ascii=False).encode()
    assert reserialised != BODY
    assert not verify_webhook_signature(reserialised, header, SECRET)


def test_uppercase_hex_digits_are_accepted_but_the_prefix_is_required() -> None:
    digest = sign_webhook(BODY, SECRET).removeprefix("sha256=")
    assert verify_webhook_signature(BODY, "sha256=" + digest.upper(), SECRET)
    assert not verify_webhook_signature(BODY, "SHA256=" + digest, SECRET)
    assert not verify_webhook_signature(BODY, digest, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + "a" * 40,
        "sha256=" + "g" * 64,  # not hex
        "sha256=" + "a" * 63,  # too short
        "sha256=" + "a" * 65,  # too long
        " sha256=" + "a" * 64,
        "sha256=" + "é" * 64,
    ],
)
def test_missing_or_malformed_header_is_false(header: str | None) -> None:
    assert verify_webhook_signature(BODY, header, SECRET) is False


def test_non_string_header_and_empty_secret_are_false_not_errors() -> None:
    header = sign_webhook(BODY, SECRET)
    assert verify_webhook_signature(BODY, 12345, SECRET) is False  # type: ignore[arg-type]
    # An empty secret can be "signed" by anyone, so it never verifies.
    assert verify_webhook_signature(BODY, sign_webhook(BODY, ""), "") is False
    assert verify_webhook_signature(BODY, header, "") is False


def test_empty_body_signature_round_trips() -> None:
    assert verify_webhook_signature(b"", sign_webhook(b"", SECRET), SECRET)
