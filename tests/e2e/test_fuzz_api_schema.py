"""Schemathesis against the OpenAPI document the running gateway serves, as tenant A's owner.

The platform runs for real (`python -m majlis.devrun`: six services and the Graph API simulator
as processes; their output joins the run's log for the secret scanner). Tenant B, with data of
its own (a number, an API key, an invite, a second user), exists alongside. For every documented
operation schemathesis generates requests (MAJLIS_FUZZ_PROFILE: a bounded sample in `make test`,
more in `make fuzz`) and checks: no 5xx, status code, content type and response schema as
documented, and no response that contains any of tenant B's ids or strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from majlis.messaging import PLATFORM_QUEUES, Bus, delete_topology
from majlis.settings import ServiceName, load_settings
from majlis.testing.dashboard_e2e import free_ports
from majlis.testing.fuzzing import count, schema_examples
from majlis.testing.secret_scan import LOG_FILE_ENV

BUS_PREFIX = os.environ["MAJLIS_BUS_PREFIX"] + "schemathesis."
PASSWORD = "schema fuzzing passphrase"
# Operations that end the caller's own session or cannot be driven by a plain HTTP client:
# logging out and changing the password revoke tenant A's token mid-run; /stream is a WebSocket.
EXCLUDED = r"^/api/v1/(auth/(logout|password)|stream)$"


def _children(parent: int) -> list[int]:
    """The pids whose parent is `parent` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def platform() -> Iterator[str]:
    """The whole platform as processes; yields the gateway's base URL."""
    free = free_ports(len(ServiceName) + 1)
    ports = dict(zip(ServiceName, free, strict=False))
    env = os.environ | {f"MAJLIS_{s.value.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= {
        f"MAJLIS_{s.value.upper()}_URL": f"http://127.0.0.1:{ports[s]}"
        for s in (ServiceName.INBOX, ServiceName.CHATFLOW, ServiceName.BROADCAST, ServiceName.AUDIT)
    }
    env |= {"MAJLIS_GRAPH_SIMULATOR_PORT": str(free[-1]), "MAJLIS_GRAPH_API_URL": ""}
    # Thousands of requests by one user from one address: the limits (tested elsewhere) would
    # answer most of them with a 429 and leave the handlers untested. The set-up's calls carry
    # an X-Forwarded-For of their own, which the gateway trusts from 127.0.0.1 here.
    env |= {
        # Redis keys of its own (under the run's prefix, so the run's clean-up removes them):
        # thousands of generated logins and sign-ups from 127.0.0.1 fill the per-IP limits,
        # which must not carry over to the tests that run after this one.
        "MAJLIS_REDIS_PREFIX": os.environ["MAJLIS_REDIS_PREFIX"] + "schemathesis:",
        # Queues of its own too, deleted afterwards: nothing it leaves reaches later tests.
        "MAJLIS_BUS_PREFIX": BUS_PREFIX,
        "MAJLIS_USER_RATE_LIMIT_PER_MINUTE": "1000000",
        "MAJLIS_TENANT_RATE_LIMIT_PER_MINUTE": "1000000",
        "MAJLIS_IP_BLOCK_STRIKES": "1000000",
        "MAJLIS_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }
    log_path = Path(os.environ[LOG_FILE_ENV])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "majlis.devrun"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gateway = f"http://127.0.0.1:{ports[ServiceName.GATEWAY]}"
    try:
        deadline = time.monotonic() + 90
        ready = dict.fromkeys(ports.values(), False)
        while not all(ready.values()):
            assert process.poll() is None, "the platform exited during start-up (see the log)"
            assert time.monotonic() < deadline, "the platform was not ready within 90 s"
            for port in ready:
                with contextlib.suppress(requests.RequestException):
                    ready[port] = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok
            time.sleep(0.3)
        yield gateway
    finally:
        # The services run in sessions of their own (devrun stops them on SIGINT); should devrun
        # have to be killed, they are killed by pid, so none outlives the test.
        services = _children(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in services:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # In a thread of its own: this sync fixture must not touch pytest-asyncio's loop.
        cleanup = threading.Thread(target=asyncio.run, args=(_delete_topology(),))
        cleanup.start()
        cleanup.join(timeout=60)


async def _delete_topology() -> None:
    settings = load_settings().model_copy(update={"bus_prefix": BUS_PREFIX})
    bus = await Bus.connect(settings)
    try:
        channel = await bus.channel()
        await delete_topology(channel, BUS_PREFIX, PLATFORM_QUEUES, settings.bus_retry_delays_ms)
    finally:
        await bus.close()


@dataclass
class Tenant:
    tenant_id: str
    headers: dict[str, str]  # the owner's bearer token, CSRF token and cookies
    marks: set[str] = field(default_factory=set)  # ids and strings only this tenant has
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> one of its ids


def _fresh_ip() -> dict[str, str]:
    """A client address per call: the per-IP limits of sign-up and login are tested elsewhere."""
    return {"X-Forwarded-For": f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"}


def _post(gateway: str, path: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    headers = dict(auth or {}) | _fresh_ip()
    response = requests.post(f"{gateway}{path}", json=body, headers=headers, timeout=10)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


def _tenant(gateway: str, name: str) -> Tenant:
    email = f"{name.lower()}-{secrets.token_hex(6)}@example.test"
    business = f"{name} Trading {secrets.token_hex(6)}"
    registered = _post(gateway, "/api/v1/auth/register", {
        "business_name": business, "name": f"{name} Owner", "email": email, "password": PASSWORD,
    })  # fmt: skip
    response = requests.post(
        f"{gateway}/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=_fresh_ip(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    # __Host- cookies are Secure: a client on plain http must send them by hand, as a browser
    # behind TLS would.
    csrf = str(response.cookies["__Host-majlis_csrf"])
    refresh = str(response.cookies["__Host-majlis_refresh"])
    headers = {
        "Authorization": f"Bearer {response.json()['access_token']}",
        "X-CSRF-Token": csrf,
        "Cookie": f"__Host-majlis_csrf={csrf}; __Host-majlis_refresh={refresh}",
    }
    tenant = Tenant(registered["tenant_id"], headers, {registered["tenant_id"]})
    tenant.marks |= {email, business}
    return tenant


def _with_data(gateway: str, tenant: Tenant) -> Tenant:
    """A number, an API key and an invite: rows whose ids must stay within the tenant."""
    token = tenant.headers
    pnid = str(10**14 + secrets.randbelow(9 * 10**14))
    number = _post(gateway, "/api/v1/numbers", {
        "phone_number_id": pnid, "waba_id": str(10**14 + secrets.randbelow(9 * 10**14)),
        "display_number": "+971 4 555 0101", "access_token": "EAA" + secrets.token_hex(12),
    }, token)  # fmt: skip
    key = _post(gateway, "/api/v1/api-keys", {"name": "sync", "scopes": ["contacts:read"]}, token)
    invite_email = f"invitee-{secrets.token_hex(6)}@example.test"
    invite = _post(gateway, "/api/v1/team/invites", {"email": invite_email, "role": "agent"}, token)
    me = requests.get(f"{gateway}/api/v1/me", headers=token, timeout=10).json()
    tenant.ids = {
        "number_id": number["id"],
        "key_id": key["id"],
        "invite_id": invite["id"],
        "user_id": me["user"]["id"],
    }
    tenant.marks |= {pnid, invite_email, *tenant.ids.values()}
    return tenant


@pytest.fixture(scope="module")
def tenants(platform: str) -> tuple[Tenant, Tenant]:
    """Tenant A (whose owner's token schemathesis uses) and tenant B, each with data."""
    return _with_data(platform, _tenant(platform, "Alpha")), _with_data(
        platform, _tenant(platform, "Bravo")
    )


def no_data_of_tenant_b(marks: set[str]) -> Any:
    """A check: the response body holds none of tenant B's ids or strings."""

    def check(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
        text = response.content.decode(errors="replace")
        leaked = sorted(mark for mark in marks if mark in text)
        assert not leaked, f"tenant B's data in tenant A's response: {leaked}"
        return None

    return check


# Every back-end route is documented with its real body schema (majlis.openapi_backends), so
# the generated cases get past validation and do real work: about 2,000 requests that took
# over the default 120 s once on a loaded machine. A hang still fails by name, just later.
@pytest.mark.timeout(600)
def test_api_conforms_to_its_document_as_tenant_a(
    platform: str, tenants: tuple[Tenant, Tenant]
) -> None:
    """Every operation of the served document, driven by schemathesis' generated cases."""
    tenant_a, tenant_b = tenants
    # schemathesis' pytest loader (from_fixture) does not run under pytest 9; its cases and
    # checks are used directly, one hypothesis run per operation.
    loaded = schemathesis.openapi.from_url(f"{platform}/api/v1/openapi.json", timeout=10)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        no_data_of_tenant_b(tenant_b.marks),
    ]
    failures: list[str] = []
    operations = 0
    for result in loaded.exclude(path_regex=EXCLUDED).get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @hypothesis.settings(max_examples=schema_examples())
        @hypothesis.given(operation.as_strategy())
        def exercise(case: Case[Any]) -> None:
            count("schemathesis (gateway API, as tenant A)")
            case.call_and_validate(
                base_url=platform, headers=tenant_a.headers, checks=checks, timeout=10
            )

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001  (all operations' failures in one report)
            failures.append(f"{operation.label}: {error}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)


def test_tenant_b_ids_are_not_found_by_tenant_a(
    platform: str, tenants: tuple[Tenant, Tenant]
) -> None:
    """Every documented operation with a path id, given B's ids with A's credentials: 404."""
    tenant_a, tenant_b = tenants
    document = requests.get(
        f"{platform}/api/v1/openapi.json", headers=_fresh_ip(), timeout=10
    ).json()
    check = no_data_of_tenant_b(tenant_b.marks)
    tried = 0
    for template, operations in document["paths"].items():
        names = re.findall(r"\{([a-z_]+)\}", template)
        if not names or not all(n in tenant_b.ids for n in names):
            continue
        path = template.format(**tenant_b.ids)
        for method, operation in operations.items():
            if method.startswith("x-"):
                continue  # an extension of the path item (x-majlis-proxy), not an operation
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            response = requests.request(
                method, f"{platform}{path}", json=body, headers=tenant_a.headers, timeout=10
            )
            assert response.status_code in (404, 422), (method, path, response.text)
            answer = response.json()
            answer.pop("instance", None)  # the path A asked for, echoed back: not B's data
            assert not any(mark in str(answer) for mark in tenant_b.marks), answer
            tried += 1
    assert tried >= 5
    # The check itself sees B's data where it is: B reading its own numbers.
    own = requests.get(f"{platform}/api/v1/numbers", headers=tenant_b.headers, timeout=10)
    with pytest.raises(AssertionError, match="tenant B's data"):
        check(None, Response.from_requests(own, verify=True), None)
