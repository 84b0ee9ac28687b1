"""The dashboard's session in the browser: the access token renewed silently before it
expires and once on a 401, and every tab and browser signed out when the refresh token is
replayed (the gateway then revokes the whole sign-in).

This module's platform issues one-minute access tokens with no leeway, so "past the expiry"
is a real minute away and a token the page failed to renew would be refused."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from majlis.http.revocation import RevocationStore
from majlis.http.tokens import TokenVerifier
from majlis.settings import Settings
from majlis.testing.dashboard_e2e import (
    PASSWORD,
    Business,
    Platform,
    api_login,
    eventually,
    json_of,
    sign_in,
)

TTL_SECONDS = 60  # the settings' minimum


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {"MAJLIS_ACCESS_TOKEN_TTL_SECONDS": str(TTL_SECONDS), "MAJLIS_JWT_LEEWAY_SECONDS": "0"}


_ISSUERS = ("/api/v1/auth/login", "/api/v1/auth/refresh")  # answer with an access token


@dataclass
class Call:
    at: float  # time.monotonic() when the answer arrived
    method: str
    path: str
    status: int
    token: str | None = None  # the access token a sign-in or refresh answered with
    expires_in: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class NetworkLog:
    """The page's API answers, in order, with the tokens it was given."""

    calls: list[Call] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        async def on_response(response: Any) -> None:
            if "/api/v1/" not in response.url:
                return
            path = "/api/v1/" + response.url.split("/api/v1/", 1)[1].split("?")[0]
            call = Call(time.monotonic(), response.request.method, path, response.status)
            # Logged before the body is read: Playwright runs each handler as a task of its
            # own, so a call logged after an await could land behind the calls that followed.
            self.calls.append(call)
            if path in _ISSUERS and response.ok:
                body = await response.json()
                call.token, call.expires_in = body["access_token"], body["expires_in"]

        page.on("response", on_response)

    def refreshes(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/api/v1/auth/refresh"]

    def unauthorised(self) -> list[Call]:
        return [c for c in self.calls if c.status == 401]

    def tokens(self) -> list[Call]:
        return [c for c in self.calls if c.token is not None]

    async def tokens_read(self) -> None:
        """Wait until every sign-in and refresh answered 200 has its body read."""

        async def read() -> bool:
            return all(c.token is not None for c in self.calls if c.path in _ISSUERS and c.ok)

        await eventually(read, 10)

    async def refresh_statuses(self, count: int) -> list[int]:
        """The statuses of the page's refreshes once `count` of them are logged: the handler
        runs as a task of its own, so the page may show its answer before the log holds it."""

        async def logged() -> bool:
            return len(self.refreshes()) >= count

        await eventually(logged, 10)
        await asyncio.sleep(0.5)  # a refresh more than expected would be logged by now
        return [c.status for c in self.refreshes()]


async def _signed_in_page(
    context: Any, platform: Platform, email: str, sockets: list[Any] | None = None
) -> tuple[Any, NetworkLog]:
    page = await context.new_page()
    log = NetworkLog()
    log.attach(page)
    if sockets is not None:
        page.on("websocket", lambda socket: sockets.append(socket))
    await sign_in(page, platform, email)
    await page.get_by_role("heading", name="Conversations").wait_for()
    return page, log


async def _open_team(page: Any) -> None:
    await page.get_by_role("link", name="Team", exact=True).click()
    await page.get_by_role("heading", name="Team", exact=True).wait_for()


async def _open_contacts(page: Any) -> None:
    await page.get_by_role("link", name="Contacts", exact=True).click()
    await page.get_by_role("heading", name="Contacts", exact=True).wait_for()


async def _deny_current_token(platform: Platform, settings: Settings, log: NetworkLog) -> None:
    """Deny-list the page's latest access token, as the gateway's sign-out of it does."""

    await log.tokens_read()
    token = log.tokens()[-1].token
    assert token is not None
    claims = TokenVerifier.from_settings(settings).decode(token)
    redis = aioredis.from_url(settings.redis_url.get_secret_value())
    try:
        store = RevocationStore(
            redis,
            platform.env["MAJLIS_REDIS_PREFIX"],
            issuer=settings.jwt_issuer,
            max_token_ttl=TTL_SECONDS,
            leeway=0,
        )
        await store.deny(claims)
    finally:
        await redis.aclose()


async def _shows_session_ended(page: Any) -> None:
    await page.wait_for_url("**/app/signin")
    await page.get_by_text("Your session ended. Please sign in again.").wait_for()


async def test_the_token_is_renewed_before_it_expires_and_the_page_keeps_working(
    platform: Platform, business: Business, new_context: Any
) -> None:
    context = await new_context()
    sockets: list[Any] = []
    page, log = await _signed_in_page(context, platform, business.email, sockets)
    await log.tokens_read()
    login = log.tokens()[0]
    assert login.path == "/api/v1/auth/login"
    assert login.expires_in == TTL_SECONDS

    # The timer renews the token a quarter of its lifetime ahead: no 401 prompted it.
    async def renewed() -> bool:
        return any(c.status == 200 for c in log.refreshes())

    await eventually(renewed, TTL_SECONDS)
    first = next(c for c in log.refreshes() if c.status == 200)
    assert first.at < login.at + TTL_SECONDS, "the refresh came only after the expiry"
    assert first.at > login.at + TTL_SECONDS / 2, "renewed far too early"
    assert log.unauthorised() == []

    # Past the first token's expiry the page still works, through the API, without a 401.
    await asyncio.sleep(max(0.0, login.at + TTL_SECONDS + 3 - time.monotonic()))
    await _open_team(page)
    await _open_contacts(page)
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await page.get_by_role("heading", name="Conversations").wait_for()
    assert log.unauthorised() == [], [(c.method, c.path) for c in log.unauthorised()]
    assert "/app/signin" not in page.url
    # The live stream took each renewed token in time: the server, which closes a stream whose
    # token expired, never had to (one socket, still open).
    assert len(sockets) == 1
    assert not sockets[0].is_closed()
    # Every token was renewed before it expired; every renewal was the timer's.
    await log.tokens_read()
    issued = log.tokens()
    for earlier, later in itertools.pairwise(issued):
        assert earlier.expires_in is not None
        assert later.at < earlier.at + earlier.expires_in
    # The renewed tokens, like the first, live in memory only: not in storage, cookies or HTML.
    storage = await page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
        " document.cookie])"
    )
    cookies, html = json.dumps(await context.cookies()), await page.content()
    for call in issued:
        assert call.token is not None
        assert call.token not in storage
        assert call.token not in cookies
        assert call.token not in html


