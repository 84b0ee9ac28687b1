"""The verifier's short memory of verified tokens never accepts what a full check would refuse."""

from __future__ import annotations

import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from majlis.http.tokens import InvalidToken, TokenSigner, TokenVerifier

ISSUER, AUDIENCE = "https://majlis.test", "majlis-api"


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return TokenSigner({"k1": key}, "k1", issuer=ISSUER, audience=AUDIENCE)


def verifier_for(signer: TokenSigner) -> TokenVerifier:
    return TokenVerifier(signer.public_keys(), issuer=ISSUER, audience=AUDIENCE, leeway=0)


def test_a_remembered_token_gives_the_same_claims(signer: TokenSigner) -> None:
    verifier = verifier_for(signer)
    token, issued = signer.issue(user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role="agent")
    assert verifier.decode(token) == issued
    assert verifier.decode(token) == issued


def test_an_altered_token_is_refused_after_the_genuine_one_was_remembered(
    signer: TokenSigner,
) -> None:
    verifier = verifier_for(signer)
    token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role="viewer")
    verifier.decode(token)
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for altered in (f"{head}.{payload}.{flipped}", token + "x", " " + token):
        with pytest.raises(InvalidToken):
            verifier.decode(altered)


def test_a_remembered_token_still_expires(signer: TokenSigner) -> None:
    verifier = verifier_for(signer)
    token, claims = signer.issue(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        role="owner",
        now=time.time() - 59,
        ttl_seconds=60,
    )
    assert verifier.decode(token) == claims
    time.sleep(max(claims.expires_at - time.time(), 0) + 0.05)
    with pytest.raises(InvalidToken):
        verifier.decode(token)
