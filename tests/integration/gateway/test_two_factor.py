"""Two-factor sign-in through the running gateway: set up, turn on, sign in with a code or a
recovery code, replay and brute force, turn off, new recovery codes, a manager's reset, and the
secret's storage."""

from __future__ import annotations

import uuid
from typing import Any

from gateway.two_factor import code_at, current_step
from majlis.db import tenant_transaction
from majlis.testing.browser import PASSWORD, Browser, GatewayUnderTest


async def _turn_on(browser: Browser) -> tuple[str, list[str]]:
    """Set up and confirm an authenticator; returns its secret and the recovery codes."""
    status, setup, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert status == 200, setup
    secret = setup["secret"]
    status, body, _ = await browser.request(
        "POST",
        "/api/v1/auth/two-factor/enable",
        json={"code": code_at(secret, current_step())},
    )
    assert status == 200, body
    return secret, body["recovery_codes"]


def _next_code(secret: str) -> str:
    """A code the server has not seen: the step after the current one (within the drift)."""
    return code_at(secret, current_step() + 1)


def _wrong_code(secret: str) -> str:
    valid = {code_at(secret, current_step() + d) for d in (-1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if c not in valid)


async def _login(gateway: GatewayUnderTest, email: str, **extra: Any) -> tuple[int, Any]:
    status, body, _ = await gateway.browser().request(
        "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD, **extra}
    )
    return status, body


async def test_turning_it_on_signs_out_other_sessions_and_sign_in_then_needs_a_code(
    gateway: GatewayUnderTest,
) -> None:
    browser, email, _ = await gateway.owner()
    other = gateway.browser()
    assert (await other.login(email))[0] == 200
    old_token = browser.token
    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert (me["user"]["two_factor"], me["user"]["recovery_codes_left"]) == (False, None)

    status, setup, response = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert status == 200, setup
    assert response.headers["Cache-Control"] == "no-store"
    assert setup["otpauth_uri"].startswith("otpauth://totp/Majlis:")
    assert setup["qr_code"].startswith("data:image/svg+xml")
    assert setup["expires_in"] == 900
    # Not on until confirmed: sign-in still needs the password only.
    assert (await _login(gateway, email))[0] == 200

    secret = setup["secret"]
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/enable", json={"code": code_at(secret, current_step())}
    )
    assert status == 200, body
    assert set(body) == {"access_token", "token_type", "expires_in", "recovery_codes"}
    assert len(set(body["recovery_codes"])) == 10
    assert browser.token != old_token
    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert (me["user"]["two_factor"], me["user"]["recovery_codes_left"]) == (True, 10)
    # Every other session and the old access token are gone.
    assert (await other.request("GET", "/api/v1/me"))[0] == 401
    assert (await other.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    stale = gateway.browser()
    stale.token = old_token
    assert (await stale.request("GET", "/api/v1/me"))[0] == 401

    status, body = await _login(gateway, email)
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "two-factor-required")
    assert "access_token" not in body
    status, body = await _login(gateway, email, code=_wrong_code(secret))
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "invalid-two-factor-code")
    code = _next_code(secret)
    assert (await _login(gateway, email, code=code))[0] == 200
    # The same code never works twice, not even within its 30 seconds.
    assert (await _login(gateway, email, code=code))[0] == 401
    # A wrong password with a right code says nothing about the code.
    status, body, _ = await gateway.browser().request(
        "POST",
        "/api/v1/auth/login",
        json={"email": email, "password": "not the password", "code": _next_code(secret)},
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "invalid-credentials")


async def test_a_recovery_code_signs_in_once(gateway: GatewayUnderTest) -> None:
    browser, email, _ = await gateway.owner()
    _secret, codes = await _turn_on(browser)
    typed = f" {codes[3].upper().replace('-', ' ')} "  # read off paper, typed loosely
    assert (await _login(gateway, email, code=typed))[0] == 200
    assert (await _login(gateway, email, code=codes[3]))[0] == 401
    _status, me, _ = await browser.request("GET", "/api/v1/me")
    assert me["user"]["recovery_codes_left"] == 9
    # Another user's codes are not this user's.
    other_browser, _other_email, _ = await gateway.owner()
    _, other_codes = await _turn_on(other_browser)
    assert (await _login(gateway, email, code=other_codes[0]))[0] == 401


