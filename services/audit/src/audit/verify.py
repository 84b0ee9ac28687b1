"""`python -m audit.verify --tenant <uuid>`: verify one tenant's chain; exit 1 when broken."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from uuid import UUID

from audit.heads import signing_key
from audit.verification import Verdict, verify_tenant
from majlis.db import create_pool
from majlis.settings import Settings, load_settings


async def run(settings: Settings, tenant_id: UUID) -> Verdict:
    """Verify a tenant's chain with the application role (read-only, RLS-scoped)."""
    pool = await create_pool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=1,
        application_name="audit-verify",
    )
    try:
        return await verify_tenant(pool, signing_key(settings), tenant_id)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """Print the verdict as one JSON line; 0 when the chain and its signed heads hold."""
    parser = argparse.ArgumentParser(prog="python -m audit.verify", description=__doc__)
    parser.add_argument("--tenant", type=UUID, required=True, help="tenant id (uuid)")
    args = parser.parse_args(argv)
    verdict = asyncio.run(run(load_settings(), args.tenant))
    # The CLI speaks one JSON line on stdout; logs go elsewhere.
    sys.stdout.write(json.dumps(verdict.as_dict()) + "\n")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
