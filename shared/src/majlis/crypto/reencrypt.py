"""Key rotation: re-encrypt every registered column under the active key, tenant by tenant.

It first seals what a column registered in ``PLAINTEXT_COLUMNS`` still holds in plaintext (rows
written before their column was encrypted), so one run leaves nothing in clear.

Rotate by adding a new key to ``MAJLIS_ENCRYPTION_KEYS``, making it active with
``MAJLIS_ENCRYPTION_ACTIVE_KEY_ID`` (deploy: new writes use it, old values still decrypt), then
running ``python -m majlis.crypto.reencrypt``. Each batch commits on its own, so the job can be
interrupted and rerun at any time; a finished run converts nothing the second time. Retire the
old key only after a run that reports zero failures.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from majlis.crypto.aead import DecryptionError, FieldCipher
from majlis.crypto.columns import (
    ENCRYPTED_COLUMNS,
    PLAINTEXT_COLUMNS,
    EncryptedColumn,
    PlaintextColumn,
    is_plain_identifier,
)
from majlis.crypto.keyring import KeyRing
from majlis.db import all_tenant_ids, create_pool, tenant_transaction
from majlis.logging import configure_logging, get_logger
from majlis.settings import load_settings

log = get_logger(__name__)


class ReencryptReport(dict[str, int]):
    """Rows re-encrypted per ``"table.column"``; ``failed`` counts rows that would not decrypt."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, int] = {}
        self.sealed: dict[str, int] = {}

    @property
    def total_failed(self) -> int:
        """Rows left unconverted because they failed authentication."""
        return sum(self.failed.values())


def _statements(col: EncryptedColumn) -> tuple[str, str, str]:
    # Identifiers come only from the registry, never from input; check again before use.
    if not (is_plain_identifier(col.table) and is_plain_identifier(col.column)):
        raise ValueError(f"refusing unusual identifier in {col.name}")
    t, c = col.table, col.column
    select = (
        f"SELECT id, {c} AS value FROM {t} WHERE tenant_id = $1 AND {c} IS NOT NULL"  # noqa: S608
        f" AND substring({c} from 1 for $2) <> $3"
    )
    # Keyset pagination: rows that fail to decrypt stay stale and must not be fetched again.
    first = f"{select} ORDER BY id LIMIT $4"
    after = f"{select} AND id > $5 ORDER BY id LIMIT $4"
    # Optimistic: if a concurrent writer changed the value since we read it, its write wins.
    # updated_at is left alone: re-encryption changes no meaning.
    update = f"UPDATE {t} SET {c} = $3 WHERE tenant_id = $1 AND id = $2 AND {c} = $4"  # noqa: S608
    return first, after, update


async def _reencrypt_column(
    pool: asyncpg.Pool[Any],
    cipher: FieldCipher,
    tenant_id: UUID,
    col: EncryptedColumn,
    batch_size: int,
) -> tuple[int, int]:
    """(converted, failed) for one column of one tenant."""
    first_sql, after_sql, update_sql = _statements(col)
    prefix = cipher.active_prefix()
    converted = failed = 0
    last_id: UUID | None = None
    while True:
        # One transaction per batch: progress survives an interruption, locks stay short.
        async with tenant_transaction(pool, tenant_id, "system") as conn:
            if last_id is None:
                rows = await conn.fetch(first_sql, tenant_id, len(prefix), prefix, batch_size)
            else:
                rows = await conn.fetch(
                    after_sql, tenant_id, len(prefix), prefix, batch_size, last_id
                )
            for row in rows:
                old: bytes = row["value"]
                try:
                    plaintext = cipher.decrypt(old, tenant_id=tenant_id, field=col.field)
                except DecryptionError:
                    failed += 1
                    log.warning(
                        "reencrypt.decrypt_failed",
                        table=col.table,
                        column=col.column,
                        tenant_id=str(tenant_id),
                        row_id=str(row["id"]),
                    )
                    continue
                new = cipher.encrypt(plaintext, tenant_id=tenant_id, field=col.field)
                status = await conn.execute(update_sql, tenant_id, row["id"], new, old)
                if status == "UPDATE 1":
                    converted += 1
        if len(rows) < batch_size:
            return converted, failed
        last_id = rows[-1]["id"]


