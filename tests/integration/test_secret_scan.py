"""The secret scanner, last test of the run: no secret or customer data in plaintext anywhere.

tests/conftest.py orders this module after every other one and collects every test's captured
output into the run's log file. The needles: the secret settings of tests/test.env, the password
every test user has, and the canaries tests/integration/chatflow/test_secret_canaries.py planted
(when it ran in this session). The database is read as a superuser: RLS hides nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from majlis.testing.browser import PASSWORD
from majlis.testing.secret_scan import (
    CANARIES,
    LOG_FILE_ENV,
    scan_database,
    scan_log,
    setting_secrets,
)


def _needles() -> dict[str, str]:
    return {**setting_secrets(os.environ), PASSWORD: "test users' password", **CANARIES}


async def test_no_secret_in_any_column_of_any_table(admin_pool: Any) -> None:
    async with admin_pool.acquire() as conn:
        findings = await scan_database(conn, _needles())
    assert not findings, "plaintext in the database:\n" + "\n".join(map(str, findings))


def test_no_secret_in_the_logs_of_the_run() -> None:
    findings = scan_log(Path(os.environ[LOG_FILE_ENV]), _needles())
    assert not findings, "plaintext in the logs:\n" + "\n".join(map(str, findings))
