"""Teams of a tenant ("Sales", "Support") and their members: SQL and the shape they are answered in.

Names are unique per tenant regardless of case (the unique index on lower(name)). Members are
active owners, admins and agents of the tenant (people who can work conversations). Row-level
security scopes every statement to the transaction's tenant, so another tenant's team is
simply not found.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from inbox.conversations_repository import STATE_COLUMNS, ConversationState, state_of
from inbox.repository import Conn

MAX_TEAMS = 100  # per tenant; the list answers them all in one page
_TEAM = (
    "t.id, t.name, t.description, t.created_at, t.updated_at,"
    " ARRAY(SELECT m.user_id FROM team_members m WHERE m.team_id = t.id"
    " ORDER BY m.created_at, m.user_id) AS member_ids"
)


class DuplicateTeam(Exception):
    """Another team of the tenant has this name (case-insensitive)."""


def team_json(row: Any) -> dict[str, Any]:
    """A team as the API answers it (members as user ids, in the order they were added)."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "member_ids": [str(u) for u in row["member_ids"]],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def list_teams(conn: Conn) -> list[Any]:
    """Every team of the tenant, by name."""
    return list(
        await conn.fetch(
            f"SELECT {_TEAM} FROM teams t ORDER BY lower(t.name), t.id LIMIT $1",  # noqa: S608
            MAX_TEAMS,
        )
    )


async def get_team(conn: Conn, team_id: UUID) -> Any | None:
    """One team, or None."""
    return await conn.fetchrow(f"SELECT {_TEAM} FROM teams t WHERE t.id = $1", team_id)  # noqa: S608


async def team_exists(conn: Conn, team_id: UUID) -> bool:
    """True if the team belongs to the transaction's tenant."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)", team_id)
    return found


async def team_count(conn: Conn) -> int:
    """How many teams the tenant has."""
    count: int = await conn.fetchval("SELECT count(*) FROM teams")
    return count


async def create_team(
    conn: Conn, tenant_id: UUID, team_id: UUID, name: str, description: str
) -> Any:
    """Insert a team; DuplicateTeam if the name is taken."""
    created = await conn.fetchval(
        "INSERT INTO teams (tenant_id, id, name, description) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING id",
        tenant_id,
        team_id,
        name,
        description,
    )
    if created is None:
        raise DuplicateTeam
    return await get_team(conn, team_id)


async def update_team(
    conn: Conn, team_id: UUID, name: str | None, description: str | None
) -> Any | None:
    """Rename and/or describe a team; None if not found, DuplicateTeam if the name is taken."""
    try:
        updated = await conn.fetchval(
            "UPDATE teams SET name = coalesce($2, name), description = coalesce($3, description),"
            " updated_at = now() WHERE id = $1 RETURNING id",
            team_id,
            name,
            description,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateTeam from None
    return None if updated is None else await get_team(conn, team_id)


async def lock_team(conn: Conn, team_id: UUID) -> bool:
    """Lock the team's row until the transaction ends; False if not found."""
    found = await conn.fetchval("SELECT id FROM teams WHERE id = $1 FOR UPDATE", team_id)
    return found is not None


async def release_conversations(conn: Conn, team_id: UUID) -> list[ConversationState]:
    """Take every conversation out of the team (they stay open and keep their assignee)."""
    rows = await conn.fetch(
        f"UPDATE conversations SET team_id = NULL, updated_at = now()"  # noqa: S608  (fixed text)
        f" WHERE team_id = $1 RETURNING {STATE_COLUMNS}",
        team_id,
    )
    return [state_of(r) for r in rows]


async def delete_team(conn: Conn, team_id: UUID) -> bool:
    """Delete a team and its memberships; False if not found."""
    deleted = await conn.fetchval("DELETE FROM teams WHERE id = $1 RETURNING id", team_id)
    return deleted is not None


async def add_member(conn: Conn, tenant_id: UUID, team_id: UUID, user_id: UUID) -> bool:
    """Add a member; False if they already were one."""
    added = await conn.fetchval(
        "INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING user_id",
        tenant_id,
        team_id,
        user_id,
    )
    return added is not None


async def remove_member(conn: Conn, team_id: UUID, user_id: UUID) -> bool:
    """Remove a member; False if they were not one."""
    removed = await conn.fetchval(
        "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 RETURNING user_id",
        team_id,
        user_id,
    )
    return removed is not None


async def member_ids(conn: Conn, team_id: UUID) -> set[UUID]:
    """The user ids of a team's members."""
    rows = await conn.fetch("SELECT user_id FROM team_members WHERE team_id = $1", team_id)
    return {r["user_id"] for r in rows}
