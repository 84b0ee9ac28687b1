"""Accounts and sessions through the running gateway: register, login, refresh, logout,
password change, cookies, password policy and hashing."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

from majlis.db import tenant_transaction
from majlis.testing.browser import PASSWORD, GatewayUnderTest, fresh_email


def _set_cookie_headers(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getall("Set-Cookie", [])}


async def test_login_sets_host_cookies_and_returns_a_bearer_token(
    gateway: GatewayUnderTest,
) -> None:
    _browser, email, _ = await gateway.owner()
    fresh = gateway.browser()
    status, body, response = await fresh.request(
        "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert 850 <= body["expires_in"] <= 900
    cookies = _set_cookie_headers(response)
    refresh = cookies["__Host-majlis_refresh"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in refresh
    assert "Domain" not in refresh
    csrf = cookies["__Host-majlis_csrf"]
    assert "Secure" in csrf
    assert "HttpOnly" not in csrf
    assert body["access_token"] not in str(response.url)


async def test_unknown_email_and_wrong_password_look_the_same(
    gateway: GatewayUnderTest,
) -> None:
    _, email, _ = await gateway.owner()
    unknown_times: list[float] = []
    wrong_times: list[float] = []
    bodies = []
    for _ in range(5):  # the account locks after five failures, so five is the most
        for target, times in ((fresh_email("ghost"), unknown_times), (email, wrong_times)):
            browser = gateway.browser()
            started = time.perf_counter()
            status, body, _ = await browser.request(
                "POST", "/api/v1/auth/login", json={"email": target, "password": "Wrong pass 1"}
            )
            times.append(time.perf_counter() - started)
            assert status == 401
            body.pop("instance", None)
            bodies.append(body)
    assert all(b == bodies[0] for b in bodies)
    # The dummy hash is verified for unknown emails: the two take comparable time.
    ratio = statistics.median(unknown_times) / statistics.median(wrong_times)
    assert 0.5 < ratio < 2.0, (unknown_times, wrong_times)


async def test_duplicate_registration_is_refused_and_leaves_nothing(
    gateway: GatewayUnderTest, admin_pool: Any
) -> None:
    _, email, _ = await gateway.owner()
    business = f"Dup {uuid.uuid4().hex[:8]}"
    status, body, _ = await gateway.browser().request(
        "POST",
        "/api/v1/auth/register",
        json={"business_name": business, "name": "X", "email": email.upper(), "password": PASSWORD},
    )
    assert status == 409
    assert email not in str(body)
    assert await admin_pool.fetchval("SELECT count(*) FROM tenants WHERE name = $1", business) == 0


async def test_registration_rejects_unknown_fields(gateway: GatewayUnderTest) -> None:
    status, body, _ = await gateway.browser().request(
        "POST",
        "/api/v1/auth/register",
        json={
            "business_name": "B",
            "name": "N",
            "email": fresh_email(),
            "password": PASSWORD,
            "plan": "business",
        },
    )
    assert status == 422
    assert body["errors"][0]["field"] == "plan"


async def test_password_policy(gateway: GatewayUnderTest) -> None:
    for weak in ("short1!", "password123", "1234567890", "aaaaaaaaaaaaaaaa"):
        status, body, _ = await gateway.browser().request(
            "POST",
            "/api/v1/auth/register",
            json={"business_name": "B", "name": "N", "email": fresh_email(), "password": weak},
        )
        assert status == 422, weak
        assert body["type"].endswith("/weak-password")
    # Long Unicode passwords with spaces are taken exactly as given, never truncated.
    strong = "كلمة سر طويلة جداً 🌙 with spaces and ümlauts — " + "x" * 20
    assert len(strong) >= 64
    browser = gateway.browser()
    email, body = await browser.register(password=strong)
    gateway.tenants.append(uuid.UUID(body["tenant_id"]))
    assert (await browser.login(email, strong))[0] == 200
    assert (await gateway.browser().login(email, strong[:-1]))[0] == 401


async def test_hash_is_argon2id_and_upgraded_on_login(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    from argon2 import PasswordHasher

    _browser, email, tenant_id = await gateway.owner()
    old = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with tenant_transaction(db_pool, tenant_id) as conn:
        current = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
        assert current.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
        await conn.execute("UPDATE users SET password_hash = $1 WHERE email = $2", old, email)
    assert (await gateway.browser().login(email, "not the password"))[0] == 401
    async with tenant_transaction(db_pool, tenant_id) as conn:
        assert await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email) == old
    assert (await gateway.browser().login(email))[0] == 200
    async with tenant_transaction(db_pool, tenant_id) as conn:
        upgraded = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=3,p=1$")


async def test_refresh_rotates_and_reuse_revokes_the_family(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    browser, _, tenant_id = await gateway.owner()
    first_cookie = browser.cookies["__Host-majlis_refresh"]
    first_token = browser.token
    status, body, _ = await browser.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 200, body
    assert browser.cookies["__Host-majlis_refresh"] != first_cookie
    assert body["access_token"] != first_token
    second_cookie = browser.cookies["__Host-majlis_refresh"]
    # The old token after the grace window: reuse -> the whole family dies.
    await asyncio.sleep(gateway.settings.refresh_grace_seconds + 0.2)
    thief = gateway.browser()
    thief.cookies = {**browser.cookies, "__Host-majlis_refresh": first_cookie}
    status, _, _ = await thief.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 401
    status, _, _ = await browser.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 401, "the successor must be revoked with its family"
    assert browser.cookies.get("__Host-majlis_refresh") in (second_cookie, None)
    status, _, _ = await browser.request("GET", "/api/v1/me")
    assert status == 401, "access tokens of the revoked family die too"
    async with tenant_transaction(db_pool, tenant_id) as conn:
        reasons = await conn.fetch("SELECT revoked_reason FROM sessions")
    assert [r["revoked_reason"] for r in reasons] == ["reuse_detected"]


async def test_simultaneous_refreshes_inside_grace_get_the_same_successor(
    gateway: GatewayUnderTest,
) -> None:
    browser, _, _ = await gateway.owner()
    twin = gateway.browser(browser.ip)
    twin.cookies = dict(browser.cookies)
    results = await asyncio.gather(
        browser.request("POST", "/api/v1/auth/refresh", auth=False),
        twin.request("POST", "/api/v1/auth/refresh", auth=False),
    )
    assert [r[0] for r in results] == [200, 200]
    assert browser.cookies["__Host-majlis_refresh"] == twin.cookies["__Host-majlis_refresh"]
    # The family is intact: the successor keeps working.
    status, _, _ = await browser.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 200


async def test_logout_kills_the_access_token_and_the_family(gateway: GatewayUnderTest) -> None:
    browser, _, _ = await gateway.owner()
    token = browser.token
    saved_cookies = dict(browser.cookies)
    status, _, _ = await browser.request("POST", "/api/v1/auth/logout")
    assert status == 204
    assert "__Host-majlis_refresh" not in browser.cookies
    browser.token = token
    assert (await browser.request("GET", "/api/v1/me"))[0] == 401
    browser.cookies = saved_cookies  # a copy of the cookies kept by an attacker
    assert (await browser.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401


async def test_password_change_invalidates_every_session(gateway: GatewayUnderTest) -> None:
    browser, email, _ = await gateway.owner()
    other = gateway.browser()
    assert (await other.login(email))[0] == 200
    old_token, old_cookies = browser.token, dict(browser.cookies)
    new_password = "a brand new passphrase 2026"
    status, body, _ = await browser.request(
        "POST",
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert status == 200, body
    assert browser.token != old_token
    assert (await browser.request("GET", "/api/v1/me"))[0] == 200
    assert (await other.request("GET", "/api/v1/me"))[0] == 401
    assert (await other.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    stale = gateway.browser(browser.ip)
    stale.token = old_token
    assert (await stale.request("GET", "/api/v1/me"))[0] == 401
    stale.cookies = old_cookies
    assert (await stale.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    assert (await gateway.browser().login(email, PASSWORD))[0] == 401
    assert (await gateway.browser().login(email, new_password))[0] == 200


async def test_password_change_needs_the_current_password(gateway: GatewayUnderTest) -> None:
    browser, _, _ = await gateway.owner()
    status, _, _ = await browser.request(
        "POST",
        "/api/v1/auth/password",
        json={"current_password": "wrong wrong wrong", "new_password": "another fine phrase"},
    )
    assert status == 401
    assert (await browser.request("GET", "/api/v1/me"))[0] == 200


async def test_jwks_publishes_every_configured_key(gateway: GatewayUnderTest) -> None:
    status, body, _ = await gateway.browser().request("GET", "/.well-known/jwks.json")
    assert status == 200
    assert sorted(k["kid"] for k in body["keys"]) == ["j1", "j2"]
    assert all(k["alg"] == "RS256" and k["kty"] == "RSA" and "d" not in k for k in body["keys"])
