"""Canned responses through the gateway: scopes and roles, shortcuts, search, pagination,
rendering with the contact's decrypted fields, and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

from majlis.db import tenant_transaction

BASE = "/api/v1/canned-responses"


async def create(person: Any, shortcut: str, content: str, scope: str) -> tuple[int, Any]:
    status, body, _ = await person.request(
        "POST", BASE, json={"shortcut": shortcut, "content": content, "scope": scope}
    )
    return status, body


async def shortcuts(person: Any, query: str = "") -> list[tuple[str, str]]:
    status, body, _ = await person.request("GET", BASE + query)
    assert status == 200, body
    return [(item["shortcut"], item["scope"]) for item in body["items"]]


async def rows(world: Any, team: Any) -> list[tuple[str, Any]]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        found = await conn.fetch(
            "SELECT shortcut, owner_user_id FROM canned_responses ORDER BY shortcut, owner_user_id"
        )
    return [(r["shortcut"], r["owner_user_id"]) for r in found]


async def test_scopes_roles_and_duplicates(inbox_world: Any) -> None:
    team = await inbox_world.team()
    assert (await create(team.admin, "greet", "Hello!", "tenant"))[0] == 201
    status, personal = await create(team.agent, "greet", "Hi, I am on it", "personal")
    assert status == 201, personal
    assert personal["owner_user_id"] == str(team.user_ids["agent"])
    status, body = await create(team.agent, "greet", "again", "personal")
    assert (status, body["type"]) == (409, "https://majlis.dev/problems/canned-response-exists")
    assert (await create(team.owner, "greet", "again", "tenant"))[0] == 409
    assert (await create(team.agent, "refund", "x", "tenant"))[0] == 403
    assert (await create(team.viewer, "mine", "x", "personal"))[0] == 403
    assert (await create(team.agent2, "greet", "Agent 2 greets", "personal"))[0] == 201
    bad = [
        {"shortcut": "Greet", "content": "x"},
        {"shortcut": "-x", "content": "x"},
        {"shortcut": "ok", "content": ""},
        {"shortcut": "ok", "content": "x", "scope": "all"},
        {"shortcut": "a" * 33, "content": "x"},
        {"shortcut": "ok", "content": "x", "id": "1"},
    ]
    for body in bad:
        assert (await team.agent.request("POST", BASE, json=body))[0] == 422, body
    # Nobody sees another person's personal responses, not even the owner.
    assert sorted(await shortcuts(team.agent)) == [("greet", "personal"), ("greet", "tenant")]
    assert await shortcuts(team.owner) == [("greet", "tenant")]
    assert await shortcuts(team.viewer) == [("greet", "tenant")]
    path = f"{BASE}/{personal['id']}"
    for person in (team.agent2, team.admin, team.owner):
        for method, body in (("PATCH", {"content": "taken"}), ("DELETE", None)):
            status, answer, _ = await person.request(method, path, json=body)
            assert status == 404, answer
    status, changed, _ = await team.agent.request("PATCH", path, json={"content": "Hi there"})
    assert (status, changed["content"], changed["scope"]) == (200, "Hi there", "personal")
    status, tenant_wide = await create(team.owner, "bye", "Goodbye", "tenant")
    assert status == 201
    tenant_path = f"{BASE}/{tenant_wide['id']}"
    assert (await team.agent.request("PATCH", tenant_path, json={"content": "x"}))[0] == 403
    assert (await team.agent.request("DELETE", tenant_path))[0] == 403
    status, body, _ = await team.admin.request("PATCH", tenant_path, json={"shortcut": "greet"})
    assert status == 409, body
    assert (await team.admin.request("PATCH", tenant_path, json={}))[0] == 422
    status, body, _ = await team.admin.request("PATCH", tenant_path, json={"shortcut": "farewell"})
    assert (status, body["shortcut"]) == (200, "farewell")
    assert (await team.admin.request("DELETE", tenant_path))[0] == 204
    assert (await team.admin.request("DELETE", tenant_path))[0] == 404
    assert (await team.agent.request("DELETE", path))[0] == 204
    assert [s for s, _ in await rows(inbox_world, team)] == ["greet", "greet"]


async def test_search_by_prefix_and_pages(inbox_world: Any) -> None:
    team = await inbox_world.team()
    for shortcut in ("ship-1", "ship-2", "ship_3", "shop", "refund"):
        assert (await create(team.admin, shortcut, f"text of {shortcut}", "tenant"))[0] == 201
    assert [s for s, _ in await shortcuts(team.agent, "?q=ship")] == ["ship-1", "ship-2", "ship_3"]
    assert [s for s, _ in await shortcuts(team.agent, "?q=/SH")] == [
        "ship-1", "ship-2", "ship_3", "shop"
    ]  # fmt: skip
    assert await shortcuts(team.agent, "?q=ship_") == [("ship_3", "tenant")]  # "_" is literal
    for query in ("?q=%25", "?q=a%20b", "?limit=0", "?limit=x", "?cursor=nope"):
        assert (await team.agent.request("GET", BASE + query))[0] == 422, query
    seen: list[str] = []
    query = "?limit=2"
    while True:
        status, body, _ = await team.agent.request("GET", BASE + query)
        assert status == 200
        assert len(body["items"]) <= 2
        seen += [item["shortcut"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=2&cursor={body['next_cursor']}"
    assert seen == ["refund", "ship-1", "ship-2", "ship_3", "shop"]


async def test_rendering_fills_the_contacts_decrypted_fields(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    conversation_id, _ = await inbox_world.inbound(team, phone=phone, name="Sara {{agent.name}}")
    content = (
        "Hi {{contact.name}} ({{ contact.phone }}, {{contact.email}}), {{agent.name}} from"
        " {{business.name}} here. {{order.id}} {{contact.name"
    )
    status, canned = await create(team.agent, "hi", content, "personal")
    assert status == 201, canned
    path = f"{BASE}/{canned['id']}/render"
    status, body, _ = await team.agent.request(
        "POST", path, json={"conversation_id": str(conversation_id)}
    )
    assert status == 200, body
    # A value that looks like a variable stays text; unknown variables stay; no e-mail -> "".
    assert body["text"] == (
        f"Hi Sara {{{{agent.name}}}} ({phone}, ), Agent from Acme Trading here."
        " {{order.id}} {{contact.name"
    )
    email_enc = inbox_world.cipher.encrypt(
        "sara@example.test", tenant_id=team.tenant_id, field="contacts.email"
    )
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE contacts SET email_enc = $2"
            " WHERE id = (SELECT contact_id FROM conversations WHERE id = $1)",
            conversation_id,
            email_enc,
        )
    status, body, _ = await team.agent.request(
        "POST", path, json={"conversation_id": str(conversation_id)}
    )
    assert "(" + phone + ", sara@example.test)" in body["text"]
    # Someone else's personal response is not theirs to render; viewers do not compose.
    assert (
        await team.agent2.request("POST", path, json={"conversation_id": str(conversation_id)})
    )[0] == 404
    assert (
        await team.viewer.request("POST", path, json={"conversation_id": str(conversation_id)})
    )[0] == 403
    status, body, _ = await team.agent.request(
        "POST", path, json={"conversation_id": str(uuid.uuid4())}
    )
    assert status == 404, body


async def test_another_tenants_responses_and_conversations_are_unknown(inbox_world: Any) -> None:
    mine, theirs = await inbox_world.team(), await inbox_world.team()
    status, their_canned = await create(theirs.admin, "secret", "Their text", "tenant")
    assert status == 201
    their_conversation, _ = await inbox_world.inbound(theirs, phone=inbox_world.fresh_phone())
    status, my_canned = await create(mine.admin, "mine", "Hello {{contact.name}}", "tenant")
    assert status == 201
    for who in ("owner", "admin", "agent"):
        person = mine.people[who]
        their_path = f"{BASE}/{their_canned['id']}"
        unknown_path = f"{BASE}/{uuid.uuid4()}"
        for method, suffix, body in (
            ("PATCH", "", {"content": "pwned"}),
            ("DELETE", "", None),
            ("POST", "/render", {"conversation_id": str(their_conversation)}),
        ):
            s1, b1, _ = await person.request(method, their_path + suffix, json=body)
            s2, b2, _ = await person.request(method, unknown_path + suffix, json=body)
            assert s1 == s2 == 404, (method, b1)
            assert b1["title"] == b2["title"]
        status, body, _ = await person.request(
            "POST",
            f"{BASE}/{my_canned['id']}/render",
            json={"conversation_id": str(their_conversation)},
        )
        assert status == 404, body
        assert "secret" not in [s for s, _ in await shortcuts(person)]
    assert await rows(inbox_world, theirs) == [("secret", None)]
    async with tenant_transaction(inbox_world.pool, theirs.tenant_id, readonly=True) as conn:
        content = await conn.fetchval("SELECT content FROM canned_responses")
    assert content == "Their text"
