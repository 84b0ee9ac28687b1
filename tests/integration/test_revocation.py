"""Per-user token epochs in the real Redis: a revocation kills every token issued before it,
also those dated ahead by the revocation just before."""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

from majlis.http.revocation import RevocationStore
from majlis.http.tokens import AccessClaims


def _claims(user_id: uuid.UUID, issued_at: int) -> AccessClaims:
    return AccessClaims(
        user_id, uuid.uuid4(), "owner", uuid.uuid4().hex, issued_at, issued_at + 900
    )


async def test_a_second_revocation_in_the_same_second_kills_the_tokens_between(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    """Turning two-factor sign-in on, a new sign-in, then deactivation, all within a second:
    the sign-in's token (dated a second ahead to survive the first) must not survive the
    second."""
    store = RevocationStore(redis_client, prefix, issuer="majlis", max_token_ttl=900)
    user = uuid.uuid4()
    now = 1_800_000_000.4
    first = await store.revoke_user_tokens(user, now=now)
    assert await store.is_revoked(_claims(user, int(now)))
    issued = await store.earliest_iat(user, now=now)
    assert issued == first + 1
    between = _claims(user, issued)
    assert not await store.is_revoked(between)

    second = await store.revoke_user_tokens(user, now=now)
    assert second > first
    assert await store.is_revoked(between)
    fresh = _claims(user, await store.earliest_iat(user, now=now))
    assert not await store.is_revoked(fresh)
    # The epoch never moves back, whatever clock a later caller has.
    assert await store.revoke_user_tokens(user, now=now - 60) > second
    assert await store.is_revoked(fresh)
    assert not await store.is_revoked(_claims(uuid.uuid4(), int(now)))  # others untouched


async def test_a_denied_token_is_keyed_by_issuer_and_jti_and_kept_only_while_it_could_live(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    """Checklist 15: the denylist entry is (iss, jti) and expires once the token would have
    (plus the verifier's leeway), so the list never grows without bound; other tokens, and the
    same jti from another issuer, are not denied."""
    store = RevocationStore(redis_client, prefix, issuer="majlis", max_token_ttl=900)
    now = time.time()
    claims = AccessClaims(
        uuid.uuid4(), uuid.uuid4(), "agent", uuid.uuid4().hex, int(now), int(now) + 300
    )
    await store.deny(claims, now=now)
    keys = [key.decode() async for key in redis_client.scan_iter(match=f"{prefix}auth:deny:*")]
    assert keys == [f"{prefix}auth:deny:majlis:{claims.jti}"]
    ttl = await redis_client.ttl(keys[0])
    assert 300 < ttl <= 300 + 30 + 1
    assert await store.is_revoked(claims)
    other = AccessClaims(
        claims.user_id, claims.tenant_id, "agent", uuid.uuid4().hex, int(now), int(now) + 300
    )
    assert not await store.is_revoked(other)
    elsewhere = RevocationStore(redis_client, prefix, issuer="another", max_token_ttl=900)
    assert not await elsewhere.is_revoked(claims)
