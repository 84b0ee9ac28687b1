"""TOTP against RFC 6238's own test vectors, and the rules around codes."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.two_factor import (
    code_at,
    current_step,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery,
    otpauth_uri,
    qr_code,
    recovery_hash,
)

# RFC 6238 appendix B, SHA-1 (its 8-digit values; authenticator apps show the last six).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "eight_digits"), RFC_VECTORS)
def test_codes_match_rfc_6238(unix_time: int, eight_digits: str) -> None:
    assert code_at(RFC_SECRET, current_step(unix_time)) == eight_digits[-6:]


def test_a_code_is_accepted_one_step_either_side_and_never_twice() -> None:
    now = 1_700_000_000.0
    step = current_step(now)
    for offset in (-1, 0, 1):
        code = code_at(RFC_SECRET, step + offset)
        assert matching_step(RFC_SECRET, code, after=0, now=now) == step + offset
        # The step is used up: the same code, or an older one, is refused afterwards.
        assert matching_step(RFC_SECRET, code, after=step + offset, now=now) is None
    assert matching_step(RFC_SECRET, code_at(RFC_SECRET, step + 2), after=0, now=now) is None
    assert matching_step(RFC_SECRET, code_at(RFC_SECRET, step - 2), after=0, now=now) is None
    spaced = code_at(RFC_SECRET, step)
    assert matching_step(RFC_SECRET, f"{spaced[:3]} {spaced[3:]}", after=0, now=now) == step
    for typed in ("", "12345", "1234567", "12345a", "١٢٣٤٥٦"):
        assert matching_step(RFC_SECRET, typed, after=0, now=now) is None


def test_secrets_are_160_random_bits_and_the_uri_is_what_apps_read() -> None:
    secret = new_secret()
    assert len(secret) == 32
    assert len(base64.b32decode(secret)) == 20
    assert secret != new_secret()
    uri = otpauth_uri(secret, "sara@example.com")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "otpauth",
        "totp",
        "/Majlis:sara@example.com",
    )
    assert parse_qs(parts.query) == {
        "secret": [secret],
        "issuer": ["Majlis"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    assert qr_code(uri).startswith("data:image/svg+xml")


def test_recovery_codes_are_readable_unique_and_bound_to_their_user() -> None:
    codes = new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11
        assert code[5] == "-"
        assert normalise_recovery(code) == code.replace("-", "")
        assert normalise_recovery(f" {code.upper()} ") == code.replace("-", "")
    assert normalise_recovery("abcde-fghi0") is None  # 0 is not in the alphabet
    assert normalise_recovery("abcde") is None
    key, raw = b"k" * 32, normalise_recovery(codes[0])
    assert raw is not None
    one, other = uuid.uuid4(), uuid.uuid4()
    assert recovery_hash(key, one, raw) != recovery_hash(key, other, raw)
    assert recovery_hash(key, one, raw) == recovery_hash(key, one, raw)
