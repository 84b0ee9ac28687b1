"""The secret scanner reads what subprocess platforms logged (issue 10): a needle a service
prints in a subprocess reaches the run's log through LoggedOutput, and scan_log reports it.

The planted values go to a log file of this test's own, never to the run's real log (which
tests/integration/test_secret_scan.py reads and must find clean).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from majlis.testing.secret_scan import LOG_FILE_ENV, LoggedOutput, phone_forms, scan_log

PHONE = "+971509876543"
TOKEN = "EAAplantedSubprocessToken0123456789"
# A service as tests start it: a child process writing its log lines to stdout.
CHILD = f"""
import sys
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
