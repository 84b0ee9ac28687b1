"""Crash safety with a real process: the broadcast service runs as a subprocess, is killed
with SIGKILL in the middle of a campaign and started again; every recipient gets exactly one
message (no duplicate, no gap) and the campaign completes.

A send claimed just before the kill (committed 'sending', Meta called) is settled the way
production settles it: the status webhook Meta sends echoes our id (biz_opaque_callback_data),
published here as webhook-ingest would publish it, since this test runs no ingest.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import StatusReceived
from majlis.http.tokens import TokenSigner
from majlis.messaging import Bus, Publisher
from majlis.meta import GraphClient
from majlis.settings import Settings
from majlis.testing.benchmarks import free_port

RECIPIENTS = 120
BODY = "Hello {{1}}, our new collection is in store this week."


class Service:
    """`python -m broadcast` in a process group of its own."""

    def __init__(self, sim: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = os.environ | {
            "MAJLIS_GRAPH_API_URL": sim,
            "MAJLIS_BROADCAST_PORT": str(self.port),
            "MAJLIS_OUTBOX_POLL_INTERVAL": "0.05",
        }
        self._log = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self._log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broadcast", env=self._env,
                stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        async with asyncio.timeout(30):
            while True:
                assert self.process.returncode is None, self._log.read_text()[-3000:]
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def kill(self, sig: signal.Signals) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            os.killpg(self.process.pid, sig)
            await self.process.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _tenant(
    settings: Settings, pool: Any, sim: str, http: aiohttp.ClientSession
) -> tuple[uuid.UUID, uuid.UUID, str, str, list[str]]:
    """A tenant with a number (known to the simulator), an approved template, contacts."""
    cipher, indexer = (
        FieldCipher(KeyRing.from_settings(settings)),
        BlindIndexer.from_settings(settings),
    )
    tenant_id, number_id = uuid.uuid4(), uuid.uuid4()
    pnid, waba = str(10**14 + secrets.randbelow(10**14)), str(10**14 + secrets.randbelow(10**14))
    token = "EAA" + secrets.token_hex(8)
    known = {"phone_number_id": pnid, "token": token, "waba_id": waba}
    async with http.post(f"{sim}/_sim/numbers", json=known) as response:
        assert response.status == 201
    name = f"crash_{secrets.token_hex(4)}"
    components = [{"type": "BODY", "text": BODY, "example": {"body_text": [["Sara"]]}}]
    graph = GraphClient.from_settings(http, settings.model_copy(update={"graph_api_url": sim}))
    answer = await graph.create_template(
        waba, token,
        {"name": name, "language": "en_US", "category": "MARKETING", "components": components},
    )  # fmt: skip
    phones = [f"+97150{n:07d}" for n in secrets.SystemRandom().sample(range(10**7), RECIPIENTS)]
    template_id = uuid.uuid4()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 'Crash Co')", tenant_id)
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc, send_rate_per_second)"
            " VALUES ($1, $2, $3, $4, '+97143000000', $5, 25)",
            tenant_id, number_id, pnid, waba,
            cipher.encrypt(token, tenant_id=tenant_id, field="whatsapp_numbers.access_token"),
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO templates (tenant_id, id, number_id, waba_id, name, language, category,"
            " content_enc, meta_template_id, status)"
            " VALUES ($1, $2, $3, $4, $5, 'en_US', 'MARKETING', $6, $7, 'APPROVED')",
            tenant_id, template_id, number_id, waba, name,
            cipher.encrypt(json.dumps(components), tenant_id=tenant_id,
                           field="templates.content"),
            str(answer["id"]),
        )  # fmt: skip
        for index, phone in enumerate(phones):
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc)"
                " VALUES ($1, $2, $3, $4, $5)",
                tenant_id, uuid.uuid4(),
                cipher.encrypt(phone, tenant_id=tenant_id, field="contacts.phone"),
                indexer.value(phone, tenant_id=tenant_id, field="contacts.phone"),
                cipher.encrypt(f"Customer {index}", tenant_id=tenant_id, field="contacts.name"),
            )  # fmt: skip
    return tenant_id, number_id, pnid, str(template_id), phones


async def _sent(http: aiohttp.ClientSession, sim: str, pnid: str) -> list[dict[str, Any]]:
    async with http.get(f"{sim}/_sim/sent", params={"phone_number_id": pnid}) as response:
        data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def _unsettled(pool: Any, tenant_id: uuid.UUID) -> bool:
    """Whether any recipient is still pending or any send still queued (work to do)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        busy = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE state = 'pending')"
            " OR EXISTS (SELECT 1 FROM outbound_sends WHERE state = 'queued')"
            " OR NOT EXISTS (SELECT 1 FROM campaign_recipients)"
        )
    return bool(busy)


