"""The secret scanner, last test of the run: no secret or customer data in plaintext anywhere.

tests/conftest.py orders this module after every other one and collects every test's captured
output into the run's log file. The needles: the secret settings of tests/test.env, the password
every test user has, the fixed tokens, keys and passwords other tests use, and the canaries
tests/integration/chatflow/test_secret_canaries.py planted (when it ran in this session). The
database is read as a superuser: RLS hides nothing.
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

# Fixed secrets other test modules use (test modules cannot import each other): Meta tokens,
# AI keys and passwords. None may be stored or logged in plaintext either.
KNOWN_TEST_SECRETS = {
    "EAAGm0PX4ZCpsBAKZAZBsimulatortoken0123456789": "Meta access token (gateway tests)",
    "EAAGm0PX4ZCpsBAKZAZBxyz1234567890abcdef": "Meta access token (tests)",
    "EAAtesttoken": "Meta access token (ingest tests)",
    "EAAClientTestToken": "Meta access token (client tests)",
    "EAAGraphSimTestToken": "Meta access token (simulator tests)",
    "EAA" + "e2e" * 10: "Meta access token (e2e)",
    "sk-test-a1b2c3d4e5f6a7b8c9d0": "OpenAI key (tests)",
    "AIzaSyTest0123456789abcdefghijklmno": "Gemini key (tests)",
    "correct horse battery staple 42!": "password (tests)",
    "calm harbour lantern 42": "password (tests)",
    "end to end passphrase": "password (e2e)",
    "schema fuzzing passphrase": "password (schemathesis)",
}


def _needles() -> dict[str, str]:
    return {
        **setting_secrets(os.environ),
        PASSWORD: "test users' password",
        **KNOWN_TEST_SECRETS,
        **CANARIES,
    }


async def test_no_secret_in_any_column_of_any_table(admin_pool: Any) -> None:
    async with admin_pool.acquire() as conn:
        findings = await scan_database(conn, _needles())
    assert not findings, "plaintext in the database:\n" + "\n".join(map(str, findings))


def test_no_secret_in_the_logs_of_the_run() -> None:
    findings = scan_log(Path(os.environ[LOG_FILE_ENV]), _needles())
    assert not findings, "plaintext in the logs:\n" + "\n".join(map(str, findings))
