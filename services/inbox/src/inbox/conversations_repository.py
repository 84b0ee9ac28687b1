"""SQL of the conversation API: the list page, one conversation, its messages, its changes.

Plain async functions, connection first, `$n` parameters; row-level security scopes every
statement to the transaction's tenant. The list's WHERE clause is assembled only from the
fixed fragments in `inbox.conversations` (never from values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from inbox.repository import Conn

# The columns of a list item / detail; contact PII stays ciphertext until the use case.
ITEM_COLUMNS = """
  c.id, c.status, c.controller, c.assigned_user_id, c.number_id, c.contact_id,
  ct.name_enc, ct.phone_enc, c.last_message_at, c.last_customer_message_at, c.unread_count,
  c.snoozed_until, c.created_at, c.team_id,
  coalesce(c.last_customer_message_at > now() - interval '24 hours', false) AS window_open,
  CASE WHEN c.last_customer_message_at > now() - interval '24 hours'
       THEN c.last_customer_message_at + interval '24 hours' END AS window_closes_at,
  ARRAY(SELECT cl.label_id FROM conversation_labels cl WHERE cl.conversation_id = c.id
        ORDER BY cl.created_at, cl.label_id) AS label_ids
"""
_FROM = "FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
ORDER = "ORDER BY c.last_message_at DESC NULLS LAST, c.id DESC"
# Conversations of soft-deleted contacts leave the list (a partial index holds the deleted).
_NOT_DELETED = (
    "NOT EXISTS (SELECT 1 FROM contacts d WHERE d.id = c.contact_id AND d.deleted_at IS NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What changes look at and events carry: ids, status, controller, assignee."""

    id: UUID
    contact_id: UUID
    number_id: UUID
    status: str
    controller: str
    assigned_user_id: UUID | None
    snoozed_until: datetime | None
    team_id: UUID | None = None


STATE_COLUMNS = (
    "id, contact_id, number_id, status, controller, assigned_user_id, snoozed_until, team_id"
)
_STATE_COLUMNS = STATE_COLUMNS


def state_of(row: Any) -> ConversationState:
    """A conversation's state from a row of STATE_COLUMNS."""
    return ConversationState(
        row["id"],
        row["contact_id"],
        row["number_id"],
        row["status"],
        row["controller"],
        row["assigned_user_id"],
        row["snoozed_until"],
        row["team_id"],
    )


_state = state_of


# The counters per status, computed once per statement (an InitPlan), on every page row: the
# list and its counts cost one round trip, not two. A status's count is the sum of its slots
# (migration 0037: concurrent transactions count in different rows); they come as one
# bigint[] in _STATUSES order (decoded by asyncpg itself, no JSON).
_STATUSES = ("open", "pending", "snoozed", "resolved")
_COUNTS_ARRAY = (
    "(SELECT ARRAY["
    "coalesce(sum(count) FILTER (WHERE status = 'open'), 0)::bigint,"
    " coalesce(sum(count) FILTER (WHERE status = 'pending'), 0)::bigint,"
    " coalesce(sum(count) FILTER (WHERE status = 'snoozed'), 0)::bigint,"
    " coalesce(sum(count) FILTER (WHERE status = 'resolved'), 0)::bigint"
    "] FROM conversation_counts)"
)
_COUNTS = f"{_COUNTS_ARRAY} AS counts"


