"""SQL of campaigns, their recipients and counters, and the contacts an audience reads.

Plain async functions, connection first, one statement each, `$n` parameters. Every function
taking a connection runs inside a tenant transaction (RLS); `due_campaigns` goes through a
SECURITY DEFINER function that returns ids only (0011).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row = asyncpg.Record

_COLUMNS = (
    "id, name, number_id, template_id, language, parameters_enc, audience_enc, state,"
    " scheduled_at, started_at, finished_at, next_feed_at, reachable_today, skip_reasons,"
    " created_by, created_at, updated_at"
)
_CONTACT = (
    "c.id, c.phone_enc, c.phone_bidx, c.name_enc, c.email_enc, c.attributes_enc,"
    " c.marketing_opt_in, c.marketing_opt_out, c.processing_restricted, c.deleted_at"
)
CANCELLED_TITLE = "The campaign was cancelled before this message was sent"


async def tenant_timezone(conn: Conn) -> str | None:
    """The tenant's time zone name."""
    zone: str | None = await conn.fetchval(
        "SELECT timezone FROM tenants WHERE id = app.current_tenant_id()"
    )
    return zone


async def template(conn: Conn, template_id: UUID) -> Row | None:
    """A template with its WABA and status."""
    return await conn.fetchrow(
        "SELECT t.id, t.name, t.language, t.status, t.content_enc, t.waba_id"
        " FROM templates t WHERE t.id = $1",
        template_id,
    )


async def number(conn: Conn, number_id: UUID) -> Row | None:
    """A number's WABA, send rate and messaging tier."""
    return await conn.fetchrow(
        "SELECT id, waba_id, send_rate AS rate, messaging_tier FROM whatsapp_numbers WHERE id = $1",
        number_id,
    )


async def insert(
    conn: Conn,
    campaign_id: UUID,
    name: str,
    number_id: UUID,
    template_id: UUID,
    language: str,
    parameters_enc: bytes,
    audience_enc: bytes,
    scheduled_at: datetime | None,
    created_by: UUID | None,
) -> Row:
    """A new draft campaign."""
    row: Row | None = await conn.fetchrow(
        "INSERT INTO campaigns (tenant_id, id, name, number_id, template_id, language,"  # noqa: S608
        " parameters_enc, audience_enc, scheduled_at, created_by)"
        " VALUES ((SELECT app.current_tenant_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9)"
        f" RETURNING {_COLUMNS}",
        campaign_id, name, number_id, template_id, language, parameters_enc, audience_enc,
        scheduled_at, created_by,
    )  # fmt: skip
    assert row is not None
    return row


async def get(conn: Conn, campaign_id: UUID, *, lock: str = "") -> Row | None:
    """One campaign; `lock` "FOR UPDATE" or "FOR UPDATE SKIP LOCKED" locks it."""
    assert lock in ("", "FOR UPDATE", "FOR UPDATE SKIP LOCKED")
    sql = f"SELECT {_COLUMNS} FROM campaigns WHERE id = $1 {lock}"  # noqa: S608  (constants)
    return await conn.fetchrow(sql, campaign_id)


async def page(
    conn: Conn, *, state: str | None, after: tuple[datetime, UUID] | None, limit: int
) -> list[Row]:
    """Newest first, keyset after (created_at, id); optional state filter."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM campaigns"  # noqa: S608  (a constant column list)
        " WHERE ($1::text IS NULL OR state = $1)"
        " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
        state, after[0] if after else None, after[1] if after else None, limit,
    )  # fmt: skip


async def update_draft(
    conn: Conn,
    campaign_id: UUID,
    name: str,
    number_id: UUID,
    template_id: UUID,
    language: str,
    parameters_enc: bytes,
    audience_enc: bytes,
    scheduled_at: datetime | None,
) -> Row | None:
    """Replace a draft's definition; None if it is not (or no longer) a draft."""
    return await conn.fetchrow(
        "UPDATE campaigns SET name = $2, number_id = $3, template_id = $4, language = $5,"  # noqa: S608
        " parameters_enc = $6, audience_enc = $7, scheduled_at = $8, updated_at = now()"
        f" WHERE id = $1 AND state = 'draft' RETURNING {_COLUMNS}",
        campaign_id, name, number_id, template_id, language, parameters_enc, audience_enc,
        scheduled_at,
    )  # fmt: skip


