"""`python -m audit.breach`: the breach runbook's questions, answered from the database.

    python -m audit.breach --key K
    python -m audit.breach --actor U --since 2026-12-01T00:00Z --until 2026-12-02T00:00Z

- `--key K` (a field-encryption key that leaked): every tenant holding values sealed under K,
  how many per encrypted column (the registry `majlis.crypto.ENCRYPTED_COLUMNS`), and the
  contacts whose data is among them (their own fields, or their conversations' messages and
  files). Values are found by their key-id header, never decrypted. It answers for what is
  sealed under K now: run it before re-encrypting away from K.
- `--actor U` with a time window (an account that was taken over): every tenant where U is in
  the audit log between `--since` (inclusive) and `--until` (exclusive), the actions counted,
  and the contacts U touched (directly, or through one of their conversations).

Both may be given at once. Runs as the application role, tenant by tenant as the system (RLS
on, the way the key rotation job does), read-only. Prints one JSON document: ids and counts
only, never a value. Exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from majlis.crypto import ENCRYPTED_COLUMNS
from majlis.crypto.aead import key_prefix
from majlis.crypto.columns import is_plain_identifier
from majlis.db import all_tenant_ids, create_pool, tenant_transaction
from majlis.settings import load_settings

# The contacts whose data a key can read: their own fields, their messages and their files.
_CONTACTS_UNDER_KEY = """
SELECT id FROM contacts WHERE substring(phone_enc from 1 for $1) = $2
  OR substring(bsuid_enc from 1 for $1) = $2 OR substring(name_enc from 1 for $1) = $2
  OR substring(email_enc from 1 for $1) = $2 OR substring(attributes_enc from 1 for $1) = $2
UNION
SELECT c.contact_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
  WHERE substring(m.body_enc from 1 for $1) = $2
UNION
SELECT c.contact_id FROM media md JOIN messages m ON m.id = md.message_id
  JOIN conversations c ON c.id = m.conversation_id
  WHERE substring(md.content_enc from 1 for $1) = $2
"""
_ACTIONS_OF_ACTOR = (
    "SELECT action, count(*) AS n FROM audit_events WHERE actor_id = $1"
    " AND occurred_at >= $2 AND occurred_at < $3 GROUP BY action"
)
# Contacts named as the target (erased ones too: their id is all the log keeps), or owning a
# conversation that was.
_CONTACTS_OF_ACTOR = """
SELECT c.contact_id AS id FROM audit_events a JOIN conversations c ON a.target_type = 'conversation'
  AND c.id::text = a.target_id
  WHERE a.actor_id = $1 AND a.occurred_at >= $2 AND a.occurred_at < $3
UNION
SELECT a.target_id::uuid FROM audit_events a WHERE a.target_type = 'contact'
  AND a.target_id ~ '^[0-9a-f-]{36}$'
  AND a.actor_id = $1 AND a.occurred_at >= $2 AND a.occurred_at < $3
"""


@dataclass(frozen=True, slots=True)
class Question:
    """What the runbook asks: a key, an actor in a window, or both."""

    key_id: str | None = None
    actor_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def _count_sql(table: str, column: str) -> str:
    # Identifiers come only from the registry; checked again before use.
    if not (is_plain_identifier(table) and is_plain_identifier(column)):
        raise ValueError(f"refusing unusual identifier in {table}.{column}")
    return f"SELECT count(*) FROM {table} WHERE substring({column} from 1 for $1) = $2"  # noqa: S608


async def _tenant_answer(conn: Any, question: Question) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    if question.key_id is not None:
        prefix = key_prefix(question.key_id)
        counts = {}
        for col in ENCRYPTED_COLUMNS:
            found = await conn.fetchval(_count_sql(col.table, col.column), len(prefix), prefix)
            if found:
                counts[col.name] = found
        if counts:
            rows = await conn.fetch(_CONTACTS_UNDER_KEY, len(prefix), prefix)
            answer["under_key"] = {
                "values": counts,
                "contacts": sorted(str(r["id"]) for r in rows),
            }
    if question.actor_id is not None:
        window = (question.actor_id, question.since, question.until)
        actions = {r["action"]: r["n"] for r in await conn.fetch(_ACTIONS_OF_ACTOR, *window)}
        if actions:
            rows = await conn.fetch(_CONTACTS_OF_ACTOR, *window)
            answer["by_actor"] = {
                "actions": actions,
                "contacts": sorted({str(r["id"]) for r in rows}),
            }
    return answer


async def answer(pool: asyncpg.Pool[Any], question: Question) -> dict[str, Any]:
    """The runbook's answer: the tenants concerned, each with what concerns it."""
    if question.key_id is None and question.actor_id is None:
        raise ValueError("ask about a key, an actor, or both")
    if question.actor_id is not None and (question.since is None or question.until is None):
        raise ValueError("an actor is asked about within a window (since, until)")
    tenants = []
    for tenant_id in await all_tenant_ids(pool):
        async with tenant_transaction(pool, tenant_id, "system", readonly=True) as conn:
            found = await _tenant_answer(conn, question)
        if found:
            tenants.append({"tenant_id": str(tenant_id), **found})
    return {
        "key_id": question.key_id,
        "actor_id": str(question.actor_id) if question.actor_id else None,
        "since": question.since.isoformat() if question.since else None,
        "until": question.until.isoformat() if question.until else None,
        "tenants": tenants,
    }


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone (e.g. 2026-12-01T00:00Z)")
    return moment


async def _run(question: Question) -> dict[str, Any]:
    settings = load_settings()
    pool = await create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=2,
        application_name="audit-breach",
    )  # fmt: skip
    try:
        return await answer(pool, question)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """Print the answer as one JSON document."""
    parser = argparse.ArgumentParser(prog="python -m audit.breach", description=__doc__)
    parser.add_argument("--key", help="a field-encryption key id")
    parser.add_argument("--actor", type=UUID, help="a user or API key id")
    parser.add_argument("--since", type=_moment, help="start of the window (inclusive)")
    parser.add_argument("--until", type=_moment, help="end of the window (exclusive)")
    args = parser.parse_args(argv)
    question = Question(args.key, args.actor, args.since, args.until)
    try:
        document = asyncio.run(_run(question))
    except ValueError as error:
        parser.error(str(error))
    sys.stdout.write(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
