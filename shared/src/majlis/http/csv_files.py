"""CSV downloads: cells no spreadsheet runs as a formula, and a streamed answer's headers.

Used by every CSV export but the audit log's (audit.csv_export strips NULs instead, and marks
its header line): contacts, conversations, leads, a campaign's report.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from aiohttp import web

# A cell starting with one of these is a formula (or hides one) to a spreadsheet: OWASP CSV
# injection (reference security.md §7.3).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
BOM = "\ufeff".encode()  # first, so that spreadsheets read Arabic as UTF-8


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (a leading `'`)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """CSV lines of `rows`, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    for cells in rows:
        writer.writerow([neutralise(cell) for cell in cells])
    return out.getvalue().encode()


async def csv_download(request: web.Request, filename: str) -> web.StreamResponse:
    """A prepared streamed text/csv answer saved as `filename`, never cached or sniffed."""
    response = web.StreamResponse(
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.content_type, response.charset = "text/csv", "utf-8"
    await response.prepare(request)
    return response
