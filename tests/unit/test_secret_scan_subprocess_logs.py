"""The secret scanner reads what subprocess platforms logged (issue 10): a needle a service
prints in a subprocess reaches the run's log through LoggedOutput, and scan_log reports it.

The planted values go to a log file of this test's own, never to the run's real log (which
tests/integration/test_secret_scan.py reads and must find clean).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from pathlib import Path

from majlis.testing.secret_scan import LOG_FILE_ENV, LoggedOutput, phone_forms, scan_log

PHONE = "+971509876543"
TOKEN = "EAAplantedSubprocessToken0123456789"
# A service as tests start it: a child process writing its log lines to stdout.
CHILD = f"""
import sys
import uuid
print('{{"event": "service.started", "service": "inbox"}}', flush=True)
print('{{"event": "leak", "to": "{PHONE.lstrip("+")}", "token": "{TOKEN}"}}', flush=True)
print("Press Ctrl-C to stop", flush=True)
print('{{"event": "service.stopped", "from": "{PHONE}"}}', flush=True)
"""


async def _run_child(log: Path) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    stdout = LoggedOutput(process.stdout, log)
    banner = []
    while "Press Ctrl-C" not in (line := (await stdout.readline()).decode()):
        assert line, "the child exited before its banner"
        banner.append(line)
    await stdout.drain()  # what the test never reads itself is logged too
    assert await process.wait() == 0
    return banner


async def test_a_phone_number_and_a_token_logged_by_a_subprocess_are_reported(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    log.write_text("a line the test process printed\n")
    banner = await _run_child(log)
    assert len(banner) == 2

    needles = {TOKEN: "Meta access token"} | dict.fromkeys(phone_forms(PHONE), "phone number")
    findings = scan_log(log, needles)
    where = {(f.where, f.kind) for f in findings}
    assert where == {
        ("run.log:3", "Meta access token"),
        ("run.log:3", "phone number"),  # the wa_id form
        ("run.log:5", "phone number"),  # read by drain(), after the test stopped reading
    }
    assert all(TOKEN not in str(f) and PHONE not in str(f) for f in findings)


def test_by_default_it_writes_where_the_scanner_reads() -> None:
    """tests/conftest.py sets the run's log file; the e2e platforms use the default."""
    stream = asyncio.StreamReader()
    assert LoggedOutput(stream).path == Path(os.environ[LOG_FILE_ENV])


def test_tokens_made_during_the_run_are_found_by_their_shape(tmp_path: Path) -> None:
    """Access tokens and refresh cookies are minted per test, so no needle names them: any
    JWT or refresh cookie in a log line is reported, and nothing that merely looks close."""
    from majlis.http.tokens import TokenSigner
    from majlis.settings import load_settings

    token, _ = TokenSigner.from_settings(load_settings()).issue(
        user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role="agent", ttl_seconds=60
    )
    cookie = f"{uuid.uuid4().hex}.{uuid.uuid4().hex}.{secrets.token_urlsafe(32)}"
    log = tmp_path / "run.log"
    log.write_text(
        f"http.request path=/api/v1/me request_id={uuid.uuid4()} tenant_id={uuid.uuid4()}\n"
        f"proxy.forward authorization=Bearer {token}\n"
        f"auth.refresh cookie={cookie}\n"
        "eyJhbGciOiJub25lIn0 is half a token; a.b.c is no token\n",
        encoding="utf-8",
    )
    findings = scan_log(log, {})
    assert {(f.where, f.kind) for f in findings} == {
        ("run.log:2", "access token (JWT)"),
        ("run.log:3", "refresh cookie"),
    }
    assert all(token not in str(f) and cookie not in str(f) for f in findings)