async def test_a_killed_service_resumes_the_campaign_without_duplicates_or_gaps(
    settings: Settings, fast_simulator: str, db_pool: Any, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:  # fmt: skip
    sim = fast_simulator
    tenant_id, number_id, pnid, template_id, phones = await _tenant(settings, db_pool, sim, http)
    token = TokenSigner.from_settings(settings).issue(
        user_id=uuid.uuid4(), tenant_id=tenant_id, role="owner"
    )[0]
    auth = {"Authorization": f"Bearer {token}"}
    service = Service(sim, tmp_path / "broadcast.log")
    bus = await Bus.connect(settings, name="majlis-tests-campaign-crash")
    try:
        await service.start(http)
        body = {
            "name": "Crash test", "number_id": str(number_id), "template_id": template_id,
            "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
        }  # fmt: skip
        async with http.post(f"{service.url}/api/v1/campaigns", json=body, headers=auth) as r:
            campaign = await r.json()
            assert r.status == 201, campaign
        start = f"{service.url}/api/v1/campaigns/{campaign['id']}/start"
        async with http.post(start, headers=auth) as r:
            assert r.status == 200, await r.text()
        async with asyncio.timeout(20):
            while len(await _sent(http, sim, pnid)) < RECIPIENTS // 4:  # noqa: ASYNC110  # polls the simulator
                await asyncio.sleep(0.02)
        await service.kill(signal.SIGKILL)  # mid-campaign, no clean shutdown
        at_kill = len(await _sent(http, sim, pnid))
        assert at_kill < RECIPIENTS

        await service.start(http)
        async with asyncio.timeout(40):
            while await _unsettled(db_pool, tenant_id):  # noqa: ASYNC110  # polls the database
                await asyncio.sleep(0.1)
        # Meta's status webhooks (echoing our send id) settle sends whose answer was lost.
        publisher = Publisher(bus)
        for message in await _sent(http, sim, pnid):
            echoed = message["payload"]["biz_opaque_callback_data"]
            status = {"id": message["id"], "status": "sent", "recipient_id": message["wa_id"],
                      "timestamp": str(int(datetime.now(UTC).timestamp())),
                      "biz_opaque_callback_data": echoed}  # fmt: skip
            event = StatusReceived(
                phone_number_id=pnid, waba_id="0", status=status, received_at=datetime.now(UTC)
            )
            await publisher.publish(make_envelope(event, tenant_id=tenant_id))
        await asyncio.sleep(0.5)
        # A send claimed just before the kill that never reached Meta gets no webhook: after
        # outcome_unknown_after_s (600 s; aged here) it fails as "outcome-unknown", visibly,
        # and is never sent a second time (Meta has no idempotency key to make a retry safe).
        async with tenant_transaction(db_pool, tenant_id) as conn:
            limbo = await conn.fetchval(
                "WITH aged AS (UPDATE outbound_sends SET updated_at = now() - interval '601 s'"
                " WHERE state = 'sending' RETURNING 1) SELECT count(*) FROM aged"
            )
        async with asyncio.timeout(20):
            while True:
                async with tenant_transaction(db_pool, tenant_id) as conn:
                    state = await conn.fetchval(
                        "SELECT state FROM campaigns WHERE id = $1", uuid.UUID(campaign["id"])
                    )
                if state == "completed":
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # anything sent twice would show up by now
        received = Counter("+" + m["to"].lstrip("+") for m in await _sent(http, sim, pnid))
        assert max(received.values()) == 1  # no duplicate
        async with tenant_transaction(db_pool, tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT r.state, r.reason_title, s.state AS send_state"
                " FROM campaign_recipients r JOIN outbound_sends s ON s.id = r.id"
            )
        states = Counter(r["state"] for r in rows)
        assert len(rows) == RECIPIENTS  # every recipient was handed to the dispatcher once
        assert states["sent"] == len(received)
        # No gap: the only recipients not messaged are sends in flight at the kill, and they
        # say so (at most a handful: the rate is 25/s).
        assert states["failed"] == (limbo or 0) <= 5
        assert all(r["reason_title"] == "outcome-unknown" for r in rows if r["state"] == "failed")
        assert set(received) <= set(phones)
    finally:
        await service.kill(signal.SIGTERM)
        await bus.close()
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