def list_sql(where: list[str], limit: int, after_dated: str | None = None) -> str:
    """The list page's statement: whitelisted fragments (their values numbered $1..$n), then
    the page size, inlined.

    The page is cut from conversations alone, in index order (the activity indexes of 0005
    serve the ORDER BY and stop after `limit` rows); only those rows are joined to contacts.
    Joining first lets the planner prefer filtering by status and sorting every match.
    Each row also carries the tenant's counts per status (`counts`, in _STATUSES order).

    `after_dated` is the keyset of a cursor after an item with a date (`(c.last_message_at,
    c.id) < (stamp, id)`). The next page is then the items dated later in the order, and after them
    the undated ones (NULLS LAST): two ranges of the index, each read only as far as the page
    needs, instead of one condition with an OR that the index cannot seek to, which read
    every item before the cursor again on every page (an export of a large inbox, page by
    page, was quadratic).

    The limit is an int written into the text, like the status (`inbox.conversation_list`):
    PostgreSQL plans a prepared statement again on every execution while a parameter's value
    could change the plan (a status's share of the rows, a LIMIT), about 0.25 ms of the
    server's CPU each time. Without them the common lists (a status tab, "mine", a number)
    keep one plan per connection.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError("limit must be a positive int")
    clause = " AND ".join([_NOT_DELETED, *where])
    page = f"SELECT * FROM conversations c WHERE {clause}"  # noqa: S608
    if after_dated is None:
        cut = f"{page} {ORDER} LIMIT {limit:d}"
    else:
        cut = (
            f"SELECT * FROM (({page} AND {after_dated} {ORDER} LIMIT {limit:d})"  # noqa: S608
            f" UNION ALL ({page} AND c.last_message_at IS NULL {ORDER} LIMIT {limit:d}))"
            f" AS c {ORDER} LIMIT {limit:d}"
        )
    return (
        f"SELECT {ITEM_COLUMNS}, {_COUNTS} FROM ({cut}) AS c"  # noqa: S608
        f" JOIN contacts ct ON ct.id = c.contact_id {ORDER}"
    )


async def list_page(
    conn: Conn,
    where: list[str],
    params: list[Any],
    limit: int,
    after_dated: str | None = None,
) -> tuple[list[Any], dict[str, int]]:
    """One page of list items (see list_sql) and the conversations per status."""
    rows = list(await conn.fetch(list_sql(where, limit, after_dated), *params))
    if not rows:  # no row to carry the counts
        return rows, await status_counts(conn)
    return rows, dict(zip(_STATUSES, rows[0]["counts"], strict=True))


async def status_counts(conn: Conn) -> dict[str, int]:
    """Conversations per status, from the trigger-kept counters (never a count(*))."""
    counts = await conn.fetchval(f"SELECT {_COUNTS_ARRAY}")
    return dict(zip(_STATUSES, counts, strict=True))


async def item(conn: Conn, conversation_id: UUID) -> Any | None:
    """One conversation as a list item row, or None."""
    return await conn.fetchrow(
        f"SELECT {ITEM_COLUMNS} {_FROM} WHERE c.id = $1",
        conversation_id,
    )


async def labels_of(conn: Conn, conversation_id: UUID) -> list[Any]:
    """The labels of a conversation (id, name, color), in the order they were added."""
    return list(
        await conn.fetch(
            "SELECT l.id, l.name, l.color FROM conversation_labels cl"
            " JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = $1"
            " ORDER BY cl.created_at, l.id",
            conversation_id,
        )
    )


async def exists(conn: Conn, conversation_id: UUID) -> bool:
    """True if the conversation is visible to the transaction's tenant."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1)", conversation_id
    )
    return found


async def messages_page(
    conn: Conn, conversation_id: UUID, *, before: int | None, after: int | None, limit: int
) -> list[Any]:
    """Messages by seq: newest first (below `before` if given), or oldest first after `after`."""
    # A message has at most one media row (inbound file or sent upload): shown with it.
    columns = (
        "SELECT m.id, m.seq, m.direction, m.type, m.status, m.body_enc, m.sender_kind,"
        " m.sender_user_id, m.error_code, m.error_title, m.created_at, m.wamid,"
        " md.id AS media_id, md.status AS media_status, md.mime_type AS media_mime_type,"
        " md.file_size AS media_file_size"
        " FROM messages AS m LEFT JOIN media AS md"
        " ON md.tenant_id = m.tenant_id AND md.message_id = m.id"
        " WHERE m.conversation_id = $1"
    )
    if after is not None:
        sql = columns + " AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
        return list(await conn.fetch(sql, conversation_id, after, limit))
    if before is not None:
        sql = columns + " AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
        return list(await conn.fetch(sql, conversation_id, before, limit))
    return list(await conn.fetch(columns + " ORDER BY m.seq DESC LIMIT $2", conversation_id, limit))


async def state_for_update(conn: Conn, conversation_id: UUID) -> ConversationState | None:
    """The conversation's state, its row locked until the transaction ends."""
    row = await conn.fetchrow(
        f"SELECT {_STATE_COLUMNS} FROM conversations WHERE id = $1 FOR UPDATE",  # noqa: S608
        conversation_id,
    )
    return None if row is None else _state(row)


