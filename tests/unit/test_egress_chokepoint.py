"""Every outbound HTTP session of the platform is opened by majlis.net (the egress chokepoint).

A new `ClientSession(` (or a one-shot `aiohttp.request(`) anywhere else in services/ or
shared/ fails this test: route it through majlis.net.egress (egress_session for Meta and the
AI providers, internal_session for the platform's own back ends, tenant_target_client for
tenant-chosen URLs)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The chokepoint itself, the SSRF guard it delegates to, and test/simulator helpers (the Graph
# API simulator, in-process test stacks and the chaos run's driver are not part of the
# platform's egress).
ALLOWED = {
    "shared/src/majlis/net/egress.py",
    "shared/src/majlis/net/ssrf.py",
    "shared/src/majlis/testing/stack.py",
}
ALLOWED_PREFIXES = ("shared/src/majlis/graphsim/", "shared/src/majlis/testing/chaos/")
_SESSION = re.compile(r"\bClientSession\s*\(|\baiohttp\.request\s*\(")


def _offenders() -> list[str]:
    found = []
    for folder in ("services", "shared"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/tests/" in relative or relative in ALLOWED:
                continue
            if relative.startswith(ALLOWED_PREFIXES):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _SESSION.search(line):
                    found.append(f"{relative}:{number}")
    return found


def test_no_client_session_outside_the_egress_module() -> None:
    assert _offenders() == []


def test_the_chokepoint_opens_sessions_itself() -> None:
    text = (ROOT / "shared/src/majlis/net/egress.py").read_text(encoding="utf-8")
    assert _SESSION.search(text)
