"""`make chaos`: ``python -m majlis.testing.chaos [--short]``; exit 1 unless every check holds."""

from __future__ import annotations

import argparse
import asyncio
import sys

from majlis.settings import REPO_ROOT
from majlis.testing.chaos.scenario import SHORT, Options, run


def read_env_file(path: str) -> dict[str, str]:
    """KEY=value lines (comments and blanks skipped), as tests/test.env holds them."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                values[name.strip()] = value.strip()
    return values


def say(line: str) -> None:
    print(f"chaos: {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Faults under load against private stores.")
    parser.add_argument("--short", action="store_true", help="the short form `make test` runs")
    parser.add_argument("--env-file", default=str(REPO_ROOT / "tests" / "test.env"))
    args = parser.parse_args()
    options = SHORT if args.short else Options()
    import os

    base = os.environ.copy() | read_env_file(args.env_file)
    report = asyncio.run(run(options, base, say))
    print(report.table(), flush=True)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