async def set_audience(conn: Conn, campaign_id: UUID, audience_enc: bytes) -> bool:
    """Replace a draft's audience (a CSV upload); False unless it is a draft."""
    done = await conn.fetchval(
        "UPDATE campaigns SET audience_enc = $2, updated_at = now()"
        " WHERE id = $1 AND state = 'draft' RETURNING 1",
        campaign_id, audience_enc,
    )  # fmt: skip
    return done is not None


async def delete_draft(conn: Conn, campaign_id: UUID) -> bool:
    """Delete a draft; False unless it is one."""
    gone = await conn.fetchval(
        "DELETE FROM campaigns WHERE id = $1 AND state = 'draft' RETURNING 1", campaign_id
    )
    return gone is not None


async def set_state(
    conn: Conn,
    campaign_id: UUID,
    state: str,
    *,
    started: bool = False,
    finished: bool = False,
    skip_reasons: dict[str, int] | None = None,
) -> Row:
    """Move a (locked) campaign to `state`, stamping start/finish and adding skip counts."""
    row: Row | None = await conn.fetchrow(
        "UPDATE campaigns SET state = $2, updated_at = now(), next_feed_at = NULL,"  # noqa: S608
        " started_at = CASE WHEN $3 THEN coalesce(started_at, now()) ELSE started_at END,"
        " finished_at = CASE WHEN $4 THEN now() ELSE finished_at END,"
        " skip_reasons = (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb) FROM ("
        "   SELECT k, sum(v::bigint) AS v FROM ("
        "     SELECT key AS k, value::text AS v FROM jsonb_each_text(skip_reasons)"
        "     UNION ALL SELECT key, value FROM jsonb_each_text($5::jsonb)) a GROUP BY k) b)"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        campaign_id, state, started, finished, skip_reasons or {},
    )  # fmt: skip
    assert row is not None
    return row


async def set_feed(
    conn: Conn, campaign_id: UUID, next_feed_at: datetime | None, reachable: int | None
) -> None:
    """When the runner looks again, and how many more the tier lets it reach today."""
    await conn.execute(
        "UPDATE campaigns SET next_feed_at = $2, reachable_today = $3 WHERE id = $1",
        campaign_id, next_feed_at, reachable,
    )  # fmt: skip


async def counts(conn: Conn, campaign_id: UUID) -> dict[str, int]:
    """Recipients per state, from the trigger-kept counters (never a scan of recipients)."""
    rows = await conn.fetch(
        "SELECT state, sum(count)::bigint AS n FROM campaign_counts"
        " WHERE campaign_id = $1 GROUP BY state",
        campaign_id,
    )
    return {row["state"]: int(row["n"]) for row in rows}


