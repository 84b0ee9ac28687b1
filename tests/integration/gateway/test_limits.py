"""Abuse controls at the edge: per-IP limits, account lockout, IP blocks, spoofed
X-Forwarded-For, exact limits across two gateway processes, and failing closed without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.context import CONTEXT
from majlis.testing.benchmarks import free_port
from majlis.testing.browser import PASSWORD, GatewayUnderTest, fresh_email, fresh_ip


async def test_login_limit_per_ip(gateway: GatewayUnderTest) -> None:
    browser = gateway.browser()
    statuses = []
    for _ in range(6):
        status, body, response = await browser.request(
            "POST",
            "/api/v1/auth/login",
            json={"email": fresh_email("ghost"), "password": "nope nope nope"},
        )
        statuses.append(status)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["RateLimit-Limit"] == "5"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert body["type"].endswith("/rate-limited")
    # Another address is not affected.
    assert (
        await gateway.browser().request(
            "POST",
            "/api/v1/auth/login",
            json={"email": fresh_email("ghost"), "password": "nope nope nope"},
        )
    )[0] == 401


async def test_registration_limit_per_ip(gateway: GatewayUnderTest) -> None:
    browser = gateway.browser()
    statuses = []
    for _ in range(4):
        status, body, _ = await browser.request(
            "POST",
            "/api/v1/auth/register",
            json={
                "business_name": "Spam",
                "name": "S",
                "email": fresh_email(),
                "password": PASSWORD,
            },
        )
        statuses.append(status)
        if status == 201:
            import uuid

            gateway.tenants.append(uuid.UUID(body["tenant_id"]))
    assert statuses == [201, 201, 201, 429]


async def test_lockout_after_five_failures_from_many_ips(gateway: GatewayUnderTest) -> None:
    _, email, _ = await gateway.owner()
    _, bystander, _ = await gateway.owner()
    for _ in range(5):
        status, _ = await gateway.browser().login(email, "wrong password!!")
        assert status == 401
    status, body = await gateway.browser().login(email)  # even the right password
    assert status == 429
    assert body["type"].endswith("/account-locked")
    assert (await gateway.browser().login(bystander))[0] == 200
    # The lock ends by itself (2 s in this test configuration) ...
    await asyncio.sleep(gateway.settings.lockout_base_seconds + 0.3)
    assert (await gateway.browser().login(email))[0] == 200
    # ... and the next lock lasts twice as long.
    for _ in range(5):
        await gateway.browser().login(email, "wrong password!!")
    status, body, response = await gateway.browser().request(
        "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert status == 429
    assert int(response.headers["Retry-After"]) > gateway.settings.lockout_base_seconds


async def test_unknown_accounts_lock_like_real_ones(gateway: GatewayUnderTest) -> None:
    ghost = fresh_email("ghost")
    results = [(await gateway.browser().login(ghost, "whatever pass"))[0] for _ in range(6)]
    assert results == [401] * 5 + [429]


@pytest.fixture
async def strict_gateway(gateway_factory: Any) -> AsyncIterator[GatewayUnderTest]:
    """A gateway that blocks an IP after two refusals and trusts no proxy at all."""
    under_test: GatewayUnderTest = await gateway_factory(
        ip_block_strikes=2, ip_block_seconds=60, trusted_proxies=()
    )
    # Every test without a trusted proxy speaks from 127.0.0.1 (the e2e launcher test signs in
    # from there too): start from an empty window for that address.
    await under_test.app[CONTEXT].limiter.reset("login", "127.0.0.1")
    yield under_test
    # Other tests share 127.0.0.1 as their real peer: never leave it blocked.
    await under_test.app[CONTEXT].ip_blocker.unblock("127.0.0.1")


async def test_spoofed_forwarded_for_changes_nothing_and_repeat_offenders_are_blocked(
    strict_gateway: GatewayUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    member = strict_gateway.browser()
    email, _ = await member.register()
    status, _ = await member.login(email)
    assert status == 200
    assert (await member.request("GET", "/api/v1/me"))[0] == 200
    await strict_gateway.app[CONTEXT].limiter.reset("login", "127.0.0.1")  # that sign-in's
    browser = strict_gateway.browser()
    statuses = []
    for n in range(8):
        browser.ip = f"203.0.113.{n}"  # a new spoofed address on every request
        status, _, _ = await browser.request(
            "POST",
            "/api/v1/auth/login",
            json={"email": fresh_email("ghost"), "password": "nope nope nope"},
        )
        statuses.append(status)
    # One key (the real peer) for all of them: 5 allowed, then refused, then blocked.
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    status, body, _response = await browser.request("GET", "/api/v1/openapi.json")
    assert status == 429
    assert body["type"].endswith("/ip-blocked")
    # A blocked address hears so whatever its token: a valid session's, a forged one, none.
    for headers in ({}, {"Authorization": "Bearer forged.token.here"}):
        status, body, _response = await member.request("GET", "/api/v1/me", headers=headers)
        assert status == 429, body
        assert body["type"].endswith("/ip-blocked")
    logged = capsys.readouterr().out
    assert "203.0.113." not in logged
    assert "127.0.0.1" in logged
    # The block is visible to, and removable by, the operator command.
    env = os.environ | {"MAJLIS_REDIS_PREFIX": strict_gateway.settings.redis_prefix}
    listing = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.blocks",
        "list",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await listing.communicate()
    assert "127.0.0.1" in out.decode()
    unblock = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.blocks",
        "unblock",
        "127.0.0.1",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await unblock.wait() == 0
    assert (await browser.request("GET", "/api/v1/openapi.json"))[0] == 200


@pytest.fixture
async def redisless_gateway(gateway_factory: Any) -> GatewayUnderTest:
    """A gateway whose Redis does not answer (nothing listens on port 1)."""
    from pydantic import SecretStr

    under_test: GatewayUnderTest = await gateway_factory(
        redis_url=SecretStr("redis://127.0.0.1:1/0")
    )
    return under_test


async def test_redis_down_fails_closed(
    gateway: GatewayUnderTest, redisless_gateway: GatewayUnderTest
) -> None:
    healthy, email, _ = await gateway.owner()
    broken = redisless_gateway.browser(healthy.ip)
    broken.cookies = dict(healthy.cookies)
    broken.token = healthy.token
    status, body, response = await broken.request(
        "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert status == 503
    assert "access_token" not in body
    assert "Set-Cookie" not in response.headers
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert (await broken.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 503
    # Every other call fails closed too (no limit and no revocation check can be trusted):
    # the gateway's own, a proxied one, and an unknown path. Each says when to come back.
    for method, path in (
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/no-such-thing"),
    ):
        status, body, response = await broken.request(method, path)
        assert status == 503, (path, body)
        assert response.headers["Retry-After"] == "5", path
        assert body["status"] == 503, path
    assert (await broken.request("GET", "/readyz"))[0] == 503


def _free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]


async def _wait_ready(session: aiohttp.ClientSession, port: int) -> None:
    for _ in range(100):
        try:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"gateway on {port} never became ready")


async def test_limits_are_exact_across_two_gateway_processes(
    gateway: GatewayUnderTest, graph_simulator: str
) -> None:
    ports = _free_ports(2)
    processes = []
    for port in ports:
        env = os.environ | {
            "MAJLIS_GATEWAY_PORT": str(port),
            "MAJLIS_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
            "MAJLIS_GRAPH_API_URL": graph_simulator,
            "MAJLIS_LOG_LEVEL": "warning",
        }
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    try:
        async with aiohttp.ClientSession() as session:
            for port in ports:
                await _wait_ready(session, port)
            ip = fresh_ip()

            async def attempt(port: int) -> int:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/v1/auth/login",
                    json={"email": fresh_email("ghost"), "password": "nope nope nope"},
                    headers={"X-Forwarded-For": ip},
                ) as response:
                    return response.status

            # 2N = 10 simultaneous attempts against the login limit N = 5, split over both.
            statuses = await asyncio.gather(*(attempt(ports[i % 2]) for i in range(10)))
        assert sorted(statuses) == [401] * 5 + [429] * 5
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            await proc.wait()
