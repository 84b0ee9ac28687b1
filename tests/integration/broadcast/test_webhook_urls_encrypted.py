"""Endpoint URLs are encrypted at rest (0019): SQL holds no plaintext URL, the API shows it to
the tenant's managers, deliveries still reach it, and rows written before 0019 are sealed.

The URLs carry a distinctive token (receivers often put one in the query string): that token
must be in no column, event or log line, only in the API answers the tenant's admins read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from broadcast.integrations.views import webhooks_ctx
from majlis.crypto import FieldCipher
from majlis.crypto.reencrypt import seal_plaintext
from majlis.db import tenant_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL

World = Any  # the webhook world of this folder's conftest.py
Team = Any
URL_FIELD = "webhook_endpoints.url"


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that records the paths and query strings it gets."""

    def __init__(self) -> None:
        self.base = ""
        self.hits: list[str] = []

    async def wait_for(self, path_qs: str) -> None:
        async with asyncio.timeout(15):
            while path_qs not in self.hits:  # noqa: ASYNC110  # filled by the server
                await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def handle(request: web.Request) -> web.Response:
        found.hits.append(request.path_qs)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.base = str(server.make_url("")).rstrip("/")
    yield found
    await server.close()


def _token() -> str:
    return "rcvtok" + secrets.token_hex(12)


async def _stored(world: World, team: Team, endpoint_id: str) -> Any:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        return await conn.fetchrow(
            "SELECT url, url_enc FROM webhook_endpoints WHERE id = $1", uuid.UUID(endpoint_id)
        )


async def _any_column_holds(world: World, team: Team, needle: str) -> bool:
    """Whether any text or bytea value of the tenant's endpoint rows holds `needle`."""
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        rows = await conn.fetch("SELECT to_jsonb(e)::text AS row FROM webhook_endpoints e")
        sealed = await conn.fetch("SELECT url_enc FROM webhook_endpoints")
    return any(needle in r["row"] for r in rows) or any(
        needle.encode() in bytes(r["url_enc"]) for r in sealed if r["url_enc"] is not None
    )


async def _delivered(
    world: World, team: Team, endpoint_id: str, receiver: Receiver, qs: str
) -> None:
    status, body = await world.request(
        team, "owner", "POST", f"/api/v1/webhooks/{endpoint_id}/test"
    )
    assert status == 202, body
    await receiver.wait_for(qs)


async def test_the_url_is_encrypted_at_rest_and_round_trips_through_the_api(
    webhook_world: World, receiver: Receiver
) -> None:
    world, team = webhook_world, await webhook_world.team()
    token = _token()
    url = f"{receiver.base}/crm?token={token}"
    with capture_logs() as logs:
        status, created = await world.request(
            team, "owner", "POST", "/api/v1/webhooks",
            {"url": url, "event_types": ["message.received"]},
        )  # fmt: skip
        assert status == 201, created
        assert created["url"] == url
        endpoint_id = created["id"]

        row = await _stored(world, team, endpoint_id)
        assert row["url"] is None
        assert not await _any_column_holds(world, team, token)
        # Bound to the tenant and the column: it decrypts only as this tenant's url.
        assert (
            world.cipher.decrypt_text(row["url_enc"], tenant_id=team.tenant_id, field=URL_FIELD)
            == url
        )

        status, shown = await world.request(team, "admin", "GET", f"/api/v1/webhooks/{endpoint_id}")
        assert (status, shown["url"]) == (200, url)
        status, listed = await world.request(team, "admin", "GET", "/api/v1/webhooks")
        assert [e["url"] for e in listed["items"]] == [url]
        await _delivered(world, team, endpoint_id, receiver, f"/crm?token={token}")

        # A new URL is sealed too, and deliveries follow it.
        moved = f"{receiver.base}/erp?token={token}x"
        status, updated = await world.request(
            team, "admin", "PATCH", f"/api/v1/webhooks/{endpoint_id}", {"url": moved}
        )
        assert (status, updated["url"]) == (200, moved), updated
        # Changing something else keeps the URL (decrypted and sealed again).
        status, updated = await world.request(
            team, "admin", "PATCH", f"/api/v1/webhooks/{endpoint_id}", {"description": "ERP"}
        )
        assert (status, updated["url"]) == (200, moved), updated
        status, rotated = await world.request(
            team, "owner", "POST", f"/api/v1/webhooks/{endpoint_id}/rotate-secret",
            {"overlap_seconds": 0},
        )  # fmt: skip
        assert (status, rotated["url"]) == (200, moved), rotated
        assert (await _stored(world, team, endpoint_id))["url"] is None
        assert not await _any_column_holds(world, team, token)
        await _delivered(world, team, endpoint_id, receiver, f"/erp?token={token}x")

    # Another tenant cannot see it (404, like an unknown id).
    other = await world.team()
    status, _ = await world.request(other, "owner", "GET", f"/api/v1/webhooks/{endpoint_id}")
    assert status == 404
    # Never in an event (the audit events name the fields changed, not their values) ...
    assert world.events, "the observer saw the audit events"
    assert all(token not in json.dumps(payload) for _, payload in world.events)
    # ... nor in a log line.
    assert logs, "the service logged while it worked"
    assert all(token not in json.dumps(entry, default=str) for entry in logs)


