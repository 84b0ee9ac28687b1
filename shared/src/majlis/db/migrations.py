"""Plain SQL migrations: applied in file order, each once, in its own transaction, under a lock.

Files are ``NNNN_name.sql`` in one folder. Applied versions and their checksums are recorded in
``app_migrations.applied``; a file that changed after it was applied stops the run, so the
database never silently diverges from the repository.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from majlis.logging import get_logger

log = get_logger(__name__)

# Any constant works; it only has to be the same for every process that migrates.
_ADVISORY_LOCK_KEY = 0x6D61_6A6C_6973  # "majlis"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """The migrations folder and the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path) -> list[Migration]:
    """Every migration file in the folder, in order; rejects badly named files."""
    migrations: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"badly named migration file: {path.name}")
        migrations.append(Migration(match.group(1), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return migrations


async def apply_migrations(conn: asyncpg.Connection[Any], folder: Path) -> list[str]:
    """Apply pending migrations as the connected (owner) role; returns the names applied."""
    migrations = load_migrations(folder)
    await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE SCHEMA IF NOT EXISTS app_migrations;
            REVOKE ALL ON SCHEMA app_migrations FROM PUBLIC;
            CREATE TABLE IF NOT EXISTS app_migrations.applied (
              version text PRIMARY KEY,
              name text NOT NULL,
              checksum text NOT NULL,
              applied_at timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM app_migrations.applied")
        applied = {r["version"]: r for r in rows}
        done: list[str] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(f"{migration.name} changed after it was applied")
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO app_migrations.applied (version, name, checksum)"
                    " VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration.applied", migration=migration.name)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
