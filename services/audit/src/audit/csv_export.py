"""CSV export of the audit log: RFC 4180 quoting and spreadsheet formula neutralisation.

Target ids, user agents and details are attacker-influenced; a cell that a spreadsheet would
read as a formula gets a leading `'` (OWASP CSV injection, ASVS 5.0 1.2.10). Quoting alone
does not stop Excel evaluating `"=..."`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from audit.chain import Row

HEADER = (
    "seq", "occurred_at", "recorded_at", "action", "outcome", "actor_type", "actor_id",
    "actor_role", "target_type", "target_id", "ip", "user_agent", "request_id",
    "correlation_id", "changes", "details", "hash",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A cell no spreadsheet evaluates: NULs stripped, formula starters prefixed with `'`."""
    value = value.replace("\0", "")
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def csv_lines(rows: Sequence[Row], *, header: bool = False) -> bytes:
    """RFC 4180 lines (CRLF, quotes doubled) for `rows`, optionally preceded by the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(HEADER)
    for row in rows:
        writer.writerow([neutralise(_cell(row[name])) for name in HEADER])
    return buffer.getvalue().encode("utf-8")