async def test_a_revoked_token_is_refreshed_once_and_the_call_retried(
    platform: Platform, business: Business, new_context: Any, settings: Settings
) -> None:
    """The server refuses the page's token (its jti deny-listed, as a sign-out of that token
    would): the next calls get 401, the page refreshes once and retries them, and the person
    sees the screen they asked for."""
    page, log = await _signed_in_page(await new_context(), platform, business.email)
    await _deny_current_token(platform, settings, log)
    before = len(log.calls)

    await _open_team(page)

    def retried(call: Call) -> bool:
        return any(
            c.path == call.path and c.method == call.method and c.at > call.at and c.status < 400
            for c in log.calls[before:]
        )

    async def all_retried() -> bool:
        refused = [c for c in log.calls[before:] if c.status == 401]
        return bool(refused) and all(retried(c) for c in refused)

    await eventually(all_retried)  # each refused call was retried and answered
    await page.get_by_role("cell", name=business.email).wait_for()
    after = log.calls[before:]
    assert [c.status for c in after if c.path == "/api/v1/auth/refresh"] == [200]
    assert "/app/signin" not in page.url


async def test_a_refresh_the_server_cannot_answer_keeps_the_session(
    platform: Platform, business: Business, new_context: Any, settings: Settings
) -> None:
    """A refresh answered 503 (the gateway without Redis) is no verdict on the session: the page
    stays signed in, and once the gateway answers again the next call renews and goes through."""
    page, log = await _signed_in_page(await new_context(), platform, business.email)
    unavailable = json.dumps({"title": "Service unavailable", "status": 503})

    async def outage(route: Any) -> None:
        await route.fulfill(status=503, content_type="application/problem+json", body=unavailable)

    await page.route("**/api/v1/auth/refresh", outage)
    await _deny_current_token(platform, settings, log)
    before = len(log.calls)
    await page.get_by_role("link", name="Team", exact=True).click()

    async def refused() -> bool:
        return any(c.path == "/api/v1/auth/refresh" for c in log.calls[before:])

    await eventually(refused)
    await page.get_by_role("heading", name="Team", exact=True).wait_for()
    assert "/app/signin" not in page.url
    assert await page.get_by_text("Your session ended").count() == 0

    await page.unroute("**/api/v1/auth/refresh", outage)
    await _open_contacts(page)
    await page.get_by_role("link", name="Team", exact=True).click()
    await page.get_by_role("cell", name=business.email).wait_for()
    statuses = [c.status for c in log.calls[before:] if c.path == "/api/v1/auth/refresh"]
    assert statuses[-1] == 200, statuses
    assert set(statuses[:-1]) == {503}, statuses  # (queries retry: one or more refused)
    assert "/app/signin" not in page.url


