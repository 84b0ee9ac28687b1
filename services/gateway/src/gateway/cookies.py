"""The session cookies: names and attributes are a public contract."""

from __future__ import annotations

from aiohttp import web

from gateway.csrf import CSRF_COOKIE
from gateway.sessions import RefreshCookie

REFRESH_COOKIE = "__Host-majlis_refresh"


def set_session_cookies(
    response: web.StreamResponse, refresh: RefreshCookie, csrf_token: str, max_age: int
) -> None:
    """`__Host-` cookies: Secure, Path=/, no Domain; the refresh token is HttpOnly."""
    response.set_cookie(
        REFRESH_COOKIE,
        refresh.value(),
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=False,
        samesite="Strict",
    )


def clear_session_cookies(response: web.StreamResponse) -> None:
    """Expire both cookies with the same attributes they were set with."""
    for name, httponly in ((REFRESH_COOKIE, True), (CSRF_COOKIE, False)):
        response.set_cookie(
            name, "", max_age=0, path="/", secure=True, httponly=httponly, samesite="Strict"
        )
