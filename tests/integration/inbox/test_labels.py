"""Labels: managers keep the vocabulary, agents put labels on conversations, tenants stay apart."""

from __future__ import annotations

import uuid
from typing import Any

from majlis.db import tenant_transaction

LABELS = "/api/v1/labels"
CONVERSATIONS = "/api/v1/conversations"


async def label_rows(world: Any, team: Any) -> list[tuple[str, str]]:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        rows = await conn.fetch("SELECT name, color FROM labels ORDER BY name")
    return [(r["name"], r["color"]) for r in rows]


async def labels_on(world: Any, team: Any, cid: uuid.UUID) -> set[str]:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT label_id FROM conversation_labels WHERE conversation_id = $1", cid
        )
    return {str(r["label_id"]) for r in rows}


async def test_managers_create_edit_and_delete_labels(inbox_world: Any) -> None:
    team = await inbox_world.team()
    status, vip, _ = await team.owner.request(
        "POST", LABELS, json={"name": "  VIP   customer ", "color": "#AA00ff"}
    )
    assert status == 201, vip
    assert (vip["name"], vip["color"]) == ("VIP customer", "#aa00ff")
    status, refund, _ = await team.admin.request("POST", LABELS, json={"name": "Refund"})
    assert (status, refund["color"]) == (201, "#6b7280"), refund
    status, body, _ = await team.admin.request("POST", LABELS, json={"name": "vip CUSTOMER"})
    assert status == 409, body
    assert body["type"].endswith("/label-exists")
    for bad in ({"name": ""}, {"name": "x" * 65}, {"name": "a", "color": "red"}, {"nom": "a"}):
        status, body, _ = await team.owner.request("POST", LABELS, json=bad)
        assert status == 422, (bad, body)
    for who in (team.agent, team.viewer):
        status, body, _ = await who.request("POST", LABELS, json={"name": "Mine"})
        assert status == 403, body
        status, body, _ = await who.request(
            "PATCH", f"{LABELS}/{vip['id']}", json={"name": "Theirs"}
        )
        assert status == 403, body
        status, body, _ = await who.request("DELETE", f"{LABELS}/{vip['id']}")
        assert status == 403, body
    status, listed, _ = await team.viewer.request("GET", LABELS)
    assert status == 200, listed
    assert [i["name"] for i in listed["items"]] == ["Refund", "VIP customer"]
    assert listed["next_cursor"] is None

    status, body, _ = await team.admin.request(
        "PATCH", f"{LABELS}/{refund['id']}", json={"name": "VIP Customer"}
    )
    assert status == 409, body
    status, body, _ = await team.admin.request(
        "PATCH", f"{LABELS}/{refund['id']}", json={"color": "#00ff00"}
    )
    assert (status, body["name"], body["color"]) == (200, "Refund", "#00ff00"), body
    status, body, _ = await team.owner.request("DELETE", f"{LABELS}/{refund['id']}")
    assert status == 204, body
    status, body, _ = await team.owner.request("DELETE", f"{LABELS}/{refund['id']}")
    assert status == 404, body
    assert await label_rows(inbox_world, team) == [("VIP customer", "#aa00ff")]


async def test_labels_on_conversations(inbox_world: Any) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    created = [
        (await team.owner.request("POST", LABELS, json={"name": name}))[1]
        for name in ("Sales", "Urgent")
    ]
    sales, urgent = (label["id"] for label in created)
    status, foreign, _ = await other.owner.request("POST", LABELS, json={"name": "Sales"})
    assert status == 201, foreign  # names are unique per tenant only
    url = f"{CONVERSATIONS}/{cid}/labels"

    status, body, _ = await team.agent.request("PUT", url, json={"label_ids": [sales, urgent]})
    assert status == 200, body
    assert sorted(body["labels"]) == sorted([sales, urgent])
    status, detail, _ = await team.viewer.request("GET", f"{CONVERSATIONS}/{cid}")
    assert {d["name"] for d in detail["labels_detail"]} == {"Sales", "Urgent"}
    # Unknown or another tenant's label: refused whole, nothing changes.
    for wrong in (foreign["id"], str(uuid.uuid4())):
        status, body, _ = await team.agent.request("PUT", url, json={"label_ids": [sales, wrong]})
        assert status == 422, body
        assert body["type"].endswith("/unknown-label")
    for bad in ({"label_ids": ["x"]}, {"label_ids": [str(uuid.uuid4())] * 51}, {}):
        status, body, _ = await team.agent.request("PUT", url, json=bad)
        assert status == 422, body
    status, body, _ = await team.viewer.request("PUT", url, json={"label_ids": []})
    assert status == 403, body
    assert await labels_on(inbox_world, team, cid) == {sales, urgent}

    status, body, _ = await team.agent2.request("PUT", url, json={"label_ids": [urgent]})
    assert (status, body["labels"]) == (200, [urgent]), body
    status, page, _ = await team.agent.request("GET", f"{CONVERSATIONS}?label={urgent}")
    assert [i["id"] for i in page["items"]] == [str(cid)]
    status, page, _ = await team.agent.request("GET", f"{CONVERSATIONS}?label={sales}")
    assert page["items"] == []
    # Deleting a label takes it off its conversations.
    status, body, _ = await team.owner.request("DELETE", f"{LABELS}/{urgent}")
    assert status == 204, body
    assert await labels_on(inbox_world, team, cid) == set()


async def test_another_tenants_label_is_not_found_and_unchanged(inbox_world: Any) -> None:
    team_a, team_b = await inbox_world.team(), await inbox_world.team()
    status, label, _ = await team_b.owner.request(
        "POST", LABELS, json={"name": "Secret", "color": "#123456"}
    )
    assert status == 201, label
    status, body, _ = await team_a.owner.request(
        "PATCH", f"{LABELS}/{label['id']}", json={"name": "Mine now"}
    )
    assert status == 404, body
    status, body, _ = await team_a.owner.request("DELETE", f"{LABELS}/{label['id']}")
    assert status == 404, body
    status, listed, _ = await team_a.owner.request("GET", LABELS)
    assert listed["items"] == []
    status, body, _ = await team_a.owner.request("GET", f"{CONVERSATIONS}?label={label['id']}")
    assert (status, body["items"]) == (200, [])
    assert await label_rows(inbox_world, team_b) == [("Secret", "#123456")]