async def set_status(
    conn: Conn, conversation_id: UUID, status: str, snoozed_until: datetime | None
) -> ConversationState:
    """Move to `status`; resolved_at is set when resolving (kept if already) and cleared else."""
    row = await conn.fetchrow(
        f"""
        UPDATE conversations SET
          status = $2::text,
          snoozed_until = CASE WHEN $2::text = 'snoozed' THEN $3::timestamptz END,
          resolved_at = CASE WHEN $2::text <> 'resolved' THEN NULL
                             WHEN status = 'resolved' THEN resolved_at ELSE now() END,
          updated_at = now()
        WHERE id = $1 RETURNING {_STATE_COLUMNS}
        """,  # noqa: S608  (fixed text)
        conversation_id,
        status,
        snoozed_until,
    )
    return _state(row)


async def mark_read(conn: Conn, conversation_id: UUID) -> ConversationState | None:
    """The team read the conversation: no unread messages, last seen now."""
    row = await conn.fetchrow(
        f"UPDATE conversations SET unread_count = 0, agent_last_seen_at = now(),"  # noqa: S608  (fixed text)
        f" updated_at = now() WHERE id = $1 RETURNING {_STATE_COLUMNS}",
        conversation_id,
    )
    return None if row is None else _state(row)


async def set_owner(
    conn: Conn, conversation_id: UUID, *, controller: str, assigned_user_id: UUID | None
) -> ConversationState:
    """Set who answers (bot or human) and who is assigned."""
    row = await conn.fetchrow(
        f"UPDATE conversations SET controller = $2, assigned_user_id = $3, updated_at = now()"  # noqa: S608  (fixed text)
        f" WHERE id = $1 RETURNING {_STATE_COLUMNS}",
        conversation_id,
        controller,
        assigned_user_id,
    )
    return _state(row)


async def set_assignment(
    conn: Conn,
    conversation_id: UUID,
    *,
    controller: str,
    assigned_user_id: UUID | None,
    team_id: UUID | None,
) -> ConversationState:
    """Set who answers (bot or human), who is assigned and the conversation's team."""
    row = await conn.fetchrow(
        f"UPDATE conversations SET controller = $2, assigned_user_id = $3, team_id = $4,"  # noqa: S608  (fixed text)
        f" updated_at = now() WHERE id = $1 RETURNING {_STATE_COLUMNS}",
        conversation_id,
        controller,
        assigned_user_id,
        team_id,
    )
    return _state(row)


async def team_of(conn: Conn, conversation_id: UUID) -> UUID | None:
    """The conversation's team, if any."""
    team_id: UUID | None = await conn.fetchval(
        "SELECT team_id FROM conversations WHERE id = $1", conversation_id
    )
    return team_id


async def is_assignable_user(conn: Conn, user_id: UUID) -> bool:
    """True for an active owner, admin or agent of the tenant (never a viewer)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active"
        " AND role IN ('owner', 'admin', 'agent'))",
        user_id,
    )
    return found


async def note_assigned(conn: Conn, tenant_id: UUID, user_id: UUID) -> None:
    """Record when an agent last got a conversation (round-robin order)."""
    await conn.execute(
        "INSERT INTO agent_loads AS l (tenant_id, user_id, last_assigned_at)"
        " VALUES ($1, $2, clock_timestamp())"
        " ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_assigned_at = clock_timestamp()",
        tenant_id,
        user_id,
    )


async def label_ids_of(conn: Conn, conversation_id: UUID) -> set[UUID]:
    """The ids of a conversation's labels."""
    rows = await conn.fetch(
        "SELECT label_id FROM conversation_labels WHERE conversation_id = $1", conversation_id
    )
    return {r["label_id"] for r in rows}


async def replace_labels(
    conn: Conn, tenant_id: UUID, conversation_id: UUID, label_ids: list[UUID]
) -> None:
    """Make the conversation's labels exactly `label_ids` (already checked to exist)."""
    await conn.execute(
        """
        WITH gone AS (
          DELETE FROM conversation_labels
          WHERE conversation_id = $2 AND NOT (label_id = ANY ($3::uuid[]))
        )
        INSERT INTO conversation_labels (tenant_id, conversation_id, label_id)
        SELECT $1, $2, x FROM unnest($3::uuid[]) AS x
        ON CONFLICT DO NOTHING
        """,
        tenant_id,
        conversation_id,
        label_ids,
    )


async def wake_snoozed(conn: Conn, conversation_id: UUID) -> ConversationState | None:
    """Open a conversation whose timed snooze has passed; None if it is not due (any more)."""
    row = await conn.fetchrow(
        f"UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = now()"  # noqa: S608  (fixed text)
        f" WHERE id = $1 AND status = 'snoozed' AND snoozed_until <= now()"
        f" RETURNING {_STATE_COLUMNS}",
        conversation_id,
    )
    return None if row is None else _state(row)
