"""The report queries behind `/api/v1/analytics/...`: rollups in, JSON-ready dicts out.

Ranges are local dates of the tenant's zone, `start` and `end` the UTC instants of their
boundaries. Medians and p90 are continuous percentiles (PostgreSQL's percentile_cont).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from broadcast.analytics.repository import Conn


@dataclass(frozen=True, slots=True)
class Range:
    """A report's local dates (inclusive), their UTC bounds and the zone's name."""

    first: date
    last: date
    start: datetime
    end: datetime
    zone: str
    number_id: UUID | None

    def echo(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "timezone": self.zone,
            "number_id": str(self.number_id) if self.number_id else None,
        }


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _id(value: UUID | None) -> str | None:
    return None if value is None else str(value)


async def volumes(conn: Conn, r: Range) -> dict[str, Any]:
    """Conversations opened/resolved and messages in/out per local day and number.

    `messages_out` are the inbox's outbound messages (people, the bot, the API);
    `campaign_messages_out` the campaign sends Meta accepted that day.
    """
    rows = await conn.fetch(
        """
        WITH opened AS (
          SELECT (opened_at AT TIME ZONE $3)::date AS day, number_id, count(*) AS n
          FROM analytics_cycles WHERE opened_at >= $1 AND opened_at < $2
            AND ($4::uuid IS NULL OR number_id = $4) GROUP BY 1, 2),
        resolved AS (
          SELECT (resolved_at AT TIME ZONE $3)::date AS day, number_id, count(*) AS n
          FROM analytics_cycles WHERE resolved_at >= $1 AND resolved_at < $2
            AND ($4::uuid IS NULL OR number_id = $4) GROUP BY 1, 2),
        messages AS (
          SELECT day, number_id, sum(messages_in) AS messages_in,
                 sum(messages_out) AS messages_out
          FROM analytics_daily_messages
          WHERE day BETWEEN $5 AND $6 AND ($4::uuid IS NULL OR number_id = $4) GROUP BY 1, 2),
        campaign AS (
          SELECT d.day, c.number_id, sum(d.count) AS n FROM analytics_campaign_daily d
          JOIN campaigns c ON c.id = d.campaign_id
          WHERE d.state = 'sent' AND d.day BETWEEN $5 AND $6
            AND ($4::uuid IS NULL OR c.number_id = $4) GROUP BY 1, 2),
        keys AS (SELECT day, number_id FROM opened UNION SELECT day, number_id FROM resolved
                 UNION SELECT day, number_id FROM messages
                 UNION SELECT day, number_id FROM campaign)
        SELECT k.day, k.number_id, coalesce(o.n, 0) AS opened, coalesce(r.n, 0) AS resolved,
               coalesce(m.messages_in, 0) AS messages_in,
               coalesce(m.messages_out, 0) AS messages_out, coalesce(cs.n, 0) AS campaign_out
        FROM keys k
        LEFT JOIN opened o ON o.day = k.day AND o.number_id IS NOT DISTINCT FROM k.number_id
        LEFT JOIN resolved r ON r.day = k.day AND r.number_id IS NOT DISTINCT FROM k.number_id
        LEFT JOIN messages m ON m.day = k.day AND m.number_id IS NOT DISTINCT FROM k.number_id
        LEFT JOIN campaign cs ON cs.day = k.day AND cs.number_id = k.number_id
        ORDER BY k.day, k.number_id
        """,
        r.start, r.end, r.zone, r.number_id, r.first, r.last,
    )  # fmt: skip
    items = [
        {
            "day": row["day"].isoformat(),
            "number_id": _id(row["number_id"]),
            "conversations_opened": row["opened"],
            "conversations_resolved": row["resolved"],
            "messages_in": int(row["messages_in"]),
            "messages_out": int(row["messages_out"]),
            "campaign_messages_out": int(row["campaign_out"]),
        }
        for row in rows
    ]
    keys = (
        "conversations_opened",
        "conversations_resolved",
        "messages_in",
        "messages_out",
        "campaign_messages_out",
    )
    totals = {key: sum(item[key] for item in items) for key in keys}
    return {**r.echo(), "items": items, "totals": totals}


_TIMES = """
SELECT count({seconds}) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY {seconds}) AS p90
FROM analytics_cycles WHERE {at} >= $1 AND {at} < $2
  AND ($3::uuid IS NULL OR number_id = $3)
