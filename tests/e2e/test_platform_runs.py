"""`make run`'s launcher starts all six services, each ready, and Ctrl-C stops them cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from majlis.db import create_pool, tenant_transaction
from majlis.settings import ServiceName
from majlis.testing.dashboard_e2e import free_ports
from majlis.testing.secret_scan import LoggedOutput

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/webhooks/message__text.json"


async def _customer_message_reaches_the_inbox(
    session: aiohttp.ClientSession,
    ports: dict[ServiceName, int],
    sim_port: int,
    env: dict[str, str],
) -> None:
    """The whole inbound path on running processes: a business signs up and connects a number
    through the gateway; a customer writes through the simulator (`majlis sim send`); the signed
    webhook passes the ingest and the message lands in the inbox, encrypted."""
    gateway = f"http://127.0.0.1:{ports[ServiceName.GATEWAY]}"
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.test"
    password = "end to end passphrase"
    async with session.post(
        f"{gateway}/api/v1/auth/register",
        json={
            "business_name": "E2E Trading",
            "name": "Owner",
            "email": email,
            "password": password,
        },
    ) as response:
        assert response.status == 201, await response.text()
        tenant_id = uuid.UUID((await response.json())["tenant_id"])
    try:
        async with session.post(
            f"{gateway}/api/v1/auth/login", json={"email": email, "password": password}
        ) as response:
            token = (await response.json())["access_token"]
            csrf = response.cookies["__Host-majlis_csrf"].value
            refresh = response.cookies["__Host-majlis_refresh"].value
        phone_number_id = str(uuid.uuid4().int)[:15]
        auth = {
            "Authorization": f"Bearer {token}",
            "X-CSRF-Token": csrf,
            "Cookie": f"__Host-majlis_csrf={csrf}; __Host-majlis_refresh={refresh}",
        }
        async with session.post(
            f"{gateway}/api/v1/numbers",
            json={
                "phone_number_id": phone_number_id,
                "waba_id": "102290129340398",
                "display_number": "+971 4 000 0000",
                "access_token": "EAA" + "e2e" * 10,
            },
            headers=auth,
        ) as response:
            assert response.status == 201, await response.text()
        send = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "majlis.cli",
            "sim",
            "send",
            "--from",
            "+971501234567",
            "--text",
            "مرحبا، أريد حجز موعد",
            "--phone-number-id",
            phone_number_id,
            "--sim-url",
            f"http://127.0.0.1:{sim_port}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await send.communicate()
        assert send.returncode == 0, out.decode()
        pool = await create_pool(env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
        try:
            body = None
            for _ in range(100):
                async with tenant_transaction(pool, tenant_id) as conn:
                    body = await conn.fetchval(
                        "SELECT body_enc FROM messages WHERE direction = 'inbound'"
                    )
                if body is not None:
                    break
                await asyncio.sleep(0.1)
            assert body is not None, "the customer's message never reached the inbox"
            assert "مرحبا".encode() not in body
            await _agent_reply_is_delivered(session, gateway, auth, pool, tenant_id)
            await _analytics_count_it(session, gateway, auth)
            await _the_audit_log_holds_it_once(session, gateway, auth, pool, tenant_id)
            await _a_webhook_delivered_three_times_is_stored_once(
                session, ports, env, phone_number_id, pool, tenant_id
            )
            await _an_echo_of_the_business_app_joins_the_thread(
                env, sim_port, phone_number_id, pool, tenant_id
            )
            await _the_business_apps_address_book_and_history_arrive(
                env, sim_port, phone_number_id, pool, tenant_id
            )
        finally:
            await pool.close()
    finally:
        pool = await create_pool(env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        await pool.close()


async def _a_webhook_delivered_three_times_is_stored_once(
    session: aiohttp.ClientSession,
    ports: dict[ServiceName, int],
    env: dict[str, str],
    phone_number_id: str,
    pool: Any,
    tenant_id: uuid.UUID,
) -> None:
    """Checklist 34 over HTTP: Meta delivers one signed webhook three times (two at once, one
    after); every delivery gets 200, and the inbox keeps one message and counts it once."""
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    entry = document["entry"][0]
    entry["id"] = "102290129340398"
    value = entry["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    message = value["messages"][0]
    wamid = f"wamid.e2e{uuid.uuid4().hex}"
    message.update(id=wamid, timestamp=str(int(time.time())), text={"body": "once, please"})
    body = json.dumps(document).encode()
    signature = hmac.new(env["MAJLIS_META_APP_SECRET"].encode(), body, hashlib.sha256)
    url = f"http://127.0.0.1:{ports[ServiceName.WEBHOOK_INGEST]}/webhooks/whatsapp"
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={signature.hexdigest()}",
    }
    unread = "SELECT coalesce(sum(unread_count), 0) FROM conversations"
    async with tenant_transaction(pool, tenant_id) as conn:
        before = await conn.fetchval(unread)

    async def deliver() -> int:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status

    assert list(await asyncio.gather(deliver(), deliver())) == [200, 200]
    assert await deliver() == 200
    stored = 0
    for _ in range(100):
        async with tenant_transaction(pool, tenant_id) as conn:
            stored = await conn.fetchval("SELECT count(*) FROM messages WHERE wamid = $1", wamid)
        if stored:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # time for any duplicate to land, had one got through
    async with tenant_transaction(pool, tenant_id) as conn:
        stored = await conn.fetchval("SELECT count(*) FROM messages WHERE wamid = $1", wamid)
        after = await conn.fetchval(unread)
    assert stored == 1
    assert after == before + 1


async def _an_echo_of_the_business_app_joins_the_thread(
    env: dict[str, str], sim_port: int, phone_number_id: str, pool: Any, tenant_id: uuid.UUID
) -> None:
    """`majlis sim echo`: the owner answers from the WhatsApp Business app on the phone."""
    echo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "majlis.cli", "sim", "echo", "--to", "+971501234567",
        "--text", "تم الحجز", "--phone-number-id", phone_number_id,
        "--sim-url", f"http://127.0.0.1:{sim_port}",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await echo.communicate()
    assert echo.returncode == 0, out.decode()
    wamid = out.decode().strip()
    for _ in range(100):
        async with tenant_transaction(pool, tenant_id) as conn:
            kind = await conn.fetchval("SELECT sender_kind FROM messages WHERE wamid = $1", wamid)
        if kind is not None:
            break
        await asyncio.sleep(0.1)
    assert kind == "business_app", "the echo never reached the inbox"


async def _the_business_apps_address_book_and_history_arrive(
    env: dict[str, str], sim_port: int, phone_number_id: str, pool: Any, tenant_id: uuid.UUID
) -> None:
    """`majlis sim contact` and `majlis sim history`: a contact of the app's address book
    joins the contacts; a chat of the app's history reads before any live message."""

    async def sim(*arguments: str) -> list[str]:
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "majlis.cli", "sim", *arguments,
            "--phone-number-id", phone_number_id, "--sim-url", f"http://127.0.0.1:{sim_port}",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await run.communicate()
        assert run.returncode == 0, out.decode()
        return out.decode().split()

    assert await sim("contact", "--phone", "+971507770055", "--name", "Huda Saeed") == ["add"]
    wamids = await sim(
        "history", "--with", "+971507770055", "--text", "هل يوجد توصيل؟", "--reply", "Yes"
    )
    assert len(wamids) == 2
    for _ in range(100):
        async with tenant_transaction(pool, tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT m.seq, ct.name_enc IS NOT NULL AS named FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " JOIN contacts ct ON ct.id = c.contact_id WHERE m.wamid = ANY($1::text[])",
                wamids,
            )
        if len(rows) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 2, "the history never reached the inbox"
    assert all(r["seq"] < 0 and r["named"] for r in rows)


