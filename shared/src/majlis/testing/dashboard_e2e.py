"""Helpers of the dashboard's browser tests: the platform under test, a business with a
connected number, a customer writing through the Graph API simulator, teammates, sign-in."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from majlis.testing.benchmarks import free_port

PASSWORD = "calm harbour lantern 42"  # noqa: S105  (test accounts only)
_ips = itertools.count(10)


def fresh_ip() -> str:
    """An address of the documentation range, one per browser context."""
    n = next(_ips)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]


@dataclass
class Platform:
    base: str
    sim: str
    env: dict[str, str]
    session: aiohttp.ClientSession
    tenants: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Business:
    """A registered tenant with a connected number, and its owner's API credentials."""

    tenant_id: uuid.UUID
    email: str
    name: str
    phone_number_id: str
    number_id: str
    headers: dict[str, str]


async def json_of(response: aiohttp.ClientResponse, status: int) -> Any:
    body = await response.json(content_type=None)
    assert response.status == status, body
    return body


async def api_login(platform: Platform, email: str) -> dict[str, str]:
    """Bearer, cookie and CSRF headers of a fresh API sign-in (for set-up, not the UI)."""
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": fresh_ip()},
    ) as response:
        body = await json_of(response, 200)
        csrf = response.cookies["__Host-majlis_csrf"].value
        refresh = response.cookies["__Host-majlis_refresh"].value
    return {
        "Authorization": f"Bearer {body['access_token']}",
        "X-CSRF-Token": csrf,
        "Cookie": f"__Host-majlis_csrf={csrf}; __Host-majlis_refresh={refresh}",
        "X-Forwarded-For": fresh_ip(),
    }


async def new_business(platform: Platform) -> Business:
    """A new tenant, its owner signed in through the API, one WhatsApp number connected."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.test"
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/register",
        json={"business_name": "Dana Perfumes", "name": "Dana Owner", "email": email,
              "password": PASSWORD},
        headers={"X-Forwarded-For": fresh_ip()},
    ) as response:  # fmt: skip
        tenant_id = uuid.UUID((await json_of(response, 201))["tenant_id"])
    platform.tenants.append(tenant_id)
    headers = await api_login(platform, email)
    phone_number_id, waba_id = str(uuid.uuid4().int)[:15], str(uuid.uuid4().int)[:15]
    token = "EAA" + uuid.uuid4().hex
    # A WABA of its own, known to the simulator: template webhooks find this tenant only.
    async with platform.session.post(
        f"{platform.sim}/_sim/numbers",
        json={"phone_number_id": phone_number_id, "token": token, "waba_id": waba_id},
    ) as response:
        await json_of(response, 201)
    async with platform.session.post(
        f"{platform.base}/api/v1/numbers",
        json={"phone_number_id": phone_number_id, "waba_id": waba_id,
              "display_number": "+971 4 555 0100", "access_token": token},
        headers=headers,
    ) as response:  # fmt: skip
        number_id = (await json_of(response, 201))["id"]
    return Business(tenant_id, email, "Dana Owner", phone_number_id, number_id, headers)


async def customer_writes(
    platform: Platform, business: Business, text: str, phone: str = "+971501234567"
) -> None:
    """A customer message through the Graph API simulator (a signed webhook to the ingest)."""
    async with platform.session.post(
        f"{platform.sim}/_sim/inbound",
        json={"phone_number_id": business.phone_number_id, "from": phone, "text": text,
              "name": "Mariam Al Mansoori"},
    ) as response:  # fmt: skip
        await json_of(response, 201)


async def owner_echoes(
    platform: Platform, business: Business, text: str, phone: str = "+971501234567"
) -> None:
    """The owner writes from the WhatsApp Business app on the shared number (coexistence):
    the simulator delivers the `smb_message_echoes` webhook."""
    async with platform.session.post(
        f"{platform.sim}/_sim/echo",
        json={"phone_number_id": business.phone_number_id, "to": phone, "text": text},
    ) as response:
        await json_of(response, 201)


async def team_member(platform: Platform, business: Business, role: str) -> tuple[str, str]:
    """Invite and accept a teammate through the API: (email, name)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
    async with platform.session.post(
        f"{platform.base}/api/v1/team/invites",
        json={"email": email, "role": role},
        headers=business.headers,
    ) as response:
        token = (await json_of(response, 201))["token"]
    name = f"Khalid {role.title()}"
    async with platform.session.post(
        f"{platform.base}/api/v1/auth/invites/accept",
        json={"token": token, "name": name, "password": PASSWORD},
        headers={"X-Forwarded-For": fresh_ip()},
    ) as response:
        await json_of(response, 201)
    return email, name


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    """Poll until `check` holds (for state that arrives asynchronously)."""
    async with asyncio.timeout(seconds):
        for _ in itertools.count():
            if await check():
                return
            await asyncio.sleep(0.2)


async def sign_in(page: Any, platform: Platform, email: str) -> None:
    """Through the sign-in screen, as a person would."""
    await page.goto(f"{platform.base}/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/app/inbox")
