"""The audit service against real PostgreSQL, Redis and RabbitMQ: chain, grants, API, tamper."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from audit.chain import entry_hash
from audit.deps import SIGNING_KEY, WRITER_POOL
from audit.heads import sign_tenant_head
from audit.verify import main as verify_main
from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope
from majlis.events.broadcast import BroadcastAuditRecorded
from majlis.events.chatflow import ChatflowAuditRecorded
from majlis.events.gateway import AuditRecorded
from majlis.events.inbox import InboxAuditRecorded
from majlis.http.tokens import TokenSigner
from majlis.messaging import connect_publisher
from majlis.settings import Settings


@dataclass
class AuditUnderTest:
    base: str
    app: web.Application
    settings: Settings
    session: aiohttp.ClientSession

    def token(self, tenant_id: uuid.UUID, role: str = "owner") -> str:
        token, _ = TokenSigner.from_settings(self.settings).issue(
            user_id=uuid.uuid4(),
            tenant_id=tenant_id,
            role=role,  # type: ignore[arg-type]  # roles under test include the refused ones
        )
        return token

    async def call(
        self, method: str, path: str, tenant_id: uuid.UUID, role: str = "owner"
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token(tenant_id, role)}"}
        async with self.session.request(method, self.base + path, headers=headers) as response:
            if response.content_type.endswith("json"):
                return response.status, await response.json(content_type=None)
            return response.status, await response.text()


@pytest.fixture
async def audit_service(settings: Settings) -> AsyncIterator[AuditUnderTest]:
    """The audit service in-process, consuming this run's `audit.events` queue."""
    from audit.app import create_app

    # Heads are signed by the tests themselves, at the moments they choose.
    configured = settings.model_copy(update={"audit_head_interval_seconds": 3600})
    server = TestServer(create_app(configured), host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    yield AuditUnderTest(str(server.make_url("")).rstrip("/"), server.app, configured, session)
    await session.close()
    await server.close()


def audit_event(tenant_id: uuid.UUID, action: str = "team.role.changed", **fields: Any) -> Envelope:
    values: dict[str, Any] = {"actor_type": "user", "actor_id": uuid.uuid4()} | fields
    return make_envelope(AuditRecorded(action=action, **values), tenant_id=tenant_id)


async def publish(settings: Settings, *envelopes: Envelope) -> None:
    publisher = await connect_publisher(settings)
    try:
        for envelope in envelopes:
            await publisher.publish(envelope)
    finally:
        await publisher.close()


async def entries(db_pool: Any, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    async with tenant_transaction(db_pool, tenant_id, readonly=True) as conn:
        return await conn.fetch("SELECT * FROM audit_events ORDER BY seq")


async def wait_for_entries(db_pool: Any, tenant_id: uuid.UUID, count: int) -> list[asyncpg.Record]:
    async with asyncio.timeout(15):
        while True:
            rows = await entries(db_pool, tenant_id)
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.05)


async def make_business(db_pool: Any, tenant_id: uuid.UUID) -> None:
    async with tenant_transaction(db_pool, tenant_id) as conn:
        await conn.execute("UPDATE tenants SET plan = 'business' WHERE id = $1", tenant_id)


async def test_events_are_chained_once_even_when_redelivered(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()  # starter: its events are recorded all the same
    first, second = audit_event(tenant_id), audit_event(tenant_id, "numbers.created")
    await publish(settings, first, first, second, second, first)
    rows = await wait_for_entries(db_pool, tenant_id, 2)
    await asyncio.sleep(0.5)  # time for any duplicate to land, if it were going to
    rows = await entries(db_pool, tenant_id)
    assert [(r["seq"], r["event_id"]) for r in rows] == [(1, first.id), (2, second.id)]
    assert bytes(rows[0]["prev_hash"]) == bytes(32)
    assert bytes(rows[1]["prev_hash"]) == bytes(rows[0]["hash"])
    assert all(entry_hash(r) == bytes(r["hash"]) for r in rows)


async def test_every_producers_audit_events_join_the_same_chain(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()
    gateway_side = audit_event(tenant_id, "team.role.changed")
    inbox_side = make_envelope(
        InboxAuditRecorded(
            action="conversation.taken_over",
            actor_type="user",
            actor_id=uuid.uuid4(),
            target_type="conversation",
            target_id=str(uuid.uuid4()),
        ),
        tenant_id=tenant_id,
    )
    broadcast_side = make_envelope(
        BroadcastAuditRecorded(
            action="templates.created", actor_type="user", actor_id=uuid.uuid4()
        ),
        tenant_id=tenant_id,
    )
    chatflow_side = make_envelope(
        ChatflowAuditRecorded(action="flows.published", actor_type="user", actor_id=uuid.uuid4()),
        tenant_id=tenant_id,
    )
    await publish(settings, gateway_side, inbox_side, broadcast_side, chatflow_side)
    rows = await wait_for_entries(db_pool, tenant_id, 4)
    assert sorted(r["action"] for r in rows) == [
        "conversation.taken_over",
        "flows.published",
        "team.role.changed",
        "templates.created",
    ]
    assert bytes(rows[1]["prev_hash"]) == bytes(rows[0]["hash"])
    assert bytes(rows[2]["prev_hash"]) == bytes(rows[1]["hash"])
    assert bytes(rows[3]["prev_hash"]) == bytes(rows[2]["hash"])


async def test_app_role_and_owner_cannot_change_the_log(
    audit_service: AuditUnderTest,
    settings: Settings,
    db_pool: Any,
    owner_pool: Any,
    tenant_factory: Any,
) -> None:
    tenant_id = await tenant_factory()
    await publish(settings, audit_event(tenant_id))
    await wait_for_entries(db_pool, tenant_id, 1)
    statements = (
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_heads SET seq = 9",
        "DELETE FROM audit_heads",
    )
    for sql in (
        *statements,
        "INSERT INTO audit_events (tenant_id, seq, event_id, occurred_at, recorded_at, action,"
        " outcome, actor_type, prev_hash, hash) SELECT tenant_id, 99, gen_random_uuid(),"
        " occurred_at, recorded_at, action, outcome, actor_type, prev_hash, hash FROM audit_events",
        "UPDATE audit_chain_heads SET seq = 0",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(db_pool, tenant_id) as conn:
                await conn.execute(sql)
    # The owner holds every privilege and may even lift the forced RLS that hides the rows
    # from it (no policy names it); the trigger refuses it all the same.
    for sql in statements:
        table = (
            sql.split()[-1]
            if sql.startswith("TRUNCATE")
            else sql.split()[1 if sql.startswith("UPDATE") else 2]
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            async with owner_pool.acquire() as conn, conn.transaction():
                await conn.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                await conn.execute(sql)
    # The writer may append, never change.
    writer = audit_service.app[WRITER_POOL]
    for sql in statements[:3]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(writer, tenant_id) as conn:
                await conn.execute(sql)
    assert len(await entries(db_pool, tenant_id)) == 1


async def _chain(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_id: uuid.UUID, n: int
) -> list[asyncpg.Record]:
    await publish(settings, *(audit_event(tenant_id, target_id=str(i)) for i in range(n)))
    return await wait_for_entries(db_pool, tenant_id, n)


async def _verify(audit_service: AuditUnderTest, tenant_id: uuid.UUID) -> dict[str, Any]:
    status, body = await audit_service.call("POST", "/api/v1/audit/verify", tenant_id)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize(
    ("attack", "broken"),
    [
        ("UPDATE audit_events SET target_id = 'forged' WHERE tenant_id = $1 AND seq = 3", 3),
        ("DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 2", 2),
        # Reorder: rows 2 and 3 swap places (through 1000: the key is checked per row).
        (
            "UPDATE audit_events SET seq = seq + 1000 WHERE tenant_id = $1 AND seq IN (2, 3);"
            "UPDATE audit_events SET seq = 5 - (seq - 1000) WHERE tenant_id = $1 AND seq > 1000",
            2,
        ),
    ],
)
async def test_verifier_names_the_first_broken_seq(
    audit_service: AuditUnderTest,
    settings: Settings,
    db_pool: Any,
    admin_pool: Any,
    tenant_factory: Any,
    attack: str,
    broken: int,
) -> None:
    tenant_id = await tenant_factory(plan="business")
    await _chain(audit_service, settings, db_pool, tenant_id, 4)
    assert await _verify(audit_service, tenant_id) == {
        "ok": True,
        "checked": 4,
        "first_broken_seq": None,
        "head_matches_signed": True,
    }
    async with admin_pool.acquire() as conn, conn.transaction():
        # A superuser can bypass triggers; that is the attacker modelled here.
        await conn.execute("SET LOCAL session_replication_role = replica")
        for statement in attack.split(";"):
            await conn.execute(statement, tenant_id)
    verdict = await _verify(audit_service, tenant_id)
    assert verdict["ok"] is False
    assert verdict["first_broken_seq"] == broken
    assert await asyncio.to_thread(verify_main, ["--tenant", str(tenant_id)]) == 1


async def test_rewritten_chain_is_caught_by_the_signed_head(
    audit_service: AuditUnderTest,
    settings: Settings,
    db_pool: Any,
    admin_pool: Any,
    tenant_factory: Any,
) -> None:
    tenant_id = await tenant_factory(plan="business")
    await _chain(audit_service, settings, db_pool, tenant_id, 3)
    key = audit_service.app[SIGNING_KEY]
    assert await sign_tenant_head(audit_service.app[WRITER_POOL], key, tenant_id) == 3
    assert await asyncio.to_thread(verify_main, ["--tenant", str(tenant_id)]) == 0
    async with admin_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE audit_events SET target_id = 'forged' WHERE tenant_id = $1 AND seq = 2",
            tenant_id,
        )
        # The attacker recomputes every hash from the edited row on, so the chain holds.
        rows = await conn.fetch(
            "SELECT * FROM audit_events WHERE tenant_id = $1 ORDER BY seq", tenant_id
        )
        prev = bytes(32)
        for row in rows:
            values = dict(row) | {"prev_hash": prev}
            prev = entry_hash(values)
            await conn.execute(
                "UPDATE audit_events SET prev_hash = $3, hash = $4"
                " WHERE tenant_id = $1 AND seq = $2",
                tenant_id,
                row["seq"],
                values["prev_hash"],
                prev,
            )
    verdict = await _verify(audit_service, tenant_id)
    assert verdict == {
        "ok": False,
        "checked": 3,
        "first_broken_seq": None,
        "head_matches_signed": False,
    }


async def test_csv_export_neutralises_formulas(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory(plan="business")
    payloads = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "a\0b", "\0=1"]
    await publish(settings, *(audit_event(tenant_id, target_id=p) for p in payloads))
    await wait_for_entries(db_pool, tenant_id, len(payloads))
    status, text = await audit_service.call("GET", "/api/v1/audit/export.csv", tenant_id)
    assert status == 200
    assert isinstance(text, str)
    assert "\0" not in text
    assert '"\'=HYPERLINK(""http://x"")"' in text  # RFC 4180: quoted, quotes doubled
    rows = list(csv.DictReader(io.StringIO(text)))
    # Consumers run concurrently, so the chain order need not be the publishing order.
    assert sorted(r["target_id"] for r in rows) == sorted([
        "'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\t=1", "ab", "'=1"
    ])  # fmt: skip


async def test_plan_and_role_gating(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()
    await publish(settings, audit_event(tenant_id))
    await wait_for_entries(db_pool, tenant_id, 1)
    for method, path in (
        ("GET", "/api/v1/audit/events"),
        ("GET", "/api/v1/audit/export.csv"),
        ("POST", "/api/v1/audit/verify"),
    ):
        status, body = await audit_service.call(method, path, tenant_id)
        assert status == 403
        assert body["type"].endswith("/business-plan-required")
    await make_business(db_pool, tenant_id)
    status, body = await audit_service.call("GET", "/api/v1/audit/events", tenant_id, "admin")
    assert status == 200
    assert len(body["items"]) == 1
    for role in ("agent", "viewer"):
        status, body = await audit_service.call("GET", "/api/v1/audit/events", tenant_id, role)
        assert status == 403
        assert body["type"].endswith("/forbidden")
    async with audit_service.session.get(audit_service.base + "/api/v1/audit/events") as response:
        assert response.status == 401


async def test_list_filters_pages_and_stays_in_tenant(
    audit_service: AuditUnderTest, settings: Settings, db_pool: Any, tenant_factory: Any
) -> None:
    mine, other = await tenant_factory(plan="business"), await tenant_factory(plan="business")
    actor = uuid.uuid4()
    await publish(
        settings,
        *(audit_event(mine, "api_keys.created", actor_id=actor, target_type="api_key",
                      target_id=str(i)) for i in range(5)),
        audit_event(mine, "auth.logout"),
        audit_event(other, "api_keys.created", actor_id=actor),
    )  # fmt: skip
    await wait_for_entries(db_pool, mine, 6)
    await wait_for_entries(db_pool, other, 1)
    seen: list[int] = []
    path = f"/api/v1/audit/events?actor_id={actor}&action=api_keys.created&limit=2"
    cursor = ""
    for _ in range(5):
        status, body = await audit_service.call("GET", path + cursor, mine)
        assert status == 200, body
        seen += [item["seq"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    keys = [r["seq"] for r in await entries(db_pool, mine) if r["action"] == "api_keys.created"]
    # Newest first, every entry once, none of `other`'s.
    assert seen == sorted(keys, reverse=True)
    assert len(seen) == 5
    status, body = await audit_service.call(
        "GET", "/api/v1/audit/events?target_type=api_key&target_id=3", mine
    )
    assert [item["target_id"] for item in body["items"]] == ["3"]
    status, body = await audit_service.call("GET", "/api/v1/audit/events?limit=201", mine)
    assert status == 400
    status, body = await audit_service.call("GET", "/api/v1/audit/events?tenant_id=x", mine)
    assert status == 400
    status, body = await audit_service.call("GET", "/api/v1/audit/events", other)
    assert [item["action"] for item in body["items"]] == ["api_keys.created"]
    status, text = await audit_service.call("GET", "/api/v1/audit/export.csv", other)
    assert len(list(csv.DictReader(io.StringIO(text)))) == 1


async def test_a_back_end_refuses_a_sign_in_that_may_only_set_up_two_factor(
    audit_service: AuditUnderTest, db_pool: Any, tenant_factory: Any
) -> None:
    """Defence in depth: the gateway refuses such tokens before proxying, and a back end
    reached some other way refuses them too."""
    tenant_id = await tenant_factory()
    await make_business(db_pool, tenant_id)
    token, _ = TokenSigner.from_settings(audit_service.settings).issue(
        user_id=uuid.uuid4(), tenant_id=tenant_id, role="owner", setup_only=True
    )
    async with audit_service.session.get(
        audit_service.base + "/api/v1/audit/events", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body = await response.json(content_type=None)
        assert response.status == 403, body
    assert body["type"].endswith("/two-factor-setup-required")
    status, _ = await audit_service.call("GET", "/api/v1/audit/events", tenant_id)
    assert status == 200