async def test_wrong_codes_lock_the_account_like_wrong_passwords(
    gateway: GatewayUnderTest,
) -> None:
    browser, email, _ = await gateway.owner()
    secret, _codes = await _turn_on(browser)
    for _ in range(5):
        assert (await _login(gateway, email, code=_wrong_code(secret)))[0] == 401
    status, body = await _login(gateway, email, code=_next_code(secret))
    assert (status, body["type"].rsplit("/", 1)[-1]) == (429, "account-locked")


async def test_setting_up_needs_the_password_and_turning_on_needs_the_apps_code(
    gateway: GatewayUnderTest,
) -> None:
    browser, email, _ = await gateway.owner()
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/enable", json={"code": "123456"}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "two-factor-setup-missing")
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": "not the password"}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "invalid-credentials")
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD, "extra": 1}
    )
    assert status == 422
    status, setup, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert status == 200
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/enable", json={"code": _wrong_code(setup["secret"])}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "invalid-two-factor-code")
    # A second setup replaces the first: the first secret's codes no longer turn it on.
    status, second, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert status == 200
    assert second["secret"] != setup["secret"]
    status, _, _ = await browser.request(
        "POST",
        "/api/v1/auth/two-factor/enable",
        json={"code": code_at(setup["secret"], current_step())},
    )
    assert status == 422
    assert (await _login(gateway, email))[0] == 200  # still off
    status, _, _ = await browser.request(
        "POST",
        "/api/v1/auth/two-factor/enable",
        json={"code": code_at(second["secret"], current_step())},
    )
    assert status == 200
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "two-factor-on")


async def test_turning_it_off_needs_the_password_and_a_code(gateway: GatewayUnderTest) -> None:
    browser, email, _ = await gateway.owner()
    secret, codes = await _turn_on(browser)
    other = gateway.browser()
    assert (await other.request(
        "POST", "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD, "code": _next_code(secret)},
    ))[0] == 200  # fmt: skip
    wrong = [
        {"password": "not the password", "code": codes[0]},
        {"password": PASSWORD, "code": _wrong_code(secret)},
    ]
    for body in wrong:
        status, _, _ = await browser.request("POST", "/api/v1/auth/two-factor/disable", json=body)
        assert status == 401
    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert me["user"]["two_factor"] is True
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/disable", json={"password": PASSWORD, "code": codes[0]}
    )
    assert status == 200, body
    assert set(body) == {"access_token", "token_type", "expires_in"}
    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert (me["user"]["two_factor"], me["user"]["recovery_codes_left"]) == (False, None)
    assert (await other.request("GET", "/api/v1/me"))[0] == 401
    assert (await _login(gateway, email))[0] == 200
    status, body, _ = await browser.request(
        "POST", "/api/v1/auth/two-factor/disable", json={"password": PASSWORD, "code": codes[1]}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "two-factor-off")


