"""Everything the gateway's views need, built once in the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from gateway.abuse import IpBlocker, LoginGuard
from gateway.client_ip import Network, parse_trusted
from gateway.keys import GatewayKeys
from gateway.two_factor_challenges import SignInChallenges
from majlis.crypto import FieldCipher, KeyRing
from majlis.http.auth import Authenticator, Identity, caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL, REDIS, egress_policy
from majlis.http.revocation import RevocationStore
from majlis.http.tokens import TokenSigner, TokenVerifier
from majlis.meta import GraphClient
from majlis.net.egress import EgressPolicy, egress_session, internal_hosts, internal_session
from majlis.ratelimit import RateLimiter
from majlis.settings import Settings


@dataclass(frozen=True)
class GatewayContext:
    settings: Settings
    pool: asyncpg.Pool[Any]
    redis: aioredis.Redis
    keys: GatewayKeys
    signer: TokenSigner
    verifier: TokenVerifier
    revocations: RevocationStore
    authenticator: Authenticator
    limiter: RateLimiter
    login_guard: LoginGuard
    challenges: SignInChallenges
    ip_blocker: IpBlocker
    trusted_proxies: tuple[Network, ...]
    cipher: FieldCipher
    http: aiohttp.ClientSession  # to the platform's own back ends only
    graph: GraphClient
    egress: EgressPolicy

    @property
    def refresh_lifetime(self) -> timedelta:
        """How long a sign-in lasts."""
        return timedelta(days=self.settings.refresh_token_lifetime_days)

    @property
    def refresh_grace(self) -> timedelta:
        """How long a used refresh token still yields its successor."""
        return timedelta(seconds=self.settings.refresh_grace_seconds)


def as_caller(
    ctx: GatewayContext, identity: Identity, *, readonly: bool = False
) -> AbstractAsyncContextManager[asyncpg.Connection[Any]]:
    """A tenant transaction as the signed-in caller: their tenant, role and user id."""
    return caller_transaction(ctx.pool, identity, readonly=readonly)


CONTEXT: web.AppKey[GatewayContext] = web.AppKey("gateway_context", GatewayContext)


def validate_settings(settings: Settings) -> None:
    """Fail at start-up, not on the first request, when a secret is missing or malformed."""
    GatewayKeys.from_settings(settings)
    TokenSigner.from_settings(settings)
    parse_trusted(settings.trusted_proxies)
    KeyRing.from_settings(settings)


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build the context after the pool and Redis exist; close the HTTP session at the end."""
    settings = app[SETTINGS]
    redis = app[REDIS]
    prefix = settings.redis_prefix
    signer = TokenSigner.from_settings(settings)
    verifier = TokenVerifier(
        signer.public_keys(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    revocations = RevocationStore(
        redis,
        prefix,
        issuer=settings.jwt_issuer,
        max_token_ttl=settings.access_token_ttl_seconds,
        leeway=settings.jwt_leeway_seconds,
    )
    # The proxy may reach only the configured back ends; Meta goes through the egress list.
    http = internal_session(
        EgressPolicy(internal_hosts(settings), kind="internal"),
        timeout=aiohttp.ClientTimeout(total=settings.proxy_timeout_seconds),
    )
    egress = egress_policy(app)
    graph_http = egress_session(egress)
    keys = GatewayKeys.from_settings(settings)
    app[CONTEXT] = GatewayContext(
        settings=settings,
        pool=app[DB_POOL],
        redis=redis,
        keys=keys,
        signer=signer,
        verifier=verifier,
        revocations=revocations,
        authenticator=Authenticator(verifier, revocations),
        limiter=RateLimiter(redis, prefix),
        login_guard=LoginGuard(
            redis,
            prefix,
            base_lock_seconds=settings.lockout_base_seconds,
            max_lock_seconds=settings.lockout_max_seconds,
        ),
        challenges=SignInChallenges(redis, prefix, keys.sign_in_challenge),
        ip_blocker=IpBlocker(
            redis,
            prefix,
            strikes=settings.ip_block_strikes,
            strike_window_seconds=settings.ip_block_window_seconds,
            block_seconds=settings.ip_block_seconds,
        ),
        trusted_proxies=parse_trusted(settings.trusted_proxies),
        cipher=FieldCipher(KeyRing.from_settings(settings)),
        http=http,
        graph=GraphClient.from_settings(graph_http, settings),
        egress=egress,
    )
    yield
    await http.close()
    await graph_http.close()
