"""The breach runbook's query (security checklist 44): `python -m audit.breach`.

Which tenants and contacts had data readable under a leaked key, and which an actor touched in
a window, answered tenant by tenant under RLS from the real database (values found by their
key-id header, never decrypted; audit rows as the log holds them).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.breach import Question, answer
from majlis.crypto.aead import key_prefix
from majlis.db import tenant_transaction


def _sealed(key_id: str) -> bytes:
    """A value as the cipher stores it under `key_id` (header, nonce, ciphertext and tag)."""
    return key_prefix(key_id) + secrets.token_bytes(12 + 20 + 16)


async def _contact(conn: Any, tenant_id: uuid.UUID, key_id: str) -> uuid.UUID:
    contact_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc)"
        " VALUES ($1, $2, $3, $4, $5)",
        tenant_id, contact_id, _sealed(key_id), secrets.token_bytes(32), _sealed(key_id),
    )  # fmt: skip
    return contact_id


async def _conversation_with_message(
    conn: Any, tenant_id: uuid.UUID, contact_id: uuid.UUID, body_key: str
) -> uuid.UUID:
    number_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id, display_number,"
        " access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
        tenant_id, number_id, str(10**14 + secrets.randbelow(10**14)),
        str(10**14 + secrets.randbelow(10**14)), _sealed("safe"),
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO conversations (tenant_id, id, contact_id, number_id) VALUES ($1, $2, $3, $4)",
        tenant_id, conversation_id, contact_id, number_id,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO messages (tenant_id, id, conversation_id, direction, type, body_enc,"
        " status) VALUES ($1, $2, $3, 'inbound', 'text', $4, 'received')",
        tenant_id, uuid.uuid4(), conversation_id, _sealed(body_key),
    )  # fmt: skip
    return conversation_id


async def _audit(
    admin_pool: Any, tenant_id: uuid.UUID, seq: int, actor: uuid.UUID, at: datetime,
    action: str, target_type: str, target_id: uuid.UUID,
) -> None:  # fmt: skip
    """An audit row as the writer appends it (the chain's hashes do not matter here)."""
    await admin_pool.execute(
        "INSERT INTO audit_events (tenant_id, seq, event_id, occurred_at, recorded_at, action,"
        " outcome, actor_type, actor_id, actor_role, target_type, target_id, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $4, $5, 'success', 'user', $6, 'agent', $7, $8, $9, $9)",
        tenant_id, seq, uuid.uuid4(), at, action, actor, target_type, str(target_id),
        bytes(32),
    )  # fmt: skip


async def test_the_runbook_names_the_tenants_and_contacts_a_key_or_an_actor_reached(
    db_pool: Any, admin_pool: Any, tenant_factory: Any
) -> None:
    leaked = f"leak{secrets.token_hex(4)}"
    hit, spared, other = await tenant_factory(), await tenant_factory(), await tenant_factory()
    async with tenant_transaction(db_pool, hit, "owner") as conn:
        exposed = await _contact(conn, hit, leaked)  # its own fields
        safe = await _contact(conn, hit, "safe")
        wrote = await _contact(conn, hit, "safe")  # a message of theirs
        conversation = await _conversation_with_message(conn, hit, wrote, leaked)
    async with tenant_transaction(db_pool, spared, "owner") as conn:
        await _conversation_with_message(conn, spared, await _contact(conn, spared, "safe"), "safe")

    intruder, bystander = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    since, until = now - timedelta(hours=2), now
    erased = uuid.uuid4()  # a contact since erased: the log keeps its id
    await _audit(admin_pool, hit, 1, intruder, now - timedelta(hours=1), "contacts.updated",
                 "contact", safe)  # fmt: skip
    await _audit(admin_pool, hit, 2, intruder, now - timedelta(minutes=5),
                 "conversations.assigned", "conversation", conversation)  # fmt: skip
    await _audit(admin_pool, hit, 3, intruder, now - timedelta(days=2), "contacts.updated",
                 "contact", exposed)  # before the window  # fmt: skip
    await _audit(admin_pool, other, 1, intruder, now - timedelta(minutes=30),
                 "contacts.exported", "contact", erased)  # fmt: skip
    await _audit(admin_pool, spared, 1, bystander, now - timedelta(minutes=30),
                 "contacts.updated", "contact", safe)  # fmt: skip

    by_key = await answer(db_pool, Question(key_id=leaked))
    assert by_key["tenants"] == [
        {
            "tenant_id": str(hit),
            "under_key": {
                "values": {"contacts.phone_enc": 1, "contacts.name_enc": 1,
                           "messages.body_enc": 1},
                "contacts": sorted([str(exposed), str(wrote)]),
            },
        }
    ]  # fmt: skip
    by_actor = await answer(db_pool, Question(actor_id=intruder, since=since, until=until))
    tenants = {t["tenant_id"]: t["by_actor"] for t in by_actor["tenants"]}
    assert tenants == {
        str(hit): {
            "actions": {"contacts.updated": 1, "conversations.assigned": 1},
            "contacts": sorted([str(safe), str(wrote)]),
        },
        str(other): {"actions": {"contacts.exported": 1}, "contacts": [str(erased)]},
    }
    both = await answer(db_pool, Question(leaked, intruder, since, until))
    assert {t["tenant_id"] for t in both["tenants"]} == {str(hit), str(other)}

    # The command line speaks one JSON document, ids and counts only.
    window = ("--since", since.isoformat(), "--until", until.isoformat())
    status, out, _ = await _cli("--key", leaked, "--actor", str(intruder), *window)
    assert status == 0
    assert json.loads(out)["tenants"] == both["tenants"]
    status, _, err = await _cli("--actor", str(intruder))
    assert status == 2
    assert "window" in err


async def _cli(*args: str) -> tuple[int | None, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "audit.breach", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()