async def test_a_401_whose_refresh_fails_signs_the_page_out(
    platform: Platform, business: Business, new_context: Any
) -> None:
    """The password is changed from elsewhere: every token and sign-in of the user is revoked,
    so the page's 401 leads to one refresh, which fails, and the page says the session ended."""
    page, log = await _signed_in_page(await new_context(), platform, business.email)
    elsewhere = await api_login(platform, business.email)
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD + " and a new moon"},
        headers=elsewhere,
    ) as response:
        await json_of(response, 200)
    before = len(log.calls)
    await page.get_by_role("link", name="Team", exact=True).click()
    await _shows_session_ended(page)
    after = log.calls[before:]
    assert [c.status for c in after if c.path == "/api/v1/auth/refresh"] == [401]
    assert any(c.status == 401 and not c.path.startswith("/api/v1/auth/") for c in after)


async def test_a_replayed_refresh_cookie_signs_out_every_tab_and_both_browsers(
    platform: Platform, business: Business, new_context: Any
) -> None:
    """The refresh cookie is copied to another browser and used there. When the first browser
    next refreshes with its (now used) cookie, the gateway sees the reuse and revokes the whole
    sign-in: the first browser's tabs and the second browser all end signed out."""
    first = await new_context()
    tab, _ = await _signed_in_page(first, platform, business.email)
    other_tab = await first.new_page()
    await other_tab.goto(f"{platform.base}/app/contacts")  # restored through the cookie
    await other_tab.get_by_role("heading", name="Contacts", exact=True).wait_for()

    second = await new_context()
    copied = [c for c in await first.cookies() if c["name"].startswith("__Host-majlis_")]
    assert {c["name"] for c in copied} == {"__Host-majlis_refresh", "__Host-majlis_csrf"}
    await second.add_cookies(copied)
    thief, thief_log = await second.new_page(), NetworkLog()
    thief_log.attach(thief)
    await thief.goto(f"{platform.base}/app/inbox")
    await thief.get_by_role("heading", name="Conversations").wait_for()
    assert await thief_log.refresh_statuses(1) == [200]  # the copy works, once

    await asyncio.sleep(1.5)  # past the platform's one-second grace for parallel tabs
    # The first browser refreshes with the cookie the thief already used: reuse.
    reload_log = NetworkLog()
    reload_log.attach(tab)
    await tab.reload()
    await tab.wait_for_url("**/app/signin")
    assert await reload_log.refresh_statuses(1) == [401]
    # Its other tab is told at once (it still held a token, now revoked server-side).
    await _shows_session_ended(other_tab)
    # The thief's token belonged to the revoked sign-in: its next call ends its session too.
    await thief.get_by_role("link", name="Team", exact=True).click()
    await _shows_session_ended(thief)
    assert await thief_log.refresh_statuses(2) == [200, 401]
    # And nobody gets back in with the cookies they hold.
    for page in (tab, other_tab, thief):
        await page.goto(f"{platform.base}/app/inbox")
        await page.wait_for_url("**/app/signin")
