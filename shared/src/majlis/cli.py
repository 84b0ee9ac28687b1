"""The `majlis` command: developer and operator tasks."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
from pathlib import Path
from uuid import UUID

from majlis.graphsim.command import add_sim_commands, run_sim_command
from majlis.http.tokens import generate_private_key_pem


def _dev_values() -> dict[str, str]:
    def key() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    return {
        "MAJLIS_ENCRYPTION_KEYS": f"dev1:{key()}",
        "MAJLIS_ENCRYPTION_ACTIVE_KEY_ID": "dev1",
        "MAJLIS_BLIND_INDEX_KEY": key(),
        "MAJLIS_JWT_SIGNING_KEYS": f"dev1:{base64.b64encode(generate_private_key_pem()).decode()}",
        "MAJLIS_JWT_ACTIVE_KEY_ID": "dev1",
        "MAJLIS_GATEWAY_SECRET": key(),
        "MAJLIS_AUDIT_SIGNING_KEY": key(),
        "MAJLIS_META_APP_SECRET": secrets.token_hex(16),
        "MAJLIS_META_VERIFY_TOKEN": secrets.token_urlsafe(16),
    }


def write_dev_secrets(path: Path) -> list[str]:
    """Create or complete a developer secrets file with fresh random values.

    Values already in the file are never replaced (that would orphan encrypted data);
    settings added since the file was made are appended. Returns the names added.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = ""
    if path.exists():
        existing = path.read_text(encoding="utf-8")
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        existing = "# Made by `majlis dev-secrets` for `make run` here; not for production.\n"
    present = {line.split("=", 1)[0] for line in existing.splitlines() if "=" in line}
    added = {k: v for k, v in _dev_values().items() if k not in present}
    with path.open("w", encoding="utf-8") as handle:
        handle.write(existing + "".join(f"{k}={v}\n" for k, v in added.items()))
    return list(added)


async def _set_plan(tenant_id: UUID, plan: str) -> tuple[str, str]:
    from majlis.db import create_pool
    from majlis.plans import set_plan
    from majlis.settings import load_settings

    settings = load_settings()
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    try:
        return await set_plan(pool, tenant_id, plan)
    except LookupError as error:
        raise SystemExit(str(error)) from None
    finally:
        await pool.close()


def _openapi_backends(*, check: bool) -> int:
    from majlis.openapi_backends import build_fragment, dumps, fragment_path, service_apps
    from majlis.settings import load_settings

    text = dumps(build_fragment(service_apps(load_settings())))
    path = fragment_path()
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        print(
            f"{path}: {'up to date' if current == text else 'stale: run majlis openapi-backends'}"
        )
        return 0 if current == text else 1
    path.write_text(text, encoding="utf-8")
    print(f"{path}: written")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `majlis` console script."""
    parser = argparse.ArgumentParser(prog="majlis")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev-secrets", help="create or complete var/dev.env with fresh keys")
    dev.add_argument("path", type=Path, nargs="?", default=Path("var/dev.env"))
    plan = sub.add_parser("set-plan", help="move a tenant to another plan (audited)")
    plan.add_argument("tenant_id", type=UUID)
    plan.add_argument("plan", choices=["starter", "business"])
    add_sim_commands(sub)
    spec = sub.add_parser(
        "openapi-backends", help="regenerate the back ends' OpenAPI fragment the gateway serves"
    )
    spec.add_argument("--check", action="store_true", help="only say whether it is up to date")
    args = parser.parse_args(argv)
    if args.command == "dev-secrets":
        added = write_dev_secrets(args.path)
        print(f"{args.path}: {len(added)} setting(s) added")
    elif args.command == "set-plan":
        old, new = asyncio.run(_set_plan(args.tenant_id, args.plan))
        print(f"tenant {args.tenant_id}: plan {old} -> {new}")
    elif args.command == "sim":
        raise SystemExit(run_sim_command(args))
    elif args.command == "openapi-backends":
        raise SystemExit(_openapi_backends(check=args.check))


if __name__ == "__main__":
    main()