def _seal_statements(col: PlaintextColumn) -> tuple[str, str]:
    enc = col.encrypted
    if not all(map(is_plain_identifier, (enc.table, enc.column, col.column))):
        raise ValueError(f"refusing unusual identifier in {col.name}")
    t, p, c = enc.table, col.column, enc.column
    select = f"SELECT id, {p} AS value FROM {t} WHERE tenant_id = $1 AND {p} IS NOT NULL LIMIT $2"  # noqa: S608
    # Optimistic like the re-encryption: a row changed meanwhile is sealed by the next round.
    update = (
        f"UPDATE {t} SET {c} = $3, {p} = NULL WHERE tenant_id = $1 AND id = $2"  # noqa: S608
        f" AND {p} = $4 AND {c} IS NULL"
    )
    return select, update


async def seal_plaintext(
    pool: asyncpg.Pool[Any],
    cipher: FieldCipher,
    tenant_ids: Iterable[UUID],
    *,
    columns: Sequence[PlaintextColumn] = PLAINTEXT_COLUMNS,
    batch_size: int = 500,
) -> dict[str, int]:
    """Move every plaintext value of `columns` into its encrypted twin; rows sealed per column."""
    statements = [(col, *_seal_statements(col)) for col in columns]
    sealed = dict.fromkeys((col.name for col in columns), 0)
    for tenant_id in tenant_ids:
        for col, select_sql, update_sql in statements:
            while True:
                async with tenant_transaction(pool, tenant_id, "system") as conn:
                    rows = await conn.fetch(select_sql, tenant_id, batch_size)
                    done = 0
                    for row in rows:
                        value = cipher.encrypt(
                            row["value"], tenant_id=tenant_id, field=col.encrypted.field
                        )
                        status = await conn.execute(
                            update_sql, tenant_id, row["id"], value, row["value"]
                        )
                        done += status == "UPDATE 1"
                sealed[col.name] += done
                if done:
                    log.info(
                        "reencrypt.plaintext_sealed",
                        table=col.encrypted.table,
                        column=col.column,
                        tenant_id=str(tenant_id),
                        sealed=done,
                    )
                if len(rows) < batch_size or not done:
                    break
    return sealed


async def reencrypt_all(
    pool: asyncpg.Pool[Any],
    cipher: FieldCipher,
    *,
    batch_size: int = 500,
    columns: Sequence[EncryptedColumn] = ENCRYPTED_COLUMNS,
    tenant_ids: Iterable[UUID] | None = None,
) -> ReencryptReport:
    """Re-encrypt stale values of ``columns`` for every tenant (or only ``tenant_ids``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for col in columns:
        _statements(col)  # fail before touching any row if the registry is unusable
    tenants = list(tenant_ids) if tenant_ids is not None else await all_tenant_ids(pool)
    report = ReencryptReport()
    report.sealed = await seal_plaintext(pool, cipher, tenants, batch_size=batch_size)
    for col in columns:
        report[col.name] = 0
        report.failed[col.name] = 0
    for tenant_id in tenants:
        for col in columns:
            converted, failed = await _reencrypt_column(pool, cipher, tenant_id, col, batch_size)
            report[col.name] += converted
            report.failed[col.name] += failed
            if converted or failed:
                log.info(
                    "reencrypt.column_done",
                    table=col.table,
                    column=col.column,
                    tenant_id=str(tenant_id),
                    converted=converted,
                    failed=failed,
                )
    return report


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m majlis.crypto.reencrypt",
        description="Re-encrypt every encrypted column under the active key.",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=500, help="rows per commit")
    parser.add_argument(
        "--tenant",
        dest="tenants",
        action="append",
        type=UUID,
        help="only this tenant id (repeatable); default: every tenant",
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, service="reencrypt")
    try:
        cipher = FieldCipher(KeyRing.from_settings(settings))
    except ValueError as exc:  # messages name key ids only, never key material
        print(f"configuration error: {exc}")
        return 2
    pool = await create_pool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=2,
        command_timeout=settings.db_command_timeout,
        application_name="majlis-reencrypt",
    )
    try:
        report = await reencrypt_all(
            pool, cipher, batch_size=args.batch_size, tenant_ids=args.tenants
        )
    finally:
        await pool.close()
    for name, count in report.sealed.items():
        print(f"{name}: {count} plaintext value(s) sealed")
    for name, count in report.items():
        print(f"{name}: {count} re-encrypted, {report.failed[name]} failed")
    print(f"active key {cipher.keyring.active_key_id}: {report.total_failed} row(s) failed")
    return 1 if report.total_failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; exits non-zero if any row failed to decrypt."""
    raise SystemExit(asyncio.run(_run(_parse_args(argv))))


if __name__ == "__main__":
    main()