async def _agent_reply_is_delivered(
    session: aiohttp.ClientSession,
    gateway: str,
    auth: dict[str, str],
    pool: Any,
    tenant_id: uuid.UUID,
) -> None:
    """The outbound path: the owner finds the conversation, takes it over and answers; the
    dispatcher sends through the simulator, and Meta's statuses bring the reply to delivered."""
    async with session.get(f"{gateway}/api/v1/conversations", headers=auth) as response:
        listing = await response.json()
        assert response.status == 200, listing
    [conversation] = listing["items"]
    assert conversation["window_open"] is True
    url = f"{gateway}/api/v1/conversations/{conversation['id']}"
    async with session.post(f"{url}/takeover", json={}, headers=auth) as response:
        assert response.status == 200, await response.text()
    async with session.get(f"{url}/messages", headers=auth) as response:
        [inbound] = (await response.json())["items"]
    async with session.post(
        f"{url}/messages",
        json={"type": "text", "text": "أهلاً! متى يناسبك؟", "last_seen_message_id": inbound["id"]},
        headers=auth,
    ) as response:
        reply = await response.json()
        assert response.status == 201, reply
    status = None
    for _ in range(150):
        async with tenant_transaction(pool, tenant_id) as conn:
            status = await conn.fetchval(
                "SELECT status FROM messages WHERE id = $1", uuid.UUID(reply["id"])
            )
        if status in ("delivered", "read"):
            break
        await asyncio.sleep(0.1)
    assert status in ("delivered", "read"), f"the reply stopped at {status!r}"


async def _analytics_count_it(
    session: aiohttp.ClientSession, gateway: str, auth: dict[str, str]
) -> None:
    """The inbox's events reach the broadcast service's analytics: one conversation opened, one
    message in, one out, one first response (the owner's, after the take-over)."""
    volumes: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for _ in range(100):
        async with session.get(f"{gateway}/api/v1/analytics/volumes", headers=auth) as response:
            volumes = await response.json()
            assert response.status == 200, volumes
        async with session.get(
            f"{gateway}/api/v1/analytics/response-times", headers=auth
        ) as response:
            times = await response.json()
            assert response.status == 200, times
        if volumes["totals"]["messages_out"] == 1 and times["first_response"]["count"] == 1:
            break
        await asyncio.sleep(0.1)
    totals = volumes["totals"]
    assert (totals["conversations_opened"], totals["messages_in"], totals["messages_out"]) == (
        1,
        1,
        1,
    ), volumes
    assert times["first_response"]["count"] == 1, times


