"""Create the roles and the database, then migrate: ``python -m majlis.db.setup``.

Used by ``make run`` / ``make test`` / ``make migrate``. Connects with the admin URL
(a superuser on a developer machine) only to create roles and the database; migrations run
as the owner role.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import asyncpg

from majlis.db.migrations import apply_migrations
from majlis.db.pool import connect
from majlis.logging import configure_logging
from majlis.settings import REPO_ROOT, load_settings

ROLES_SQL = REPO_ROOT / "deploy" / "sql" / "roles.sql"
OWNER_ROLE = "majlis_owner"


def database_name(url: str) -> str:
    """The database named in a postgresql:// URL."""
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if not name:
        raise ValueError("the database URL names no database")
    return name


async def ensure_roles_and_database(
    admin_url: str, database: str, *, recreate: bool = False
) -> None:
    """Create the cluster roles and the database (owned by the owner role) if missing."""
    conn: asyncpg.Connection[Any] = await connect(admin_url)
    try:
        await conn.execute(ROLES_SQL.read_text(encoding="utf-8"))
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists and recreate:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            await conn.execute(f'DROP DATABASE "{_ident(database)}"')
            exists = None
        if not exists:
            await conn.execute(f'CREATE DATABASE "{_ident(database)}" OWNER {OWNER_ROLE}')
        await conn.execute(f'REVOKE ALL ON DATABASE "{_ident(database)}" FROM PUBLIC')
        await conn.execute(
            f'GRANT CONNECT ON DATABASE "{_ident(database)}" TO majlis_app, majlis_audit_writer,'
            " majlis_outbox_relay"
        )
    finally:
        await conn.close()


def _ident(name: str) -> str:
    # Database names come from our own settings; refuse anything that is not a plain name.
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing unusual database name {name!r}")
    return name


async def migrate(owner_url: str, folder: Path) -> list[str]:
    """Apply pending migrations as the owner role."""
    conn = await connect(owner_url)
    try:
        return await apply_migrations(conn, folder)
    finally:
        await conn.close()


async def _main(args: argparse.Namespace) -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, service="db-setup")
    app_db = database_name(settings.database_url.get_secret_value())
    owner_db = database_name(settings.database_owner_url.get_secret_value())
    if app_db != owner_db:
        raise SystemExit(
            "MAJLIS_DATABASE_URL and MAJLIS_DATABASE_OWNER_URL name different databases"
        )
    if not args.migrate_only:
        await ensure_roles_and_database(
            settings.database_admin_url.get_secret_value(), app_db, recreate=args.recreate
        )
    applied = await migrate(settings.database_owner_url.get_secret_value(), settings.migrations_dir)
    print(f"database {app_db}: {len(applied)} migration(s) applied")


def main() -> None:
    parser = argparse.ArgumentParser(description="Create Majlis roles and database, then migrate.")
    parser.add_argument("--recreate", action="store_true", help="drop and recreate the database")
    parser.add_argument(
        "--migrate-only", action="store_true", help="only apply migrations (as the owner role)"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
