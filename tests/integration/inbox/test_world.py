"""The test world itself: a team is built and a customer message lands in its inbox."""

from __future__ import annotations

from typing import Any

from majlis.db import tenant_transaction


async def test_a_customer_message_reaches_the_inbox(inbox_world: Any) -> None:
    team = await inbox_world.team()
    conversation_id, message_id = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT status, controller FROM conversations WHERE id = $1", conversation_id
        )
    assert row is not None
    assert (row["status"], row["controller"]) == ("open", "bot")
    status, body, _ = await team.agent.request("GET", f"/api/v1/media/{message_id}")
    assert status == 404, body