"""


async def response_times(conn: Conn, r: Range) -> dict[str, Any]:
    """First response and resolution times (working seconds), median and p90.

    A cycle only the bot owned has no resolution time and is left out of `resolution`.
    """
    body: dict[str, Any] = r.echo()
    columns = (
        ("first_response", "first_response_at", "first_response_s"),
        ("resolution", "resolved_at", "resolution_s"),
    )
    for name, at, seconds in columns:
        sql = _TIMES.format(at=at, seconds=seconds)  # fixed column names only
        row = await conn.fetchrow(sql, r.start, r.end, r.number_id)
        assert row is not None
        body[name] = {
            "count": row["n"],
            "median_seconds": _num(row["median"]),
            "p90_seconds": _num(row["p90"]),
        }
    return body


async def agents(conn: Conn, r: Range) -> dict[str, Any]:
    """Per person: conversations handled (resolved as assignee), replies, median times."""
    rows = await conn.fetch(
        """
        WITH replies AS (
          SELECT user_id, sum(replies) AS n FROM analytics_daily_replies
          WHERE day BETWEEN $4 AND $5 AND ($3::uuid IS NULL OR number_id = $3) GROUP BY 1),
        firsts AS (
          SELECT first_responder_id AS user_id, count(*) AS n,
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_s) AS median
          FROM analytics_cycles WHERE first_response_at >= $1 AND first_response_at < $2
            AND first_responder_id IS NOT NULL AND ($3::uuid IS NULL OR number_id = $3)
          GROUP BY 1),
        resolved AS (
          SELECT resolver_id AS user_id, count(*) AS n,  -- handled, measured or not
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_s) AS median
          FROM analytics_cycles WHERE resolved_at >= $1 AND resolved_at < $2
            AND resolver_id IS NOT NULL AND ($3::uuid IS NULL OR number_id = $3)
          GROUP BY 1),
        people AS (SELECT user_id FROM replies UNION SELECT user_id FROM firsts
                   UNION SELECT user_id FROM resolved)
        SELECT p.user_id, coalesce(rs.n, 0) AS handled, coalesce(rp.n, 0) AS replies,
               coalesce(f.n, 0) AS first_responses, f.median AS first_median,
               rs.median AS resolution_median
        FROM people p LEFT JOIN replies rp USING (user_id) LEFT JOIN firsts f USING (user_id)
        LEFT JOIN resolved rs USING (user_id)
        ORDER BY handled DESC, replies DESC, p.user_id
        """,
        r.start, r.end, r.number_id, r.first, r.last,
    )  # fmt: skip
    items = [
        {
            "user_id": str(row["user_id"]),
            "conversations_handled": row["handled"],
            "replies": int(row["replies"]),
            "first_responses": row["first_responses"],
            "median_first_response_seconds": _num(row["first_median"]),
            "median_resolution_seconds": _num(row["resolution_median"]),
        }
        for row in rows
    ]
    return {**r.echo(), "items": items}


FUNNEL = ("queued", "sent", "delivered", "read", "replied", "failed", "skipped")
# A recipient in a later state passed the earlier ones: the funnel counts "reached at least".
_REACHED = {
    "queued": ("queued", "sent", "delivered", "read", "replied", "failed"),
    "sent": ("sent", "delivered", "read", "replied"),
    "delivered": ("delivered", "read", "replied"),
    "read": ("read", "replied"),
    "replied": ("replied",),
    "failed": ("failed",),
    "skipped": ("skipped",),
}


async def campaigns(conn: Conn, r: Range) -> dict[str, Any]:
    """Each campaign active in the range: its funnel, and what happened per local day."""
    rows = await conn.fetch(
        """
        SELECT c.id, c.name, c.number_id, c.state,
               (SELECT coalesce(jsonb_object_agg(state, n), '{}'::jsonb) FROM (
                  SELECT state, sum(count) AS n FROM campaign_counts
                  WHERE campaign_id = c.id GROUP BY state) s) AS counts,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('day', d.day, 'state', d.state,
                                                             'count', d.n)
                                          ORDER BY d.day, d.state), '[]'::jsonb)
                FROM (SELECT day, state, sum(count) AS n FROM analytics_campaign_daily
                      WHERE campaign_id = c.id AND day BETWEEN $1 AND $2
                      GROUP BY day, state) d) AS daily
        FROM campaigns c
        WHERE ($3::uuid IS NULL OR c.number_id = $3)
          AND (EXISTS (SELECT 1 FROM analytics_campaign_daily d
                       WHERE d.campaign_id = c.id AND d.day BETWEEN $1 AND $2)
               OR (c.created_at >= $4 AND c.created_at < $5))
        ORDER BY c.created_at, c.id
        """,
        r.first, r.last, r.number_id, r.start, r.end,
    )  # fmt: skip
    items = []
    for row in rows:
        counts: dict[str, Any] = row["counts"]
        funnel = {
            stage: sum(int(counts.get(s, 0)) for s in states) for stage, states in _REACHED.items()
        }
        days: dict[str, dict[str, int]] = {}
        for entry in row["daily"]:
            if entry["state"] in FUNNEL:
                day = days.setdefault(entry["day"], dict.fromkeys(FUNNEL, 0))
                day[entry["state"]] = int(entry["count"])
        items.append(
            {
                "campaign_id": str(row["id"]),
                "name": row["name"],
                "number_id": str(row["number_id"]),
                "state": row["state"],
                "funnel": funnel,
                "daily": [{"day": day, **values} for day, values in sorted(days.items())],
            }
        )
    return {**r.echo(), "items": items}


# A run that ended by design (its last node, or a hand-off node) completed; any other end
# (timeout, a person took over, an error, a loop limit) dropped off at its current node.
_COMPLETED = ("completed", "handoff")


async def flows(conn: Conn, r: Range) -> dict[str, Any]:
    """Per flow: runs started in the range, completed, dropped, and per node reached/dropped."""
    rows = await conn.fetch(
        """
        SELECT f.id AS flow_id, f.name, s.status, s.end_reason, s.current_node,
               ARRAY(SELECT jsonb_object_keys(s.visits)) AS nodes
        FROM flow_sessions s JOIN flows f ON f.id = s.flow_id
        WHERE s.created_at >= $1 AND s.created_at < $2
          AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM conversations c
                                           WHERE c.id = s.conversation_id AND c.number_id = $3))
        ORDER BY f.id
        """,
        r.start, r.end, r.number_id,
    )  # fmt: skip
    by_flow: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        flow = by_flow.setdefault(
            row["flow_id"],
            {"flow_id": str(row["flow_id"]), "name": row["name"], "started": 0, "completed": 0,
             "dropped": 0, "in_progress": 0, "nodes": {}},
        )  # fmt: skip
        flow["started"] += 1
        ended = row["status"] == "ended"
        dropped = ended and row["end_reason"] not in _COMPLETED
        flow["completed"] += ended and not dropped
        flow["dropped"] += dropped
        flow["in_progress"] += not ended
        for node in row["nodes"]:
            flow["nodes"].setdefault(node, {"reached": 0, "dropped": 0})["reached"] += 1
        if dropped:
            node = flow["nodes"].setdefault(row["current_node"], {"reached": 0, "dropped": 0})
            node["dropped"] += 1
    items = []
    for flow in by_flow.values():
        nodes = flow.pop("nodes")
        flow["nodes"] = [{"node_id": key, **value} for key, value in sorted(nodes.items())]
        items.append(flow)
    return {**r.echo(), "items": items}


async def leads(conn: Conn, r: Range) -> dict[str, Any]:
    """Leads first captured in the range, by current stage and by source."""
    rows = await conn.fetch(
        "SELECT stage, source, count(*) AS n FROM analytics_leads"
        " WHERE created_at >= $1 AND created_at < $2 GROUP BY stage, source",
        r.start,
        r.end,
    )
    by_stage = dict.fromkeys(("new", "qualified", "won", "lost"), 0)
    by_source = dict.fromkeys(("flow", "ai", "manual", "api"), 0)
    for row in rows:
        by_stage[row["stage"]] += row["n"]
        by_source[row["source"]] += row["n"]
    body = r.echo()
    body.update(
        total=sum(by_stage.values()),
        by_stage=[{"stage": k, "count": v} for k, v in by_stage.items()],
        by_source=[{"source": k, "count": v} for k, v in by_source.items()],
    )
    return body