async def _the_audit_log_holds_it_once(
    session: aiohttp.ClientSession,
    gateway: str,
    auth: dict[str, str],
    pool: Any,
    tenant_id: uuid.UUID,
) -> None:
    """What the gateway and the inbox did lands in one chain, each action once; on the
    Business plan the owner reads it through the gateway and the chain verifies."""
    async with session.get(f"{gateway}/api/v1/audit/events", headers=auth) as response:
        assert response.status == 403, await response.text()
        assert (await response.json())["type"].endswith("business-plan-required")
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("UPDATE tenants SET plan = 'business' WHERE id = $1", tenant_id)
    wanted = {
        "auth.login.succeeded",
        "numbers.created",
        "conversation.taken_over",
        "messages.queued",
    }
    actions: list[str] = []
    for _ in range(100):
        async with session.get(
            f"{gateway}/api/v1/audit/events", params={"limit": "100"}, headers=auth
        ) as response:
            page = await response.json()
            assert response.status == 200, page
        actions = [item["action"] for item in page["items"]]
        if wanted <= set(actions):
            break
        await asyncio.sleep(0.1)
    assert wanted <= set(actions), actions
    assert actions.count("conversation.taken_over") == 1
    assert actions.count("messages.queued") == 1
    async with session.post(f"{gateway}/api/v1/audit/verify", json={}, headers=auth) as response:
        verdict = await response.json()
        assert response.status == 200, verdict
    assert verdict["ok"] is True, verdict
    assert verdict["first_broken_seq"] is None
    assert verdict["checked"] >= len(actions)
    async with session.get(f"{gateway}/api/v1/audit/export.csv", headers=auth) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/csv")
        exported = await response.text()
    header, *lines = exported.strip().splitlines()
    assert "action" in header
    assert sum("conversation.taken_over" in line for line in lines) == 1
    assert "مرحبا" not in exported  # field names and ids, never the customer's words


async def _lines_until_the_end(stdout: LoggedOutput, lines: list[str]) -> None:
    while line := await stdout.readline():
        lines.append(line.decode())


async def test_devrun_starts_every_service_and_stops_on_ctrl_c() -> None:
    free = free_ports(len(ServiceName) + 1)
    ports = dict(zip(ServiceName, free, strict=False))
    env = os.environ | {f"MAJLIS_{s.value.upper()}_PORT": str(p) for s, p in ports.items()}
    # The gateway proxies to these back ends (test.env points them nowhere).
    env |= {
        f"MAJLIS_{s.value.upper()}_URL": f"http://127.0.0.1:{ports[s]}"
        for s in (ServiceName.INBOX, ServiceName.CHATFLOW, ServiceName.BROADCAST, ServiceName.AUDIT)
    }
    # The Graph API simulator that `make run` starts gets a free port too.
    env |= {"MAJLIS_GRAPH_SIMULATOR_PORT": str(free[-1]), "MAJLIS_GRAPH_API_URL": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.devrun",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # A group of its own: a failing test kills the launcher and every service it started.
        start_new_session=True,
    )
    assert process.stdout is not None
    # The services' log lines go to the run's log too: the secret scanner reads them there.
    stdout = LoggedOutput(process.stdout)
    output: list[str] = []
    later: list[str] = []
    reader: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await stdout.readline()).decode()
                assert line, "launcher exited before the platform was ready:\n" + "".join(output)
                output.append(line)
                if "Press Ctrl-C to stop" in line:
                    break
        banner = "".join(output)
        # Read on while the checks run: the services block once the pipe of an unread
        # launcher fills with their log lines.
        reader = asyncio.create_task(_lines_until_the_end(stdout, later))
        async with aiohttp.ClientSession() as session:
            for service, port in ports.items():
                assert f"http://127.0.0.1:{port}" in banner
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    body = await response.json()
                    assert response.status == 200, (service, body)
                    assert body["checks"] == {"postgres": True, "redis": True, "rabbitmq": True}
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert response.status == 200
            await _customer_message_reaches_the_inbox(session, ports, free[-1], env)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await reader
            assert await process.wait() == 0
        rest = "".join(later)
        assert "stopped." in rest
        assert rest.count("service.stopped") == len(ServiceName)
    finally:
        if process.returncode is None:
            # A failed check: the launcher stops the services it started (each runs in a
            # session of its own, out of reach of a signal to the launcher's group).
            if reader is None:
                reader = asyncio.create_task(_lines_until_the_end(stdout, later))
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the launcher's group
        await process.wait()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
