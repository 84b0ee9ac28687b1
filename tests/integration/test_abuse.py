"""Login lockout and IP blocks against the real Redis, and the operator command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.abuse import IpBlocker, LockState, LoginGuard
from majlis.ratelimit import RedisUnavailable


async def fail_times(guard: LoginGuard, account: str, times: int) -> list[LockState]:
    """Record `times` failed logins in a row."""
    return [await guard.record_failure(account) for _ in range(times)]


async def login(guard: LoginGuard, account: str, *, password_ok: bool) -> str:
    """What the login view does: check the lock first, then verify, then record."""
    if (await guard.check(account)).locked:
        return "locked"
    if not password_ok:
        await guard.record_failure(account)
        return "wrong"
    await guard.record_success(account)
    return "ok"


async def wait_unlocked(guard: LoginGuard, account: str, within: float = 3.0) -> None:
    """Poll until the account's lock has expired."""
    async with asyncio.timeout(within):
        while True:
            if not (await guard.check(account)).locked:
                return
            await asyncio.sleep(0.02)


async def test_five_failures_lock_that_account_only(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(redis_client, prefix)
    states = await fail_times(guard, "acct-a", 5)
    assert [s.locked for s in states] == [False, False, False, False, True]
    assert [s.failures for s in states[:4]] == [1, 2, 3, 4]
    assert states[4].just_locked
    assert states[4].retry_after == 60
    check = await guard.check("acct-a")
    assert check.locked
    assert not check.just_locked
    assert 59 < check.reset_after <= 60
    assert not (await guard.check("acct-b")).locked
    assert (await guard.record_failure("acct-b")).failures == 1


async def test_locked_account_refuses_the_right_password(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(redis_client, prefix)
    assert [await login(guard, "acct", password_ok=False) for _ in range(5)] == ["wrong"] * 5
    assert await login(guard, "acct", password_ok=True) == "locked"
    assert await login(guard, "other", password_ok=True) == "ok"
    # A failure recorded while locked neither re-locks nor extends the lock.
    before = await guard.check("acct")
    during = await guard.record_failure("acct")
    assert during.locked
    assert not during.just_locked
    assert during.reset_after <= before.reset_after


async def test_lock_expires_then_doubles_up_to_the_cap(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(
        redis_client, prefix, max_failures=2, base_lock_seconds=0.2, max_lock_seconds=0.5
    )
    lengths = []
    for _ in range(3):
        *_, state = await fail_times(guard, "acct", 2)
        assert state.just_locked
        assert state.retry_after == 1
        lengths.append(state.reset_after)
        await wait_unlocked(guard, "acct")
    assert lengths == [0.2, 0.4, 0.5]
    assert await login(guard, "acct", password_ok=True) == "ok"


async def test_escalation_decays_after_a_quiet_period(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(
        redis_client, prefix, max_failures=1, base_lock_seconds=0.2, decay_seconds=0.3
    )
    assert (await guard.record_failure("acct")).reset_after == 0.2
    await asyncio.sleep(0.2 + 0.3 + 0.1)
    assert (await guard.record_failure("acct")).reset_after == 0.2


async def test_success_clears_the_failure_count_but_not_a_lock(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(redis_client, prefix)
    await fail_times(guard, "acct", 4)
    await guard.record_success("acct")
    states = await fail_times(guard, "acct", 5)
    assert [s.locked for s in states] == [False, False, False, False, True]
    await guard.record_success("acct")
    assert (await guard.check("acct")).locked


async def test_failures_outside_the_window_do_not_count(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    guard = LoginGuard(redis_client, prefix, failure_window_seconds=0.3)
    await fail_times(guard, "acct", 4)
    await asyncio.sleep(0.35)
    assert (await guard.record_failure("acct")).failures == 1


async def test_account_key_must_not_be_an_email(redis_client: aioredis.Redis, prefix: str) -> None:
    guard = LoginGuard(redis_client, prefix)
    with pytest.raises(ValueError, match="hash emails"):
        await guard.check("owner@example.com")


async def test_strikes_block_an_ip_after_the_threshold(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    blocker = IpBlocker(redis_client, prefix, strikes=3, block_seconds=30)
    assert [await blocker.strike("198.51.100.1") for _ in range(3)] == [False, False, True]
    assert await blocker.blocked_for("198.51.100.1") == 30
    # The IPv4-mapped spelling is the same client.
    assert await blocker.blocked_for("::ffff:198.51.100.1") == 30
    assert not await blocker.strike("198.51.100.1")  # already blocked: no new block
    assert await blocker.blocked_for("198.51.100.2") == 0
    assert not await blocker.strike("198.51.100.2")


async def test_block_expires(redis_client: aioredis.Redis, prefix: str) -> None:
    blocker = IpBlocker(redis_client, prefix, strikes=1, block_seconds=0.3)
    assert await blocker.strike("2001:db8::5")
    assert await blocker.blocked_for("2001:db8::5") == 1
    await asyncio.sleep(0.35)
    assert await blocker.blocked_for("2001:db8::5") == 0


async def test_list_block_and_unblock(redis_client: aioredis.Redis, prefix: str) -> None:
    blocker = IpBlocker(redis_client, prefix, strikes=1, block_seconds=60)
    assert await blocker.list_blocks() == []
    assert await blocker.strike("198.51.100.1")
    await blocker.block("2001:DB8::1", 120)
    assert await blocker.list_blocks() == [("198.51.100.1", 60), ("2001:db8::1", 120)]
    assert await blocker.unblock("198.51.100.1")
    assert not await blocker.unblock("198.51.100.1")
    assert await blocker.blocked_for("198.51.100.1") == 0
    assert await blocker.list_blocks() == [("2001:db8::1", 120)]
    with pytest.raises(ValueError, match="at least 1"):
        await blocker.block("198.51.100.1", 0)
    with pytest.raises(ValueError, match="not an IP"):
        await blocker.block("example.com", 10)


async def run_blocks(prefix: str, *args: str) -> tuple[int, str, str]:
    """Run `python -m gateway.blocks` against this test's prefix."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.blocks",
        *args,
        env={**os.environ, "MAJLIS_REDIS_PREFIX": prefix},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 20)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_operator_command(redis_client: aioredis.Redis, prefix: str) -> None:
    blocker = IpBlocker(redis_client, prefix)
    results = await asyncio.gather(
        run_blocks(prefix, "block", "::ffff:198.51.100.9", "--seconds", "120"),
        run_blocks(prefix, "block", "not-an-ip", "--seconds", "5"),
        run_blocks(prefix, "block", "198.51.100.8", "--seconds", "0"),
        run_blocks(prefix, "unblock", "198.51.100.7"),
    )
    assert [code for code, _, _ in results] == [0, 1, 1, 1]
    assert results[0][1] == "blocked 198.51.100.9 for 120s\n"
    assert "not an IP address" in results[1][2]
    # The TTL counts down from 120 while the other three commands start (seconds when busy).
    [(ip, seconds)] = await blocker.list_blocks()
    assert ip == "198.51.100.9"
    assert 110 <= seconds <= 120

    code, out, _ = await run_blocks(prefix, "list")
    assert code == 0
    listed_ip, listed = out.strip().split("\t")
    assert listed_ip == "198.51.100.9"
    assert 110 <= int(listed) <= seconds

    code, out, _ = await run_blocks(prefix, "unblock", "198.51.100.9")
    assert (code, out) == (0, "unblocked 198.51.100.9\n")
    assert await blocker.blocked_for("198.51.100.9") == 0


async def test_redis_down_raises_from_every_method() -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    guard = LoginGuard(client, "majlis-test:down:")
    blocker = IpBlocker(client, "majlis-test:down:")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: guard.check("acct"),
        lambda: guard.record_failure("acct"),
        lambda: guard.record_success("acct"),
        lambda: blocker.blocked_for("198.51.100.1"),
        lambda: blocker.strike("198.51.100.1"),
        lambda: blocker.block("198.51.100.1", 10),
        lambda: blocker.unblock("198.51.100.1"),
        blocker.list_blocks,
    ]
    try:
        for call in calls:
            with pytest.raises(RedisUnavailable):
                await call()
    finally:
        await client.aclose()
