"""The audit hash chain, signed heads and CSV neutralisation, without any service running."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.chain import (
    GENESIS_HASH,
    ChainWalk,
    canonical,
    chain_row,
    entry_from_event,
    entry_hash,
    is_head_signature_valid,
    sign_head,
)
from audit.csv_export import csv_lines, neutralise
from majlis.events import make_envelope
from majlis.events.gateway import AuditRecorded

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
KEY = bytes(range(32))


def _chain(n: int) -> list[dict[str, Any]]:
    tenant_id = uuid.uuid4()
    rows: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for i in range(n):
        event = AuditRecorded(action="team.role.changed", actor_type="user", target_id=str(i))
        entry = entry_from_event(event, make_envelope(event, tenant_id=tenant_id))
        row = chain_row(entry, seq=i + 1, prev_hash=prev, recorded_at=NOW)
        prev = row["hash"]
        rows.append(row)
    return rows


def test_canonical_encoding_is_stable_and_compact() -> None:
    row = _chain(1)[0]
    text = canonical(row).decode()
    assert " " not in text.replace("team.role.changed", "")
    assert text == canonical(dict(reversed(list(row.items())))).decode()
    assert '"prev_hash":"' + "00" * 32 in text


def test_intact_chain_verifies() -> None:
    walk = ChainWalk().feed_all(_chain(5))
    assert (walk.checked, walk.first_broken_seq) == (5, None)


@pytest.mark.parametrize("position", [0, 2, 4])
def test_edit_is_found_at_its_seq(position: int) -> None:
    rows = _chain(5)
    rows[position] = rows[position] | {"target_id": "forged"}
    assert ChainWalk().feed_all(rows).first_broken_seq == position + 1


def test_deleted_row_is_found() -> None:
    rows = _chain(5)
    del rows[2]
    assert ChainWalk().feed_all(rows).first_broken_seq == 3


def test_reordered_rows_are_found() -> None:
    rows = _chain(5)
    rows[1], rows[2] = rows[2] | {"seq": 2}, rows[1] | {"seq": 3}
    assert ChainWalk().feed_all(rows).first_broken_seq == 2


def test_rehashed_rewrite_passes_the_walk_but_not_the_signed_head() -> None:
    rows = _chain(3)
    tenant_id = rows[0]["tenant_id"]
    signed = {"tenant_id": tenant_id, "seq": 3, "hash": rows[-1]["hash"], "signed_at": NOW}
    signed["signature"] = sign_head(KEY, tenant_id, 3, rows[-1]["hash"], NOW)
    assert is_head_signature_valid(KEY, signed)
    prev = GENESIS_HASH
    for row in rows:
        row.update(target_id="forged", prev_hash=prev)
        row["hash"] = prev = entry_hash(row)
    assert ChainWalk().feed_all(rows).first_broken_seq is None
    assert rows[-1]["hash"] != signed["hash"]
    assert not is_head_signature_valid(KEY, signed | {"hash": rows[-1]["hash"]})
    assert not is_head_signature_valid(bytes(32), signed)


def test_nul_is_removed_before_storage() -> None:
    event = AuditRecorded(
        action="x.y.z", actor_type="user", target_id="a\0b", details={"k\0": ["v\0"]}
    )
    entry = entry_from_event(event, make_envelope(event, tenant_id=uuid.uuid4()))
    assert entry.target_id == "ab"
    assert entry.details == {"k": ["v"]}


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\0=1", "'=1"),
        ("a\0b", "ab"),
        ("plain", "plain"),
    ],
)
def test_csv_cells_are_neutralised(raw: str, cell: str) -> None:
    assert neutralise(raw) == cell


def test_csv_is_rfc4180() -> None:
    row = _chain(1)[0] | {"target_id": 'say "hi", =1', "user_agent": "-x"}
    text = csv_lines([row], header=True).decode()
    assert text.endswith("\r\n")
    assert '"say ""hi"", =1"' in text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["target_id"] == 'say "hi", =1'
    assert parsed[0]["user_agent"] == "'-x"