async def test_new_recovery_codes_replace_the_old_ones(gateway: GatewayUnderTest) -> None:
    browser, email, _ = await gateway.owner()
    secret, old = await _turn_on(browser)
    status, body, _ = await browser.request(
        "POST",
        "/api/v1/auth/two-factor/recovery-codes",
        json={"password": PASSWORD, "code": _next_code(secret)},
    )
    assert status == 200, body
    new = body["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert (await _login(gateway, email, code=old[0]))[0] == 401
    assert (await _login(gateway, email, code=new[0]))[0] == 200


async def test_a_manager_resets_a_member_who_lost_their_phone(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    agent, agent_email = await gateway.member(owner, "agent")
    await _turn_on(agent)
    status, users, _ = await owner.request("GET", "/api/v1/users")
    flags = {u["email"]: u["two_factor"] for u in users["users"]}
    assert flags[agent_email] is True
    assert list(flags.values()).count(True) == 1

    status, me, _ = await agent.request("GET", "/api/v1/me")
    agent_id = me["user"]["id"]
    status, _, _ = await agent.request("DELETE", f"/api/v1/users/{agent_id}/two-factor")
    assert status == 403  # agents manage nobody; their own goes through disable
    status, body, _ = await admin.request("DELETE", f"/api/v1/users/{agent_id}/two-factor")
    assert status == 200, body
    assert body["two_factor"] is False
    assert (await agent.request("GET", "/api/v1/me"))[0] == 401  # signed out everywhere
    assert (await _login(gateway, agent_email))[0] == 200
    status, body, _ = await admin.request("DELETE", f"/api/v1/users/{agent_id}/two-factor")
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "two-factor-off")

    # An admin cannot reset an owner; nobody resets their own; another tenant's id is unknown.
    await _turn_on(owner)
    status, me, _ = await owner.request("GET", "/api/v1/me")
    owner_id = me["user"]["id"]
    assert (await admin.request("DELETE", f"/api/v1/users/{owner_id}/two-factor"))[0] == 403
    assert (await owner.request("DELETE", f"/api/v1/users/{owner_id}/two-factor"))[0] == 403
    stranger, _, _ = await gateway.owner()
    assert (await stranger.request("DELETE", f"/api/v1/users/{owner_id}/two-factor"))[0] == 404
    assert (await stranger.request("DELETE", "/api/v1/users/not-a-uuid/two-factor"))[0] == 404
    status, me, _ = await owner.request("GET", "/api/v1/me")
    assert me["user"]["two_factor"] is True


async def test_the_secret_is_encrypted_and_only_the_auth_flows_read_it(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    browser, _, tenant_id = await gateway.owner()
    secret, codes = await _turn_on(browser)
    _, me, _ = await browser.request("GET", "/api/v1/me")
    user_id = uuid.UUID(me["user"]["id"])
    async with tenant_transaction(db_pool, tenant_id, "system") as conn:
        stored = await conn.fetchval(
            "SELECT secret_enc FROM user_two_factor WHERE id = $1", user_id
        )
        hashes = await conn.fetch(
            "SELECT code_hash FROM user_recovery_codes WHERE user_id = $1", user_id
        )
    assert secret.encode() not in stored
    assert len(hashes) == 10
    assert not any(
        c.replace("-", "").encode() in bytes(h["code_hash"]) for c in codes for h in hashes
    )
    # A signed-in owner's own transaction (not the auth flows') sees neither table's rows.
    async with tenant_transaction(db_pool, tenant_id, "owner", user_id=user_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM user_two_factor") == 0
        assert await conn.fetchval("SELECT count(*) FROM user_recovery_codes") == 0
    # No answer but the setup's carries the secret.
    for path in ("/api/v1/me", "/api/v1/users"):
        _status, body, _ = await browser.request("GET", path)
        assert secret not in str(body)


async def test_the_code_step_finishes_the_sign_in_without_the_password(
    gateway: GatewayUnderTest,
) -> None:
    """The dashboard's way: the right password opens a 5-minute sign-in, finished with its
    token and a code; the code step spends none of the IP's five login attempts."""
    browser, email, _ = await gateway.owner()
    secret, codes = await _turn_on(browser)
    person = gateway.browser()  # one address for every step below
    used: set[str] = set()
    for attempt in range(3):  # 6 requests in all: more than 5 would be refused as logins
        status, body = await person.login(email)
        assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "two-factor-required")
        assert "access_token" not in body
        token = body["two_factor_token"]
        code = codes[attempt] if attempt else _next_code(secret)
        status, body, _ = await person.request(
            "POST", "/api/v1/auth/login/two-factor", json={"two_factor_token": token, "code": code}
        )
        assert status == 200, body
        assert "__Host-majlis_refresh" in person.cookies
        assert (await person.request("GET", "/api/v1/me"))[0] == 200
        # The sign-in is finished: its token does not open another.
        status, body, _ = await person.request(
            "POST",
            "/api/v1/auth/login/two-factor",
            json={"two_factor_token": token, "code": codes[5 + attempt]},
        )
        assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "two-factor-expired")
        used.add(token)
    assert len(used) == 3
    status, body, _ = await person.request(
        "POST",
        "/api/v1/auth/login/two-factor",
        json={"two_factor_token": "made-up", "code": _next_code(secret)},
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "two-factor-expired")
    status, body, _ = await person.request(
        "POST", "/api/v1/auth/login/two-factor", json={"two_factor_token": "x", "code": "1", "y": 2}
    )
    assert status == 422


async def test_wrong_codes_at_the_code_step_lock_the_account(gateway: GatewayUnderTest) -> None:
    browser, email, _ = await gateway.owner()
    secret, _codes = await _turn_on(browser)
    status, body = await gateway.browser().login(email)
    token = body["two_factor_token"]
    for _ in range(4):
        status, body, _ = await gateway.browser().request(
            "POST",
            "/api/v1/auth/login/two-factor",
            json={"two_factor_token": token, "code": _wrong_code(secret)},
        )
        assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "invalid-two-factor-code")
    status, body, _ = await gateway.browser().request(
        "POST",
        "/api/v1/auth/login/two-factor",
        json={"two_factor_token": token, "code": _wrong_code(secret)},
    )
    assert status == 401  # the fifth: the account locks, the sign-in ends
    status, body, _ = await gateway.browser().request(
        "POST",
        "/api/v1/auth/login/two-factor",
        json={"two_factor_token": token, "code": _next_code(secret)},
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (401, "two-factor-expired")
    status, body = await gateway.browser().login(email)
    assert (status, body["type"].rsplit("/", 1)[-1]) == (429, "account-locked")


def _slug(body: Any) -> str:
    return str(body["type"]).rsplit("/", 1)[-1]


async def test_a_business_can_require_two_factor_of_everyone(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    agent, agent_email = await gateway.member(owner, "agent")
    admin, _ = await gateway.member(owner, "admin")
    policy = "/api/v1/settings/security"
    status, body, _ = await owner.request("PUT", policy, json={"require_two_factor": True})
    assert (status, _slug(body)) == (409, "two-factor-off")  # the owner's own first
    await _turn_on(owner)
    status, _, _ = await admin.request("PUT", policy, json={"require_two_factor": True})
    assert status == 403  # owners only
    old_agent_token = agent.token
    status, body, _ = await owner.request("PUT", policy, json={"require_two_factor": True})
    assert status == 200, body
    assert body == {"require_two_factor": True, "members_without_two_factor": 2}
    assert (await owner.request("GET", policy))[1]["require_two_factor"] is True
    assert (await admin.request("GET", policy))[0] == 401  # held too: its token ended

    # Members without it: their tokens end now; a new sign-in may only set it up.
    stale = gateway.browser()
    stale.token = old_agent_token
    assert (await stale.request("GET", "/api/v1/users"))[0] == 401
    held = gateway.browser()
    assert (await held.login(agent_email))[0] == 200
    _, me, _ = await held.request("GET", "/api/v1/me")
    assert me["user"]["two_factor_setup_required"] is True
    for method, path in (
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/conversations"),  # proxied: refused before it reaches the inbox
        ("GET", "/api/v1/plan"),
        ("PUT", "/api/v1/me/presence"),
    ):
        status, body, _ = await held.request(method, path, json={"status": "online"})
        assert (status, _slug(body)) == (403, "two-factor-setup-required"), path
    status, setup, _ = await held.request(
        "POST", "/api/v1/auth/two-factor/setup", json={"password": PASSWORD}
    )
    assert status == 200
    status, _, _ = await held.request(
        "POST",
        "/api/v1/auth/two-factor/enable",
        json={"code": code_at(setup["secret"], current_step())},
    )
    assert status == 200
    assert (await held.request("GET", "/api/v1/users"))[0] == 200
    _, me, _ = await held.request("GET", "/api/v1/me")
    assert me["user"]["two_factor_setup_required"] is False
    status, body, _ = await held.request(
        "POST",
        "/api/v1/auth/two-factor/disable",
        json={"password": PASSWORD, "code": _next_code(setup["secret"])},
    )
    assert (status, _slug(body)) == (409, "two-factor-required-by-business")

    # A refresh carries the policy too: the admin's session renews into a set-up-only one.
    assert (await admin.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 200
    assert (await admin.request("GET", "/api/v1/users"))[0] == 403
    # A reset member is held to set it up again.
    _, me, _ = await held.request("GET", "/api/v1/me")
    status, _, _ = await owner.request("DELETE", f"/api/v1/users/{me['user']['id']}/two-factor")
    assert status == 200
    again = gateway.browser()
    assert (await again.login(agent_email))[0] == 200
    assert (await again.request("GET", "/api/v1/users"))[0] == 403

    status, body, _ = await owner.request("PUT", policy, json={"require_two_factor": False})
    assert body == {"require_two_factor": False, "members_without_two_factor": 2}
    assert (await admin.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 200
    assert (await admin.request("GET", "/api/v1/users"))[0] == 200
