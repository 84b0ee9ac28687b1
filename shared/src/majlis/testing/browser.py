"""A browser-like HTTP client for the gateway: keeps the session cookies and the bearer token
like the dashboard does, and speaks from an address of its own through X-Forwarded-For."""

from __future__ import annotations

import ipaddress
import itertools
import random
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
from aiohttp import web

from majlis.settings import Settings

PASSWORD = "correct horse battery staple"  # noqa: S105  (the test users' password)
_ip_counter = itertools.count(1)
_RUN = random.randint(0, 200)  # noqa: S311  (spreads runs over address ranges; not security)


def fresh_ip() -> str:
    """A client address no other test uses (a header value only; nothing is sent there)."""
    n = next(_ip_counter)
    return str(ipaddress.IPv4Address(f"10.{_RUN}.0.0") + n)


def fresh_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.test"


@dataclass
class Browser:
    """A client that keeps the session cookies and the bearer token like the dashboard does."""

    session: aiohttp.ClientSession
    base: str
    ip: str = field(default_factory=fresh_ip)
    cookies: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    @property
    def csrf(self) -> str:
        return self.cookies.get("__Host-majlis_csrf", "")

    def _remember(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        csrf: bool = True,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        sent = {"X-Forwarded-For": self.ip}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if csrf and self.csrf:
            sent["X-CSRF-Token"] = self.csrf
        if auth and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        async with self.session.request(
            method, self.base + path, json=json, data=data, headers=sent
        ) as response:
            self._remember(response)
            body: Any = None
            if response.content_type.endswith("json"):
                body = await response.json(content_type=None)
            else:
                body = await response.text()
            if isinstance(body, dict) and "access_token" in body and response.status == 200:
                self.token = body["access_token"]
            return response.status, body, response

    async def register(
        self, email: str | None = None, password: str = PASSWORD, business: str = "Acme Trading"
    ) -> tuple[str, dict[str, Any]]:
        email = email or fresh_email("owner")
        status, body, _ = await self.request(
            "POST",
            "/api/v1/auth/register",
            json={"business_name": business, "name": "Owner", "email": email, "password": password},
        )
        assert status == 201, body
        return email, body

    async def login(self, email: str, password: str = PASSWORD) -> tuple[int, Any]:
        status, body, _ = await self.request(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
        return status, body


@dataclass
class GatewayUnderTest:
    base: str
    app: web.Application
    settings: Settings
    session: aiohttp.ClientSession
    tenants: list[uuid.UUID] = field(default_factory=list)

    def browser(self, ip: str | None = None) -> Browser:
        return Browser(self.session, self.base, ip or fresh_ip())

    async def owner(self) -> tuple[Browser, str, uuid.UUID]:
        """A freshly registered and signed-in owner."""
        browser = self.browser()
        email, body = await browser.register()
        tenant_id = uuid.UUID(body["tenant_id"])
        self.tenants.append(tenant_id)
        status, login = await browser.login(email)
        assert status == 200, login
        return browser, email, tenant_id

    async def member(self, owner: Browser, role: str) -> tuple[Browser, str]:
        """A user with `role` on the owner's team, invited and signed in."""
        email = fresh_email(role)
        status, invite, _ = await owner.request(
            "POST", "/api/v1/team/invites", json={"email": email, "role": role}
        )
        assert status == 201, invite
        browser = self.browser()
        status, body, _ = await browser.request(
            "POST",
            "/api/v1/auth/invites/accept",
            json={"token": invite["token"], "name": role.title(), "password": PASSWORD},
        )
        assert status == 201, body
        status, login = await browser.login(email)
        assert status == 200, login
        return browser, email
