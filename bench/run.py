"""`make bench`: run every benchmark and print one JSON line per scenario (not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = [
    "gateway_auth.py",
    "audit_append.py",
    "webhook_ingest.py",
    "inbox_list.py",
    "broadcast_dispatch.py",
]


def main() -> int:
    """Run each scenario in its own process so they never share an event loop or a pool."""
    failed = 0
    for scenario in SCENARIOS:
        print(f"# {scenario}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / scenario)])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
