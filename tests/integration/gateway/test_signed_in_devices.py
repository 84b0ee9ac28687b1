"""Where you are signed in: your own live sign-ins with their device and address, and ending
any other one (its refresh token and access tokens stop at once)."""

from __future__ import annotations

from typing import Any

from majlis.testing.browser import Browser, GatewayUnderTest

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
EDGE_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)


async def _sign_in(gateway: GatewayUnderTest, email: str, user_agent: str) -> Browser:
    browser = gateway.browser()
    status, body, _ = await browser.request(
        "POST",
        "/api/v1/auth/login",
        json={"email": email, "password": "correct horse battery staple"},
        headers={"User-Agent": user_agent},
    )
    assert status == 200, body
    return browser


async def _sessions(browser: Browser) -> list[dict[str, Any]]:
    status, body, response = await browser.request("GET", "/api/v1/auth/sessions")
    assert status == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    sessions: list[dict[str, Any]] = body["sessions"]
    return sessions


async def test_you_see_where_you_are_signed_in_and_end_another_sign_in(
    gateway: GatewayUnderTest,
) -> None:
    owner, email, _ = await gateway.owner()
    laptop = await _sign_in(gateway, email, CHROME_WINDOWS)
    phone = await _sign_in(gateway, email, SAFARI_IPHONE)
    listed = await _sessions(laptop)
    by_device = {s["device"]: s for s in listed}
    assert {"Chrome on Windows", "Safari on iOS"} <= set(by_device)
    assert len(listed) == 3  # the owner's own first sign-in too
    assert [s["current"] for s in listed].count(True) == 1
    assert by_device["Chrome on Windows"]["current"] is True
    assert by_device["Safari on iOS"]["ip"] == phone.ip
    assert listed[0]["last_used_at"] >= listed[-1]["last_used_at"]

    # The current sign-in is ended by signing out, not from the list.
    status, body, _ = await laptop.request(
        "DELETE", f"/api/v1/auth/sessions/{by_device['Chrome on Windows']['id']}"
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (409, "current-session")
    phone_id = by_device["Safari on iOS"]["id"]
    assert (await laptop.request("DELETE", f"/api/v1/auth/sessions/{phone_id}"))[0] == 204
    assert (await phone.request("GET", "/api/v1/me"))[0] == 401  # its access token, at once
    assert (await phone.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    assert (await laptop.request("DELETE", f"/api/v1/auth/sessions/{phone_id}"))[0] == 404
    assert phone_id not in [s["id"] for s in await _sessions(laptop)]
    # A refresh is remembered as the sign-in's latest use, from the address it came from.
    assert (await owner.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 200


async def test_sign_out_everywhere_else_keeps_this_sign_in(gateway: GatewayUnderTest) -> None:
    owner, email, _ = await gateway.owner()
    others = [await _sign_in(gateway, email, ua) for ua in (SAFARI_IPHONE, EDGE_MAC)]
    status, body, _ = await owner.request("POST", "/api/v1/auth/sessions/end-others")
    assert (status, body) == (200, {"ended": 2})
    for other in others:
        assert (await other.request("GET", "/api/v1/me"))[0] == 401
    [left] = await _sessions(owner)
    assert left["current"] is True
    status, body, _ = await owner.request("POST", "/api/v1/auth/sessions/end-others")
    assert body == {"ended": 0}


async def test_another_users_sign_ins_are_neither_listed_nor_ended(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, _ = await gateway.owner()
    agent, _ = await gateway.member(owner, "agent")
    stranger, _, _ = await gateway.owner()
    [agent_session] = await _sessions(agent)
    assert agent_session["id"] not in [s["id"] for s in await _sessions(owner)]
    for browser in (owner, stranger):  # a teammate, even the owner, and another business
        path = f"/api/v1/auth/sessions/{agent_session['id']}"
        assert (await browser.request("DELETE", path))[0] == 404
    assert (await owner.request("DELETE", "/api/v1/auth/sessions/not-a-uuid"))[0] == 404
    assert (await agent.request("GET", "/api/v1/me"))[0] == 200


async def test_a_manager_signs_a_member_out_everywhere(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    agent, agent_email = await gateway.member(owner, "agent")
    second = await _sign_in(gateway, agent_email, SAFARI_IPHONE)
    users = {u["email"]: u["id"] for u in (await owner.request("GET", "/api/v1/users"))[1]["users"]}
    path = f"/api/v1/users/{users[agent_email]}/sign-out"
    assert (await agent.request("POST", path))[0] == 403  # agents manage nobody
    status, body, _ = await admin.request("POST", path)
    assert (status, body) == (200, {"ended": 2})
    for browser in (agent, second):
        assert (await browser.request("GET", "/api/v1/me"))[0] == 401
        assert (await browser.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 401
    assert (await gateway.browser().login(agent_email))[0] == 200  # not deactivated
    _, me, _ = await owner.request("GET", "/api/v1/me")
    owner_path = f"/api/v1/users/{me['user']['id']}/sign-out"
    assert (await admin.request("POST", owner_path))[0] == 403  # an owner, by an admin
    assert (await owner.request("POST", owner_path))[0] == 403  # oneself: the Security page
    stranger, _, _ = await gateway.owner()
    assert (await stranger.request("POST", path))[0] == 404
    assert (await owner.request("GET", "/api/v1/me"))[0] == 200
