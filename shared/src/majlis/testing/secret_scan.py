"""The secret scanner: no test secret, phone number or message body in plaintext, anywhere.

After a test run it looks for needles (known secrets and the canaries a dedicated test planted
through every path: passwords, Meta access tokens, API keys, AI keys, customers' phone numbers,
message bodies) in (1) every text, varchar, char, json, jsonb and bytea column (arrays of them
too) of every table of the test database, read as a superuser so row-level security hides
nothing, and (2) the captured log output of the run: what tests printed, and the output of the
platforms tests start as subprocesses (read through ``LoggedOutput``). Ciphertexts, hashes and
blind indexes do not contain the plaintext, so they never match; a finding is a real leak.
Findings name the table and column (or the log line number) and show the needle redacted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Needles shorter than this would match by chance (and say nothing about a leak).
MIN_NEEDLE = 8
_SCANNED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY")
_ARRAY_ELEMENTS = ("_text", "_varchar", "_bpchar", "_json", "_jsonb", "_bytea")
# Settings whose values are secrets in every environment (tests/test.env holds fixed ones).
SECRET_SETTINGS = (
    "MAJLIS_META_APP_SECRET",
    "MAJLIS_META_APP_SECRETS",
    "MAJLIS_META_VERIFY_TOKEN",
    "MAJLIS_GATEWAY_SECRET",
    "MAJLIS_ENCRYPTION_KEYS",
    "MAJLIS_BLIND_INDEX_KEY",
    "MAJLIS_AUDIT_SIGNING_KEY",
    "MAJLIS_JWT_SIGNING_KEYS",
)

CANARIES: dict[str, str] = {}
# Where tests/conftest.py collects the run's captured output (it sets this variable).
LOG_FILE_ENV = "MAJLIS_TEST_LOG_FILE"
# Credentials made during the run, which no fixed needle can name, found in the logs by their
# shape: signed JWTs (the gateway's access tokens and those it forwards) and refresh cookies
# (tenant hex, token hex, secret: gateway.sessions.RefreshCookie).
TOKEN_SHAPES: dict[str, re.Pattern[str]] = {
    "access token (JWT)": re.compile(
        r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}"
    ),
    "refresh cookie": re.compile(
        r"\b[0-9a-f]{32}\.[0-9a-f]{32}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One needle found in one place (the needle itself is never kept whole)."""

    where: str
    kind: str
    needle: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.needle}"


def redacted(value: str) -> str:
    """Enough of a secret to recognise it in a report, not enough to use it."""
    return f"{value[:3]}…({len(value)} chars)"


def plant(kind: str, value: str) -> str:
    """Register a canary of `kind` that must appear nowhere in plaintext; returns it."""
    if len(value) < MIN_NEEDLE:
        raise ValueError("a canary needs at least 8 characters to be distinctive")
    CANARIES[value] = kind
    return value


def setting_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """The secret values of the MAJLIS_* settings in `env`, split into their parts."""
    needles: dict[str, str] = {}
    for name in SECRET_SETTINGS:
        raw = env.get(name, "")
        for part in (p for p in raw.split(",") if p):
            # Key rings are "id:value,..."; a value alone is the secret itself.
            _, sep, secret = part.partition(":")
            value = secret if sep and name != "MAJLIS_META_APP_SECRET" else part
            for needle in _forms(value):
                needles[needle] = name
    return needles


def _forms(value: str) -> list[str]:
    """A secret and, for base64 (PEM keys in the env), its decoded lines that are secret."""
    forms = [value] if len(value) >= MIN_NEEDLE else []
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return forms
    if "PRIVATE KEY" in decoded:
        forms += [line for line in decoded.splitlines() if len(line) >= 40 and "-----" not in line]
    return forms


def phone_forms(e164: str) -> list[str]:
    """A customer's number as E.164 and as WhatsApp's wa_id (digits only)."""
    return [e164, e164.lstrip("+")]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def scan_database(conn: Any, needles: Mapping[str, str]) -> list[Finding]:
    """Every (table.column, kind) of the public schema holding a needle in plaintext."""
    if not needles:
        return []
    columns = await conn.fetch(
        "SELECT c.table_name, c.column_name, c.data_type, c.udt_name"
        " FROM information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type = ANY($1::text[]) ORDER BY 1, 2",
        list(_SCANNED_TYPES),
    )
    patterns = ["%" + _like_escape(n) + "%" for n in needles]
    findings: list[Finding] = []
    for column in columns:
        if column["data_type"] == "ARRAY" and column["udt_name"] not in _ARRAY_ELEMENTS:
            continue
        name = _quote(column["column_name"])
        # bytea as 'escape' text keeps printable ASCII as it is: a plaintext needle shows.
        if column["udt_name"] == "bytea":
            text = f"encode({name}, 'escape')"
        elif column["udt_name"] == "_bytea":
            each = f"SELECT encode(b, 'escape') FROM unnest({name}) b"  # noqa: S608  (quoted column)
            text = f"array_to_string(array({each}), ' ')"
        else:
            text = f"{name}::text"
        # Identifiers come from the catalog and are quoted; the needles are parameters.
        query = (
            f"SELECT DISTINCT {text} AS value FROM {_quote(column['table_name'])}"  # noqa: S608
            f" WHERE {text} LIKE ANY($1::text[]) LIMIT 20"
        )
        where = f"{column['table_name']}.{column['column_name']}"
        for row in await conn.fetch(query, patterns):
            findings += _found(where, row["value"], needles)
    return _unique(findings)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _found(where: str, text: str, needles: Mapping[str, str]) -> list[Finding]:
    return [Finding(where, kind, redacted(n)) for n, kind in needles.items() if n in text]


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def run_log_path() -> Path | None:
    """The run's log file, which the scanner reads; None outside a test run."""
    value = os.environ.get(LOG_FILE_ENV)
    return Path(value) if value else None


class LoggedOutput:
    """A subprocess's output read line by line, every line also appended to the run's log.

    Tests that start services in subprocesses (``python -m majlis.devrun``) read their stdout
    through this, so the scanner sees what those services logged: pytest captures only the test
    process's own output.
    """

    def __init__(self, stream: asyncio.StreamReader, path: Path | None = None) -> None:
        """Copy `stream`'s lines into `path` (default: the run's log file, if any)."""
        self._stream = stream
        self.path = path if path is not None else run_log_path()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _keep(self, data: bytes) -> bytes:
        if data and self.path is not None:
            with self.path.open("ab") as log:
                log.write(data)
        return data

    async def readline(self) -> bytes:
        """The next line ("" at the end), copied to the log."""
        return self._keep(await self._stream.readline())

    async def read(self) -> bytes:
        """Everything until the end, copied to the log."""
        return self._keep(await self._stream.read())

    async def drain(self) -> None:
        """Copy lines until the end (a background task once the test stops reading)."""
        while await self.readline():
            pass


def scan_log(
    path: Path, needles: Mapping[str, str], shapes: Mapping[str, re.Pattern[str]] = TOKEN_SHAPES
) -> list[Finding]:
    """Every (log line, kind) of the captured log file holding a needle or a token's shape."""
    if not path.exists():
        return []
    findings: list[Finding] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            where = f"{path.name}:{number}"
            findings += _found(where, line, needles)
            findings += [
                Finding(where, kind, redacted(match.group()))
                for kind, shape in shapes.items()
                for match in shape.finditer(line)
            ]
    return _unique(findings)
