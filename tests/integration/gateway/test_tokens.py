"""The token attack list: every forged, altered or misused access token gets 401, no effect."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from majlis.http.tokens import TokenSigner
from majlis.testing.browser import GatewayUnderTest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), signature]
    )


@pytest.fixture
async def victim(gateway: GatewayUnderTest) -> tuple[Any, dict[str, Any]]:
    browser, _, _ = await gateway.owner()
    assert browser.token is not None
    claims = jwt.decode(browser.token, options={"verify_signature": False})  # noqa: TID251
    return browser, claims


def _signer(gateway: GatewayUnderTest) -> TokenSigner:
    return TokenSigner.from_settings(gateway.settings)


def _private_key(gateway: GatewayUnderTest, kid: str) -> Any:
    return _signer(gateway)._keys[kid]


async def _status(gateway: GatewayUnderTest, ip: str, token: str) -> int:
    browser = gateway.browser(ip)
    browser.token = token
    status, _, _ = await browser.request("GET", "/api/v1/me")
    return status


async def test_genuine_token_works(gateway: GatewayUnderTest, victim: Any) -> None:
    browser, _ = victim
    assert await _status(gateway, browser.ip, browser.token) == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(gateway: GatewayUnderTest, victim: Any, alg: str) -> None:
    browser, claims = victim
    for signature in ("", browser.token.rsplit(".", 1)[1]):
        forged = _unsigned({"alg": alg, "typ": "JWT", "kid": "j1"}, claims, signature)
        assert await _status(gateway, browser.ip, forged) == 401


async def test_hs256_signed_with_our_public_key_is_refused(
    gateway: GatewayUnderTest, victim: Any
) -> None:
    import hashlib
    import hmac

    browser, claims = victim
    public_pem = (
        _private_key(gateway, "j1")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header_claims = _unsigned({"alg": "HS256", "typ": "JWT", "kid": "j1"}, claims)[:-1]
    signature = _b64(hmac.new(public_pem, header_claims.encode(), hashlib.sha256).digest())
    assert await _status(gateway, browser.ip, f"{header_claims}.{signature}") == 401


@pytest.mark.parametrize(
    "header",
    [
        {"kid": "unknown"},
        {"kid": "../../../../dev/null"},
        {"kid": "j1' OR '1'='1"},
        {"kid": "j1", "jku": "http://127.0.0.1:9/jwks.json"},
        {"kid": "j1", "x5u": "http://127.0.0.1:9/cert.pem"},
        {"kid": "j1", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"kid": "j1", "x5c": ["MIIB"]},
        {},
    ],
)
async def test_malicious_headers_are_refused(
    gateway: GatewayUnderTest, victim: Any, header: dict[str, Any]
) -> None:
    browser, claims = victim
    token = jwt.encode(claims, _private_key(gateway, "j1"), algorithm="RS256", headers=header)
    if "kid" not in header:
        token = jwt.encode(claims, _private_key(gateway, "j1"), algorithm="RS256")
    assert await _status(gateway, browser.ip, token) == 401


def _mutations(claims: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    now = int(time.time())
    cases = [
        ("expired", {**claims, "iat": now - 4000, "nbf": now - 4000, "exp": now - 3000}),
        ("not yet valid", {**claims, "nbf": now + 600, "iat": now}),
        ("wrong iss", {**claims, "iss": "https://evil.example"}),
        ("wrong aud", {**claims, "aud": "someone-else"}),
        ("refresh typ", {**claims, "typ": "refresh"}),
        ("id typ", {**claims, "typ": "id"}),
        ("bad role", {**claims, "role": "superadmin"}),
        ("bad sub", {**claims, "sub": "not-a-uuid"}),
        ("unknown two-factor state", {**claims, "tfa": "done"}),
        ("two-factor state not a string", {**claims, "tfa": True}),
    ]
    for required in ("exp", "iat", "nbf", "iss", "aud", "sub", "jti", "tid", "role", "typ"):
        cases.append((f"missing {required}", {k: v for k, v in claims.items() if k != required}))
    return cases


async def test_altered_claims_are_refused(gateway: GatewayUnderTest, victim: Any) -> None:
    browser, claims = victim
    key = _private_key(gateway, "j1")
    for name, mutated in _mutations(claims):
        token = jwt.encode(mutated, key, algorithm="RS256", headers={"kid": "j1"})
        assert await _status(gateway, browser.ip, token) == 401, name


async def test_tampered_payload_is_refused(gateway: GatewayUnderTest, victim: Any) -> None:
    browser, claims = victim
    header, _, signature = browser.token.split(".")
    other_tenant = {**claims, "tid": str(uuid.uuid4())}
    forged = f"{header}.{_b64(json.dumps(other_tenant).encode())}.{signature}"
    assert await _status(gateway, browser.ip, forged) == 401


async def test_key_rotation(gateway: GatewayUnderTest, victim: Any) -> None:
    browser, claims = victim
    # A token signed by the other published key (the next or previous one) still verifies.
    older = jwt.encode(
        claims, _private_key(gateway, "j2"), algorithm="RS256", headers={"kid": "j2"}
    )
    assert await _status(gateway, browser.ip, older) == 200
    # A key that is no longer configured verifies nothing, even under a known kid.
    removed = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in ("j1", "j3"):
        token = jwt.encode(claims, removed, algorithm="RS256", headers={"kid": kid})
        assert await _status(gateway, browser.ip, token) == 401


async def test_garbage_authorization_headers(gateway: GatewayUnderTest) -> None:
    browser = gateway.browser()
    for header in (
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b.c",
        "Bearer " + "A" * 5000,
        "bearer eyJ.eyJ.sig",
    ):
        status, body, _ = await browser.request(
            "GET", "/api/v1/me", headers={"Authorization": header}
        )
        assert status == 401, header
        assert body["status"] == 401