async def counts_of(conn: Conn, campaign_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
    """Recipients per state of each campaign of a page, in one statement."""
    rows = await conn.fetch(
        "SELECT campaign_id, state, sum(count)::bigint AS n FROM campaign_counts"
        " WHERE campaign_id = ANY($1::uuid[]) GROUP BY campaign_id, state",
        list(campaign_ids),
    )
    out: dict[UUID, dict[str, int]] = {cid: {} for cid in campaign_ids}
    for row in rows:
        out.setdefault(row["campaign_id"], {})[row["state"]] = int(row["n"])
    return out


async def failure_reasons(conn: Conn, campaign_id: UUID, limit: int) -> list[Row]:
    """Failed recipients grouped by Meta's error code and title, the most frequent first."""
    return await conn.fetch(
        "SELECT error_code, reason_title, count(*)::bigint AS n FROM campaign_recipients"
        " WHERE campaign_id = $1 AND state = 'failed' GROUP BY error_code, reason_title"
        " ORDER BY n DESC, error_code NULLS LAST, reason_title NULLS LAST LIMIT $2",
        campaign_id, limit,
    )  # fmt: skip


# Contacts -------------------------------------------------------------------------------
async def contacts_by_tags(conn: Conn, tags: Sequence[str], match_all: bool) -> list[Row]:
    """Contacts with any (or all) of `tags`; every contact when `tags` is empty."""
    return await conn.fetch(
        f"SELECT {_CONTACT} FROM contacts c WHERE cardinality($1::text[]) = 0 OR ("  # noqa: S608
        "  SELECT count(*) FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = ANY($1)"
        ") >= CASE WHEN $2 THEN cardinality($1::text[]) ELSE 1 END"
        " ORDER BY c.created_at, c.id",
        [t.strip().lower() for t in tags], match_all,
    )  # fmt: skip


async def contacts_by_ids(conn: Conn, ids: Sequence[UUID]) -> list[Row]:
    """The contacts among `ids` (another tenant's are invisible)."""
    return await conn.fetch(
        f"SELECT {_CONTACT} FROM contacts c WHERE c.id = ANY($1::uuid[])",  # noqa: S608
        list(ids),
    )


async def contacts_by_phone_keys(conn: Conn, keys: Sequence[bytes]) -> list[Row]:
    """The contacts whose phone blind index is among `keys`."""
    return await conn.fetch(
        f"SELECT {_CONTACT} FROM contacts c WHERE c.phone_bidx = ANY($1::bytea[])",  # noqa: S608
        list(keys),
    )


# Recipients -----------------------------------------------------------------------------
async def insert_recipients(conn: Conn, campaign_id: UUID, rows: Sequence[tuple[Any, ...]]) -> None:
    """The snapshot: (id, seq, phone_enc, phone_bidx, contact_id, parameters_enc, state,
    reason_code, reason_title) per recipient."""
    await conn.executemany(
        "INSERT INTO campaign_recipients (tenant_id, campaign_id, id, seq, phone_enc,"
        " phone_bidx, contact_id, parameters_enc, state, reason_code, reason_title)"
        " VALUES ((SELECT app.current_tenant_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [(campaign_id, *row) for row in rows],
    )


async def pending_batch(conn: Conn, campaign_id: UUID, limit: int) -> list[Row]:
    """The next pending recipients in order (the caller holds the campaign's lock)."""
    return await conn.fetch(
        "SELECT id, phone_enc, phone_bidx, parameters_enc FROM campaign_recipients"
        " WHERE campaign_id = $1 AND state = 'pending' ORDER BY seq LIMIT $2",
        campaign_id, limit,
    )  # fmt: skip


async def mark_queued(conn: Conn, ids: Sequence[UUID]) -> None:
    """pending → queued (handed to the dispatcher in the same transaction)."""
    await conn.execute(
        "UPDATE campaign_recipients SET state = 'queued', queued_at = now(), updated_at = now()"
        " WHERE id = ANY($1::uuid[]) AND state = 'pending'",
        list(ids),
    )


async def insert_sends(conn: Conn, number_id: UUID, sends: Sequence[tuple[UUID, bytes]]) -> None:
    """The dispatcher's rows for (send id, encrypted payload): bulk, queued, bus-owned."""
    await conn.executemany(
        "INSERT INTO outbound_sends (tenant_id, id, number_id, priority, payload_enc)"
        " VALUES ((SELECT app.current_tenant_id()), $1, $2, 'bulk', $3) ON CONFLICT DO NOTHING",
        [(send_id, number_id, payload) for send_id, payload in sends],
    )


async def touch_messaged(conn: Conn, number_id: UUID, keys: Sequence[bytes]) -> None:
    """Record that the number messages these recipients now (its rolling 24-hour count)."""
    await conn.execute(
        "INSERT INTO number_recipient_contacts (tenant_id, number_id, phone_bidx)"
        " SELECT app.current_tenant_id(), $1, k FROM unnest($2::bytea[]) AS k"
        " ON CONFLICT (tenant_id, number_id, phone_bidx) DO UPDATE SET messaged_at = now()",
        number_id, list(keys),
    )  # fmt: skip


async def messaged_today(conn: Conn, number_id: UUID) -> tuple[int, datetime | None]:
    """Unique recipients the number messaged in the last 24 h, and the oldest such time."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(messaged_at) AS oldest FROM number_recipient_contacts"
        " WHERE number_id = $1 AND messaged_at > now() - interval '24 hours'",
        number_id,
    )
    assert row is not None
    return int(row["n"]), row["oldest"]


async def messaged_recently(conn: Conn, number_id: UUID, keys: Sequence[bytes]) -> set[bytes]:
    """Which of `keys` the number messaged in the last 24 h (they use no new quota)."""
    rows = await conn.fetch(
        "SELECT phone_bidx FROM number_recipient_contacts WHERE number_id = $1"
        " AND phone_bidx = ANY($2::bytea[]) AND messaged_at > now() - interval '24 hours'",
        number_id, list(keys),
    )  # fmt: skip
    return {bytes(row["phone_bidx"]) for row in rows}


async def park_sends(conn: Conn, campaign_id: UUID) -> None:
    """Pause: the campaign's sends still queued at the dispatcher wait until resumed."""
    await conn.execute(
        "UPDATE outbound_sends SET next_attempt_at = 'infinity', updated_at = now()"
        " WHERE state = 'queued' AND id IN (SELECT id FROM campaign_recipients"
        " WHERE campaign_id = $1 AND state = 'queued')",
        campaign_id,
    )


async def unpark_sends(conn: Conn, campaign_id: UUID) -> None:
    """Resume: the campaign's queued sends are due again (the sweeper sends them)."""
    await conn.execute(
        "UPDATE outbound_sends SET next_attempt_at = now(), updated_at = now()"
        " WHERE state = 'queued' AND id IN (SELECT id FROM campaign_recipients"
        " WHERE campaign_id = $1 AND state = 'queued')",
        campaign_id,
    )


async def cancel_unsent(conn: Conn, campaign_id: UUID) -> int:
    """Cancel: queued sends fail unsent and they and pending recipients become skipped."""
    count: int = await conn.fetchval(
        "WITH cancelled AS (UPDATE outbound_sends SET state = 'failed',"
        "   error_title = 'campaign-cancelled', payload_enc = NULL, next_attempt_at = NULL,"
        "   updated_at = now() WHERE state = 'queued' AND id IN (SELECT id FROM"
        "   campaign_recipients WHERE campaign_id = $1 AND state = 'queued') RETURNING id),"
        " skipped AS (UPDATE campaign_recipients SET state = 'skipped',"
        "   reason_code = 'campaign-cancelled', reason_title = $2, updated_at = now()"
        "   WHERE campaign_id = $1 AND (state = 'pending' OR id IN (SELECT id FROM cancelled))"
        "   RETURNING 1)"
        " SELECT count(*) FROM skipped",
        campaign_id, CANCELLED_TITLE,
    )  # fmt: skip
    return count


async def advance(
    conn: Conn,
    recipient_id: UUID,
    state: str,
    at: datetime,
    error_code: int | None = None,
    error_title: str | None = None,
) -> bool:
    """Move a recipient forward to `state` (a status webhook); never backwards."""
    done = await conn.fetchval(
        "UPDATE campaign_recipients SET state = $2, updated_at = now(),"
        " sent_at = CASE WHEN $2 IN ('sent', 'delivered', 'read') THEN coalesce(sent_at, $3)"
        "   ELSE sent_at END,"
        " delivered_at = CASE WHEN $2 IN ('delivered', 'read') THEN coalesce(delivered_at, $3)"
        "   ELSE delivered_at END,"
        " read_at = CASE WHEN $2 = 'read' THEN coalesce(read_at, $3) ELSE read_at END,"
        " failed_at = CASE WHEN $2 = 'failed' THEN $3 ELSE failed_at END,"
        " error_code = CASE WHEN $2 = 'failed' THEN $4 ELSE error_code END,"
        " reason_code = CASE WHEN $2 = 'failed' THEN 'delivery-failed' ELSE reason_code END,"
        " reason_title = CASE WHEN $2 = 'failed' THEN $5 ELSE reason_title END"
        " WHERE id = $1 AND app.campaign_state_rank(state) < app.campaign_state_rank($2)"
        " AND state NOT IN ('pending', 'skipped') RETURNING 1",
        recipient_id, state, at, error_code, error_title,
    )  # fmt: skip
    return done is not None


async def mark_replied(
    conn: Conn, phone_bidx: bytes, phone_number_id: str, at: datetime, window_s: float
) -> int:
    """Recipients on this number who wrote back after their campaign message (recently)."""
    count: int = await conn.fetchval(
        "WITH hit AS (UPDATE campaign_recipients r SET state = 'replied', replied_at = $3,"
        "   updated_at = now() FROM campaigns c JOIN whatsapp_numbers n"
        "   ON n.tenant_id = c.tenant_id AND n.id = c.number_id"
        "   WHERE r.phone_bidx = $1 AND r.state IN ('sent', 'delivered', 'read')"
        "   AND c.tenant_id = r.tenant_id AND c.id = r.campaign_id AND n.phone_number_id = $2"
        "   AND r.sent_at <= $3 AND r.sent_at > $3 - make_interval(secs => $4) RETURNING 1)"
        " SELECT count(*) FROM hit",
        phone_bidx, phone_number_id, at, window_s,
    )  # fmt: skip
    return count


async def report_rows(conn: Conn, campaign_id: UUID) -> Any:
    """A cursor over every recipient in order (for the streamed CSV report)."""
    return conn.cursor(
        "SELECT seq, phone_enc, contact_id, state, reason_code, reason_title, error_code,"
        " queued_at, sent_at, delivered_at, read_at, replied_at, failed_at"
        " FROM campaign_recipients WHERE campaign_id = $1 ORDER BY seq",
        campaign_id,
        prefetch=1000,
    )


async def set_tier(
    conn: Conn, waba_id: str, digits: str, tier: str | None, event: str | None = None
) -> int:
    """A phone_number_quality_update: the number's (by WABA and display digits) new tier
    (None: unchanged) and the update's event, kept with its time for Settings."""
    count: int = await conn.fetchval(
        "WITH hit AS (UPDATE whatsapp_numbers SET messaging_tier = coalesce($3, messaging_tier),"
        " quality_event = coalesce($4, quality_event), quality_updated_at = now()"
        " WHERE waba_id = $1"
        " AND regexp_replace(display_number, '[^0-9]', '', 'g') = $2 RETURNING 1)"
        " SELECT count(*) FROM hit",
        waba_id, digits, tier, event,
    )  # fmt: skip
    return count


async def set_account_event(conn: Conn, waba_id: str, event: str, at: datetime) -> int:
    """An account_update of Meta's time `at`: every number of the WhatsApp Business Account
    keeps the event and its time, for Settings, unless it shows a later one (webhooks arrive
    out of order). Returns how many numbers of the tenant it reached."""
    count: int = await conn.fetchval(
        "WITH hit AS (UPDATE whatsapp_numbers SET account_event = $2, account_updated_at = $3"
        " WHERE waba_id = $1 AND (account_updated_at IS NULL OR account_updated_at <= $3)"
        " RETURNING 1) SELECT count(*) FROM hit",
        waba_id, event, at,
    )  # fmt: skip
    return count


async def set_ban_state(conn: Conn, waba_id: str, disabled: bool, at: datetime) -> int:
    """Meta disabled (or reinstated) the account at `at`: every number of it stops (or
    resumes) sending (migration 0026). A reinstatement lifts any block (a lock or a policy
    block is the account's too); a number blocked earlier keeps its time and reason; a state
    older than one already applied changes nothing. Returns how many numbers it reached."""
    count: int = await conn.fetchval(
        "WITH hit AS (UPDATE whatsapp_numbers SET ban_state_at = $3,"
        " sending_blocked_at = CASE WHEN $2 THEN coalesce(sending_blocked_at, now()) END,"
        " sending_blocked_reason = CASE WHEN $2"
        " THEN coalesce(sending_blocked_reason, 'account-disabled') END"
        " WHERE waba_id = $1 AND (ban_state_at IS NULL OR ban_state_at <= $3)"
        " RETURNING 1) SELECT count(*) FROM hit",
        waba_id, disabled, at,
    )  # fmt: skip
    return count


async def set_restrictions(
    conn: Conn, waba_id: str, bulk_until: str | None, replies_until: str | None, at: datetime
) -> int:
    """An ACCOUNT_RESTRICTION of Meta's time `at` states the account's current restrictions:
    until when its numbers' bulk sends and replies are held (a timestamp, 'infinity', or None
    for no hold; migration 0027). An update older than the one applied changes nothing.
    Returns how many numbers of the tenant it reached."""
    count: int = await conn.fetchval(
        "WITH hit AS (UPDATE whatsapp_numbers SET restricted_bulk_until = $2::text::timestamptz,"
        " restricted_replies_until = $3::text::timestamptz, restriction_at = $4"
        " WHERE waba_id = $1 AND (restriction_at IS NULL OR restriction_at <= $4)"
        " RETURNING 1) SELECT count(*) FROM hit",
        waba_id, bulk_until, replies_until, at,
    )  # fmt: skip
    return count


async def due_campaigns(pool: asyncpg.Pool[Any], limit: int) -> list[tuple[UUID, UUID]]:
    """(tenant_id, campaign_id) of scheduled campaigns due and running ones to feed."""
    rows = await pool.fetch("SELECT tenant_id, campaign_id FROM app.due_campaigns($1)", limit)
    return [(r["tenant_id"], r["campaign_id"]) for r in rows]
