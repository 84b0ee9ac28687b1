"""Request authentication for every service: verify the bearer access token ourselves.

Services behind the gateway trust nothing it says: each verifies the RS256 signature and
claims with the shared TokenVerifier and checks revocation in Redis (fail closed: 503 when
Redis cannot answer).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import asyncpg
from aiohttp import web

from majlis.db import tenant_transaction
from majlis.http.problems import ProblemError
from majlis.http.revocation import RevocationStore
from majlis.http.tokens import AccessClaims, InvalidToken, Role, TokenVerifier
from majlis.ratelimit import RedisUnavailable

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="majlis"'}


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: a signed-in user (session) or a tenant API key."""

    kind: Literal["session", "api_key"]
    tenant_id: UUID
    principal_id: UUID  # user id for sessions, key id for API keys
    role: Role
    claims: AccessClaims | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def session_id(self) -> UUID | None:
        """The sign-in this identity came from, if any."""
        return self.claims.session_id if self.claims else None


IDENTITY: web.RequestKey[Identity] = web.RequestKey("identity", Identity)


def unauthorized(title: str = "Authentication required") -> ProblemError:
    """401 with a WWW-Authenticate challenge and nothing else."""
    return ProblemError(401, title, headers=dict(_UNAUTHORIZED))


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


TWO_FACTOR_SETUP_REQUIRED = ProblemError(
    403,
    "Your business requires two-factor sign-in: set it up to continue",
    slug="two-factor-setup-required",
)


class Authenticator:
    """Verifies access tokens and their revocation state."""

    def __init__(self, verifier: TokenVerifier, revocations: RevocationStore) -> None:
        """Use this verifier (public keys only) and revocation store."""
        self.verifier = verifier
        self.revocations = revocations

    async def claims_for(self, token: str) -> AccessClaims:
        """Verified, unrevoked claims, or ProblemError 401/503."""
        try:
            claims = self.verifier.decode(token)
        except InvalidToken:
            raise unauthorized("Invalid or expired access token") from None
        try:
            if await self.revocations.is_revoked(claims):
                raise unauthorized("Invalid or expired access token")
        except RedisUnavailable:
            raise ProblemError(
                503, "Authentication is temporarily unavailable", headers={"Retry-After": "5"}
            ) from None
        return claims

    async def authenticate(
        self, request: web.Request, *, setup_only_allowed: bool = False
    ) -> Identity:
        """The identity of a request carrying an access token; 401 otherwise. A token that may
        only set up two-factor sign-in (AccessClaims.setup_only) is refused with 403 unless the
        route is one of those (`setup_only_allowed`, the gateway's few)."""
        token = bearer_token(request)
        if token is None:
            raise unauthorized()
        claims = await self.claims_for(token)
        if claims.setup_only and not setup_only_allowed:
            raise TWO_FACTOR_SETUP_REQUIRED
        kind: Literal["session", "api_key"] = "api_key" if claims.scopes else "session"
        identity = Identity(
            kind, claims.tenant_id, claims.user_id, claims.role, claims, frozenset(claims.scopes)
        )
        request[IDENTITY] = identity
        return identity


def caller_transaction(
    pool: asyncpg.Pool[Any], identity: Identity, *, readonly: bool = False
) -> AbstractAsyncContextManager[asyncpg.Connection[Any]]:
    """A tenant transaction as the authenticated caller: their tenant, role and id."""
    return tenant_transaction(
        pool, identity.tenant_id, identity.role, user_id=identity.principal_id, readonly=readonly
    )
