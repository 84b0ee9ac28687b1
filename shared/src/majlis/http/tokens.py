"""RS256 access tokens: the one place that signs them (gateway) and decodes them (everyone).

Decoding fixes the algorithm to RS256, requires every claim, accepts only ``kid`` values from
our configured key set, and rejects ``jku``/``x5u``/``jwk``/``x5c`` headers outright, so a token
can never make us fetch a key or trust one it carries.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from majlis.settings import Settings

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105  (a claim value, not a secret)
REQUIRED_CLAIMS = ("iss", "aud", "sub", "tid", "role", "jti", "iat", "nbf", "exp", "typ")
ROLES = frozenset({"owner", "admin", "agent", "viewer"})
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"})
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
Role = Literal["owner", "admin", "agent", "viewer"]


class InvalidToken(Exception):
    """The token is not a valid access token of ours; deliberately says nothing more."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified identity an access token carries."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    jti: str
    issued_at: int
    expires_at: int
    # The refresh family (sign-in) the token belongs to; None for tokens minted for API keys.
    session_id: uuid.UUID | None = None
    # Set on the short-lived tokens the gateway mints when it forwards an API-key request:
    # the subject is then the key's id and these are its scopes.
    scopes: tuple[str, ...] = ()
    # A sign-in whose business requires two-factor sign-in the user has not set up yet: the
    # token opens only the routes that set it up (claim "tfa": "setup"); everything else
    # answers 403 two-factor-setup-required.
    setup_only: bool = False


def _parse_key_spec(spec: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, sep, encoded = item.partition(":")
        if not sep or not _KID.match(kid) or kid in keys:
            raise ValueError("JWT key entries must be unique 'kid:base64(PEM)' pairs")
        keys[kid] = base64.b64decode(encoded, validate=True)
    return keys


# How long and how many verified tokens a verifier remembers (see TokenVerifier.decode).
VERIFIED_CACHE_SECONDS = 60.0
VERIFIED_CACHE_SIZE = 10_000


class TokenVerifier:
    """Verifies access tokens against the published public keys (a JWKS in memory)."""

    def __init__(
        self,
        public_keys: dict[str, rsa.RSAPublicKey],
        *,
        issuer: str,
        audience: str,
        leeway: int = 30,
    ) -> None:
        """Verify with exactly these keys; nothing is ever fetched."""
        if not public_keys:
            raise ValueError("no JWT public keys configured")
        self._keys = dict(public_keys)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        # Verified tokens, briefly: a dashboard sends the same token for 15 minutes and every
        # hop (gateway, then the back end) verifies it; the RSA check and pyjwt's parsing cost
        # about half a millisecond each time. Expiry is re-checked on every hit; revocation is
        # not this cache's business (RevocationStore is asked on every request).
        self._verified: OrderedDict[str, tuple[AccessClaims, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """Public keys from MAJLIS_JWT_PUBLIC_KEYS, or derived from the signing keys."""
        spec = settings.jwt_public_keys or ""
        keys: dict[str, rsa.RSAPublicKey] = {}
        if spec:
            for kid, pem in _parse_key_spec(spec).items():
                public = serialization.load_pem_public_key(pem)
                if not isinstance(public, rsa.RSAPublicKey):
                    raise ValueError("JWT public keys must be RSA")
                keys[kid] = public
        else:
            signer = TokenSigner.from_settings(settings)
            keys = signer.public_keys()
        return cls(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
        )

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set clients may use to verify our tokens."""
        keys = []
        for kid, public in self._keys.items():
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
            jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def decode(self, token: str) -> AccessClaims:
        """Verify a token completely (or recall that it was, moments ago) or raise InvalidToken."""
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None:
            claims, until = hit
            if now < until and now < claims.expires_at + self.leeway:
                return claims
            del self._verified[token]
        claims = self._verify(token)
        self._verified[token] = (claims, now + VERIFIED_CACHE_SECONDS)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken from None
        kid = header.get("kid")
        if (
            header.get("alg") != ALGORITHM
            or not isinstance(kid, str)
            or kid not in self._keys
            or _FORBIDDEN_HEADERS.intersection(header)
        ):
            raise InvalidToken
        try:
            claims = jwt.decode(  # noqa: TID251  (this is the chokepoint the ban points to)
                token,
                key=self._keys[kid],
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
            )
        except jwt.PyJWTError:
            raise InvalidToken from None
        return _claims(claims)


def _claims(claims: dict[str, Any]) -> AccessClaims:
    try:
        if claims["typ"] != ACCESS_TOKEN_TYPE or claims["role"] not in ROLES:
            raise InvalidToken
        jti = claims["jti"]
        if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
            raise InvalidToken
        sid = claims.get("sid")
        scopes = claims.get("scp", [])
        if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
            raise InvalidToken
        tfa = claims.get("tfa")
        if tfa not in (None, "setup"):
            raise InvalidToken
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            tenant_id=uuid.UUID(str(claims["tid"])),
            role=claims["role"],
            jti=jti,
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            session_id=uuid.UUID(str(sid)) if sid is not None else None,
            scopes=tuple(scopes),
            setup_only=tfa == "setup",
        )
    except (ValueError, TypeError, KeyError):
        raise InvalidToken from None


class TokenSigner:
    """Signs access tokens with the active private key (the gateway only)."""

    def __init__(
        self,
        private_keys: dict[str, rsa.RSAPrivateKey],
        active_kid: str,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int = 900,
    ) -> None:
        """Sign with ``active_kid``; the other keys are kept to publish their public halves."""
        if active_kid not in private_keys:
            raise ValueError("the active JWT key id names no configured key")
        self._keys = dict(private_keys)
        self._active = active_kid
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenSigner:
        """Keys from MAJLIS_JWT_SIGNING_KEYS; new tokens use MAJLIS_JWT_ACTIVE_KEY_ID."""
        keys: dict[str, rsa.RSAPrivateKey] = {}
        for kid, pem in _parse_key_spec(settings.jwt_signing_keys.get_secret_value()).items():
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < 2048:
                raise ValueError("JWT signing keys must be RSA of at least 2048 bits")
            keys[kid] = private
        return cls(
            keys,
            settings.jwt_active_key_id,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        )

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """The public half of every configured key, for verification and the JWKS."""
        return {kid: key.public_key() for kid, key in self._keys.items()}

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: Role,
        session_id: uuid.UUID | None = None,
        now: float | None = None,
        ttl_seconds: int | None = None,
        scopes: tuple[str, ...] = (),
        setup_only: bool = False,
    ) -> tuple[str, AccessClaims]:
        """A fresh access token and the claims it carries."""
        issued = int(now if now is not None else time.time())
        lifetime = ttl_seconds if ttl_seconds is not None else self.ttl_seconds
        claims = AccessClaims(
            user_id,
            tenant_id,
            role,
            uuid.uuid4().hex,
            issued,
            issued + lifetime,
            session_id,
            scopes,
            setup_only,
        )
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "tid": str(tenant_id),
            "role": role,
            "jti": claims.jti,
            "iat": issued,
            "nbf": issued,
            "exp": claims.expires_at,
            "typ": ACCESS_TOKEN_TYPE,
        }
        if session_id is not None:
            payload["sid"] = str(session_id)
        if scopes:
            payload["scp"] = list(scopes)
        if setup_only:
            payload["tfa"] = "setup"
        token = jwt.encode(
            payload, self._keys[self._active], algorithm=ALGORITHM, headers={"kid": self._active}
        )
        return token, claims


def generate_private_key_pem() -> bytes:
    """A new 2048-bit RSA private key in PKCS#8 PEM, for developer and test set-up."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
