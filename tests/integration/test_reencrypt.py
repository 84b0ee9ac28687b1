"""Key rotation against the real database: re-encryption, resumption, tampering, the registry."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from majlis.crypto import (
    ENCRYPTED_COLUMNS,
    BlindIndexer,
    DecryptionError,
    FieldCipher,
    KeyRing,
)
from majlis.crypto import reencrypt as reencrypt_module
from majlis.crypto.reencrypt import reencrypt_all
from majlis.db import all_tenant_ids, tenant_transaction
from majlis.settings import Settings

COLUMNS = {c.name: c for c in ENCRYPTED_COLUMNS}
TOKEN = "whatsapp_numbers.access_token_enc"
PHONE = "contacts.phone_enc"
PER_TENANT = {
    TOKEN: 1,
    PHONE: 3,
    "contacts.bsuid_enc": 1,
    "contacts.name_enc": 3,
    "contacts.email_enc": 1,
    "contacts.attributes_enc": 1,
    "messages.body_enc": 4,
    "media.content_enc": 0,  # the seed stores no media
    "outbound_sends.payload_enc": 0,  # nor sends in flight
    "templates.content_enc": 0,  # nor templates
    "flow_sessions.variables_enc": 0,  # nor chatflow sessions
    "flow_sessions.pending_enc": 0,  # nor their pending external calls
    "flow_logs.detail_enc": 0,  # nor their logs
    "campaigns.parameters_enc": 0,  # nor campaigns
    "campaigns.audience_enc": 0,
    "campaign_recipients.phone_enc": 0,
    "campaign_recipients.parameters_enc": 0,
    "knowledge_entries.content_enc": 0,  # nor a knowledge base
    "knowledge_documents.title_enc": 0,
    "knowledge_documents.text_enc": 0,
    "ai_settings.api_key_enc": 0,  # nor AI settings
    "leads.data_enc": 0,  # nor leads
    "companion_numbers.phone_enc": 0,  # nor an owner's companion
    "webhook_endpoints.secret_enc": 0,  # nor outbound webhooks
    "webhook_endpoints.previous_secret_enc": 0,
    "webhook_deliveries.payload_enc": 0,
    "webhook_endpoints.url_enc": 0,
    "user_two_factor.secret_enc": 0,  # nor authenticator secrets
}


@dataclass
class Seed:
    """What was written for one tenant: plaintext by (column name, row id)."""

    tenant_id: uuid.UUID
    number_id: uuid.UUID
    plaintexts: dict[tuple[str, uuid.UUID], str] = field(default_factory=dict)


def _ring(settings: Settings, active: str) -> FieldCipher:
    return FieldCipher(KeyRing.from_spec(settings.encryption_keys.get_secret_value(), active))


@pytest.fixture
def cipher_k1(settings: Settings) -> FieldCipher:
    return _ring(settings, "k1")


@pytest.fixture
def cipher_k2(settings: Settings) -> FieldCipher:
    return _ring(settings, "k2")


def _digits(n: int) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


async def _seed(
    db_pool: Any, settings: Settings, cipher: FieldCipher, tenant_id: uuid.UUID
) -> Seed:
    """One number, three contacts, a conversation and messages, all encrypted under ``cipher``."""
    indexer = BlindIndexer.from_settings(settings)
    seed = Seed(tenant_id, uuid.uuid4())

    def enc(name: str, row_id: uuid.UUID, plaintext: str) -> bytes:
        seed.plaintexts[(name, row_id)] = plaintext
        return cipher.encrypt(plaintext, tenant_id=tenant_id, field=COLUMNS[name].field)

    async with tenant_transaction(db_pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id, display_number,"
            " access_token_enc) VALUES ($1, $2, $3, $4, $5, $6)",
            tenant_id, seed.number_id, _digits(15), _digits(15), "+971 4 000 0000",
            enc(TOKEN, seed.number_id, f"EAAtest{tenant_id.hex}"),
        )  # fmt: skip
        contact_ids = [uuid.uuid4() for _ in range(3)]
        for i, cid in enumerate(contact_ids):
            phone = f"+97150123456{i}"
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc)"
                " VALUES ($1, $2, $3, $4, $5)",
                tenant_id, cid, enc(PHONE, cid, phone), indexer.phone(phone, tenant_id=tenant_id),
                enc("contacts.name_enc", cid, f"عميل رقم {i}"),
            )  # fmt: skip
        c0, c1, c2 = contact_ids
        await conn.execute(
            "UPDATE contacts SET email_enc = $2 WHERE id = $1",
            c0, enc("contacts.email_enc", c0, "c0@example.ae"),
        )  # fmt: skip
        await conn.execute(
            "UPDATE contacts SET attributes_enc = $2 WHERE id = $1",
            c1, enc("contacts.attributes_enc", c1, json.dumps({"tier": "gold", "city": "دبي"})),
        )  # fmt: skip
        bsuid = f"AE.{_digits(12)}"
        await conn.execute(
            "UPDATE contacts SET bsuid_enc = $2, bsuid_bidx = $3 WHERE id = $1",
            c2, enc("contacts.bsuid_enc", c2, bsuid),
            indexer.value(bsuid, tenant_id=tenant_id, field="contacts.bsuid"),
        )  # fmt: skip
        conversation_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id)"
            " VALUES ($1, $2, $3, $4)",
            tenant_id, conversation_id, c0, seed.number_id,
        )  # fmt: skip
        for i in range(5):
            mid = uuid.uuid4()
            # The last message has no body (e.g. a sticker): NULLs are left alone.
            body = enc("messages.body_enc", mid, f"رسالة {i} / message {i}") if i < 4 else None
            await conn.execute(
                "INSERT INTO messages (tenant_id, id, conversation_id, direction, type, body_enc,"
                " status) VALUES ($1, $2, $3, 'inbound', 'text', $4, 'received')",
                tenant_id, mid, conversation_id, body,
            )  # fmt: skip
    return seed


async def _snapshot(db_pool: Any, tenant_id: uuid.UUID) -> dict[tuple[str, uuid.UUID], bytes]:
    """Every non-NULL ciphertext of a tenant, by (column name, row id)."""
    out: dict[tuple[str, uuid.UUID], bytes] = {}
    async with tenant_transaction(db_pool, tenant_id, readonly=True) as conn:
        for col in ENCRYPTED_COLUMNS:
            rows = await conn.fetch(
                f"SELECT id, {col.column} AS v FROM {col.table} WHERE {col.column} IS NOT NULL"  # noqa: S608
            )
            out.update({(col.name, r["id"]): r["v"] for r in rows})
    return out


def _key_ids(cipher: FieldCipher, snapshot: dict[tuple[str, uuid.UUID], bytes]) -> set[str]:
    return {cipher.key_id_of(ct) for ct in snapshot.values()}


async def _assert_all_under(db_pool: Any, cipher: FieldCipher, seed: Seed, key_id: str) -> None:
    snapshot = await _snapshot(db_pool, seed.tenant_id)
    assert set(snapshot) == set(seed.plaintexts)
    for (name, row_id), ct in snapshot.items():
        assert cipher.key_id_of(ct) == key_id, (name, row_id)
        field_name = COLUMNS[name].field
        plaintext = cipher.decrypt_text(ct, tenant_id=seed.tenant_id, field=field_name)
        assert plaintext == seed.plaintexts[(name, row_id)]


async def test_rotation_re_encrypts_every_column_once(
    db_pool: Any, settings: Settings, tenant_factory: Any, cipher_k1: FieldCipher,
    cipher_k2: FieldCipher,
) -> None:  # fmt: skip
    seeds = [await _seed(db_pool, settings, cipher_k1, await tenant_factory()) for _ in range(2)]
    tenants = [s.tenant_id for s in seeds]
    for seed in seeds:
        # Before the job runs, the new ring still reads every old value.
        await _assert_all_under(db_pool, cipher_k2, seed, "k1")

    report = await reencrypt_all(db_pool, cipher_k2, batch_size=2, tenant_ids=tenants)
    assert dict(report) == {name: 2 * n for name, n in PER_TENANT.items()}
    assert report.total_failed == 0
    for seed in seeds:
        await _assert_all_under(db_pool, cipher_k2, seed, "k2")

    again = await reencrypt_all(db_pool, cipher_k2, batch_size=2, tenant_ids=tenants)
    assert dict(again) == dict.fromkeys(PER_TENANT, 0)
    assert again.total_failed == 0


async def test_interrupted_run_is_finished_by_a_rerun(
    db_pool: Any, settings: Settings, tenant_factory: Any, cipher_k1: FieldCipher,
    cipher_k2: FieldCipher,
) -> None:  # fmt: skip
    seed = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    tenants = [seed.tenant_id]

    # A partial run: only one table.
    only_numbers = [COLUMNS[TOKEN]]
    report = await reencrypt_all(db_pool, cipher_k2, batch_size=2, columns=only_numbers,
                                 tenant_ids=tenants)  # fmt: skip
    assert dict(report) == {TOKEN: 1}

    class CrashingCipher(FieldCipher):
        """Dies on the third encryption: mid-way through the second batch of contacts."""

        calls = 0

        def encrypt(self, plaintext: bytes | str, *, tenant_id: uuid.UUID, field: str) -> bytes:
            CrashingCipher.calls += 1
            if CrashingCipher.calls == 3:
                raise RuntimeError("simulated crash")
            return super().encrypt(plaintext, tenant_id=tenant_id, field=field)

    with pytest.raises(RuntimeError, match="simulated crash"):
        await reencrypt_all(db_pool, CrashingCipher(cipher_k2.keyring), batch_size=2,
                            tenant_ids=tenants)  # fmt: skip
    snapshot = await _snapshot(db_pool, seed.tenant_id)
    phones = {k: v for k, v in snapshot.items() if k[0] == PHONE}
    # The first batch of phones committed; the batch in progress rolled back whole.
    assert sorted(cipher_k2.key_id_of(v) for v in phones.values()) == ["k1", "k2", "k2"]
    assert cipher_k2.key_id_of(snapshot[(TOKEN, seed.number_id)]) == "k2"

    rerun = await reencrypt_all(db_pool, cipher_k2, batch_size=2, tenant_ids=tenants)
    assert dict(rerun) == {**PER_TENANT, TOKEN: 0, PHONE: 1}
    await _assert_all_under(db_pool, cipher_k2, seed, "k2")


async def test_default_run_covers_all_tenants(
    db_pool: Any, settings: Settings, tenant_factory: Any, cipher_k1: FieldCipher,
    cipher_k2: FieldCipher, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    seed = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    assert seed.tenant_id in await all_tenant_ids(db_pool)

    # Other suites' tenants live in the same database: limit "all" to ours, keep the code path.
    async def ours(_pool: Any) -> list[uuid.UUID]:
        return [seed.tenant_id]

    monkeypatch.setattr(reencrypt_module, "all_tenant_ids", ours)
    report = await reencrypt_all(db_pool, cipher_k2)
    assert dict(report) == PER_TENANT
    await _assert_all_under(db_pool, cipher_k2, seed, "k2")


async def test_ciphertext_copied_to_another_tenant_fails_and_is_reported(
    db_pool: Any, admin_pool: Any, settings: Settings, tenant_factory: Any,
    cipher_k1: FieldCipher, cipher_k2: FieldCipher,
) -> None:  # fmt: skip
    a = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    b = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    stolen = (await _snapshot(db_pool, b.tenant_id))[(TOKEN, b.number_id)]
    # An attacker with raw database access moves B's token into A's row (RLS does not stop them).
    await admin_pool.execute(
        "UPDATE whatsapp_numbers SET access_token_enc = $1 WHERE tenant_id = $2 AND id = $3",
        stolen, a.tenant_id, a.number_id,
    )  # fmt: skip
    with pytest.raises(DecryptionError):
        cipher_k2.decrypt(stolen, tenant_id=a.tenant_id, field=COLUMNS[TOKEN].field)

    with capture_logs() as logs:
        report = await reencrypt_all(
            db_pool, cipher_k2, batch_size=2, tenant_ids=[a.tenant_id, b.tenant_id]
        )
    assert report.failed == {**dict.fromkeys(PER_TENANT, 0), TOKEN: 1}
    assert report[TOKEN] == 1
    assert report[PHONE] == 6
    after = await _snapshot(db_pool, a.tenant_id)
    assert after[(TOKEN, a.number_id)] == stolen
    failures = [e for e in logs if e["event"] == "reencrypt.decrypt_failed"]
    assert failures == [
        {
            "event": "reencrypt.decrypt_failed",
            "log_level": "warning",
            "table": "whatsapp_numbers",
            "column": "access_token_enc",
            "tenant_id": str(a.tenant_id),
            "row_id": str(a.number_id),
        }
    ]
    # Still failing on a rerun, and still unchanged: the row needs a human, not the job.
    rerun = await reencrypt_all(db_pool, cipher_k2, tenant_ids=[a.tenant_id])
    assert rerun.total_failed == 1
    assert (await _snapshot(db_pool, a.tenant_id))[(TOKEN, a.number_id)] == stolen


async def test_concurrent_writer_wins(
    db_pool: Any, settings: Settings, tenant_factory: Any, cipher_k1: FieldCipher,
    cipher_k2: FieldCipher,
) -> None:  # fmt: skip
    seed = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    tid = seed.tenant_id
    target = min(row_id for name, row_id in seed.plaintexts if name == PHONE)
    field_name = COLUMNS[PHONE].field
    written = cipher_k2.encrypt("+971509999999", tenant_id=tid, field=field_name)
    async with tenant_transaction(db_pool, tid) as conn:
        # Hold the row lock so the job reads the old value, then waits to update it.
        await conn.execute("UPDATE contacts SET phone_enc = $2 WHERE id = $1", target, written)
        job = asyncio.create_task(
            reencrypt_all(db_pool, cipher_k2, columns=[COLUMNS[PHONE]], tenant_ids=[tid])
        )
        waiting = 0
        for _ in range(500):
            waiting = await db_pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE contacts SET phone_enc = $3%'"
            )
            if waiting or job.done():
                break
            await asyncio.sleep(0.02)
        assert waiting, "the job never reached the locked row"
        assert not job.done()
    report = await job
    assert report[PHONE] == 2
    snapshot = await _snapshot(db_pool, tid)
    assert snapshot[(PHONE, target)] == written


async def test_command_line(
    db_pool: Any, admin_pool: Any, settings: Settings, tenant_factory: Any,
    cipher_k1: FieldCipher, cipher_k2: FieldCipher,
) -> None:  # fmt: skip
    seed = await _seed(db_pool, settings, cipher_k1, await tenant_factory())
    env = {**os.environ, "MAJLIS_ENCRYPTION_ACTIVE_KEY_ID": "k2", "MAJLIS_LOG_LEVEL": "info"}

    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "majlis.crypto.reencrypt", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode()

    code, out = await run("--batch-size", "2", "--tenant", str(seed.tenant_id))
    assert code == 0, out
    assert "contacts.phone_enc: 3 re-encrypted, 0 failed" in out
    assert "webhook_endpoints.url: 0 plaintext value(s) sealed" in out
    for plaintext in seed.plaintexts.values():
        assert plaintext not in out
    await _assert_all_under(db_pool, cipher_k2, seed, "k2")

    # A row that fails authentication makes the command exit non-zero.
    await admin_pool.execute(
        "UPDATE whatsapp_numbers SET access_token_enc = $1 WHERE tenant_id = $2 AND id = $3",
        cipher_k1.encrypt("x", tenant_id=uuid.uuid4(), field=COLUMNS[TOKEN].field),
        seed.tenant_id, seed.number_id,
    )  # fmt: skip
    code, out = await run("--tenant", str(seed.tenant_id))
    assert code == 1, out
    assert "whatsapp_numbers.access_token_enc: 0 re-encrypted, 1 failed" in out
    assert "reencrypt.decrypt_failed" in out

    code, out = await run("--batch-size", "0")
    assert code == 2
    assert "--batch-size" in out


async def test_plaintext_from_before_a_column_was_encrypted_is_sealed_by_the_run(
    db_pool: Any, tenant_factory: Any, cipher_k1: FieldCipher, cipher_k2: FieldCipher
) -> None:
    """0019 could not encrypt the endpoint URLs 0015 stored in clear (SQL has no key): the
    re-encryption run seals them under the active key and clears the plaintext."""
    tenant_id = await tenant_factory()
    url = f"https://hooks.example/in?token=legacy{secrets.token_hex(8)}"
    endpoint_id = uuid.uuid4()
    async with tenant_transaction(db_pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, secret_enc)"
            " VALUES ($1, $2, $3, '{message.received}', $4)",
            tenant_id, endpoint_id, url,
            cipher_k1.encrypt("whsec_x", tenant_id=tenant_id, field="webhook_endpoints.secret"),
        )  # fmt: skip
    report = await reencrypt_all(db_pool, cipher_k2, tenant_ids=[tenant_id])
    assert report.sealed == {"webhook_endpoints.url": 1}
    assert report["webhook_endpoints.secret_enc"] == 1
    async with tenant_transaction(db_pool, tenant_id, readonly=True) as conn:
        row = await conn.fetchrow("SELECT url, url_enc FROM webhook_endpoints")
    assert row is not None
    assert row["url"] is None
    assert cipher_k2.key_id_of(row["url_enc"]) == "k2"
    field_name = COLUMNS["webhook_endpoints.url_enc"].field
    assert cipher_k2.decrypt_text(row["url_enc"], tenant_id=tenant_id, field=field_name) == url
    again = await reencrypt_all(db_pool, cipher_k2, tenant_ids=[tenant_id])
    assert again.sealed == {"webhook_endpoints.url": 0}
    assert dict(again) == dict.fromkeys(PER_TENANT, 0)


async def test_every_enc_column_is_registered(owner_pool: Any) -> None:
    rows = await owner_pool.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name LIKE '%\\_enc'"
    )
    in_catalog = {(r["table_name"], r["column_name"]) for r in rows}
    registered = {(c.table, c.column) for c in ENCRYPTED_COLUMNS}
    assert in_catalog - registered == set(), "add new *_enc columns to majlis.crypto.columns"
    assert registered - in_catalog == set(), "the registry names a column that does not exist"
    assert {r["data_type"] for r in rows} == {"bytea"}
