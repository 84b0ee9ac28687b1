"""CSRF: state-changing browser-session requests need the session-bound token."""

from __future__ import annotations

from majlis.testing.browser import GatewayUnderTest


async def _still_signed_in(browser: object) -> bool:
    status, _, _ = await browser.request("GET", "/api/v1/me")  # type: ignore[attr-defined]
    return bool(status == 200)


async def test_missing_csrf_header_is_refused_and_changes_nothing(
    gateway: GatewayUnderTest,
) -> None:
    browser, _, _ = await gateway.owner()
    status, body, _ = await browser.request("POST", "/api/v1/auth/logout", csrf=False)
    assert status == 403
    assert body["type"].endswith("/csrf-failed")
    assert await _still_signed_in(browser)
    refresh_before = browser.cookies["__Host-majlis_refresh"]
    status, _, _ = await browser.request("POST", "/api/v1/auth/refresh", auth=False, csrf=False)
    assert status == 403
    # Nothing rotated: the same refresh token still works (with the header).
    assert browser.cookies["__Host-majlis_refresh"] == refresh_before
    assert (await browser.request("POST", "/api/v1/auth/refresh", auth=False))[0] == 200


async def test_mismatched_csrf_header_is_refused(gateway: GatewayUnderTest) -> None:
    browser, _, _ = await gateway.owner()
    status, _, _ = await browser.request(
        "POST",
        "/api/v1/team/invites",
        json={"email": "x@example.test", "role": "agent"},
        csrf=False,
        headers={"X-CSRF-Token": browser.csrf[:-2] + "xx"},
    )
    assert status == 403
    status, body, _ = await browser.request("GET", "/api/v1/team/invites")
    assert body["invites"] == []


async def test_token_of_another_session_is_refused(gateway: GatewayUnderTest) -> None:
    victim, _, _ = await gateway.owner()
    attacker, _, _ = await gateway.owner()
    # The attacker plants their own (valid, signed) CSRF cookie and header in the victim's
    # browser: the token is bound to the attacker's session, so it fails for the victim's.
    victim.cookies["__Host-majlis_csrf"] = attacker.csrf
    status, _, _ = await victim.request("POST", "/api/v1/auth/logout")
    assert status == 403
    status, _, _ = await victim.request("POST", "/api/v1/auth/refresh", auth=False)
    assert status == 403


async def test_cross_site_fetch_is_refused(gateway: GatewayUnderTest) -> None:
    browser, _, _ = await gateway.owner()
    status, _, _ = await browser.request(
        "POST", "/api/v1/auth/logout", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert status == 403
    assert await _still_signed_in(browser)
    status, _, _ = await browser.request(
        "POST", "/api/v1/auth/logout", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert status == 204


async def test_reads_need_no_csrf(gateway: GatewayUnderTest) -> None:
    browser, _, _ = await gateway.owner()
    status, _, _ = await browser.request("GET", "/api/v1/users", csrf=False)
    assert status == 200