async def _legacy_endpoint(world: World, team: Team, url: str) -> uuid.UUID:
    """An endpoint as 0015 stored it (plaintext url), written before 0019 existed."""
    endpoint_id = uuid.uuid4()
    secret = world.cipher.encrypt(
        "whsec_" + secrets.token_hex(16), tenant_id=team.tenant_id, field="webhook_endpoints.secret"
    )
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, secret_enc)"
            " VALUES ($1, $2, $3, '{message.received}', $4)",
            team.tenant_id, endpoint_id, url, secret,
        )  # fmt: skip
    return endpoint_id


async def test_an_endpoint_stored_before_0019_works_and_is_sealed_at_start_up(
    webhook_world: World, receiver: Receiver, db_pool: Any
) -> None:
    world, team = webhook_world, await webhook_world.team()
    token = _token()
    url = f"{receiver.base}/legacy?token={token}"
    endpoint_id = await _legacy_endpoint(world, team, url)
    assert await _any_column_holds(world, team, token)  # the state this migration inherits

    # Until it is sealed, the API and the worker read the plaintext column.
    status, shown = await world.request(team, "admin", "GET", f"/api/v1/webhooks/{endpoint_id}")
    assert (status, shown["url"]) == (200, url)
    await _delivered(world, team, str(endpoint_id), receiver, f"/legacy?token={token}")

    # The broadcast service seals it as it starts (the same context create_app installs).
    app = web.Application()
    app[DB_POOL], app[SETTINGS] = db_pool, world.settings
    context = webhooks_ctx(app)
    await anext(context)
    with contextlib.suppress(StopAsyncIteration):
        await anext(context)

    row = await _stored(world, team, str(endpoint_id))
    assert row["url"] is None
    assert (
        world.cipher.decrypt_text(row["url_enc"], tenant_id=team.tenant_id, field=URL_FIELD) == url
    )
    assert not await _any_column_holds(world, team, token)
    status, shown = await world.request(team, "admin", "GET", f"/api/v1/webhooks/{endpoint_id}")
    assert (status, shown["url"]) == (200, url)
    receiver.hits.clear()
    await _delivered(world, team, str(endpoint_id), receiver, f"/legacy?token={token}")
    # Sealing again finds nothing left to do.
    cipher: FieldCipher = world.cipher
    assert await seal_plaintext(db_pool, cipher, [team.tenant_id]) == {"webhook_endpoints.url": 0}


async def test_the_database_refuses_a_row_with_both_or_neither_url(
    webhook_world: World,
) -> None:
    import asyncpg

    world, team = webhook_world, await webhook_world.team()
    endpoint_id = await _legacy_endpoint(world, team, "https://hooks.example/x")
    sealed = world.cipher.encrypt(
        "https://hooks.example/x", tenant_id=team.tenant_id, field=URL_FIELD
    )
    for change, args in (
        ("url_enc = $2", (sealed,)),  # both
        ("url = NULL", ()),  # neither
    ):
        with pytest.raises(asyncpg.CheckViolationError):
            async with tenant_transaction(world.pool, team.tenant_id) as conn:
                await conn.execute(
                    f"UPDATE webhook_endpoints SET {change} WHERE id = $1",  # noqa: S608  (constant)
                    endpoint_id, *args,
                )  # fmt: skip
