"""Conversations through the gateway: list filters, search, keyset pages, messages, status,
snoozes, reopening, read, viewers, and isolation between tenants."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from multidict import MultiDict

from inbox import conversations_repository
from inbox.conversation_list import encode_cursor, list_filter
from majlis.db import tenant_transaction

CONVERSATIONS = "/api/v1/conversations"


def valid_phone(world: Any) -> str:
    """A fresh UAE mobile the phone library accepts (050 prefix), so national forms parse."""
    fresh: str = world.fresh_phone()
    return "+97150" + fresh[-7:]


async def row(world: Any, team: Any, conversation_id: uuid.UUID) -> Any:
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        return await conn.fetchrow(
            "SELECT status, controller, assigned_user_id, unread_count, snoozed_until,"
            " resolved_at, last_message_seq,"
            " (SELECT count(*) FROM conversation_labels l WHERE l.conversation_id = c.id) AS labels"
            " FROM conversations c WHERE id = $1",
            conversation_id,
        )


async def ids(browser: Any, query: str) -> list[str]:
    status, body, _ = await browser.request("GET", f"{CONVERSATIONS}?{query}")
    assert status == 200, body
    return [item["id"] for item in body["items"]]


async def test_list_filters_search_and_counts(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phones = [valid_phone(inbox_world) for _ in range(4)]
    names = ["Sara Al-Hashimi", "Omar", "Layla", "Khalid"]
    convs = [
        (await inbox_world.inbound(team, phone=p, name=n))[0]
        for p, n in zip(phones, names, strict=True)
    ]
    c1, c2, c3, c4 = (str(c) for c in convs)
    for cid, status in ((c2, "pending"), (c3, "snoozed"), (c4, "resolved")):
        code, body, _ = await team.agent.request(
            "POST", f"{CONVERSATIONS}/{cid}/status", json={"status": status}
        )
        assert code == 200, body
    code, body, _ = await team.owner.request(
        "POST", f"{CONVERSATIONS}/{c1}/assign", json={"user_id": str(team.user_ids["agent"])}
    )
    assert code == 200, body
    code, label, _ = await team.owner.request("POST", "/api/v1/labels", json={"name": "VIP"})
    assert code == 201, label
    code, body, _ = await team.agent.request(
        "PUT", f"{CONVERSATIONS}/{c1}/labels", json={"label_ids": [label["id"]]}
    )
    assert code == 200, body
    code, body, _ = await team.agent.request("POST", f"{CONVERSATIONS}/{c2}/read")
    assert (code, body["unread_count"]) == (200, 0), body

    status, body, _ = await team.viewer.request("GET", CONVERSATIONS)
    assert status == 200, body
    assert [i["id"] for i in body["items"]] == [c1]
    assert body["counts"] == {"open": 1, "pending": 1, "snoozed": 1, "resolved": 1}
    # An empty page still carries the tenant's counts (they ride on the page's rows otherwise).
    status, empty, _ = await team.viewer.request(
        "GET", f"{CONVERSATIONS}?status=open&assignee=unassigned"
    )
    assert status == 200, empty
    assert empty["items"] == []
    assert empty["counts"] == body["counts"]
    item = body["items"][0]
    assert item["contact"] == {"id": item["contact"]["id"], "name": names[0], "phone": phones[0]}
    assert item["status"] == "open"
    assert item["controller"] == "human"
    assert item["assigned_user_id"] == str(team.user_ids["agent"])
    assert item["labels"] == [label["id"]]
    assert item["window_open"] is True
    assert item["unread_count"] == 1
    assert item["number_id"] == str(team.number_id)

    agent = team.agent
    assert set(await ids(agent, "status=all")) == {c1, c2, c3, c4}
    assert await ids(agent, "status=pending") == [c2]
    assert await ids(agent, "status=resolved") == [c4]
    assert await ids(agent, "status=all&assignee=me") == [c1]
    assert await ids(team.agent2, "status=all&assignee=me") == []
    assert set(await ids(agent, "status=all&assignee=unassigned")) == {c2, c3, c4}
    assert await ids(agent, f"status=all&assignee={team.user_ids['agent']}") == [c1]
    assert await ids(agent, f"status=all&label={label['id']}") == [c1]
    assert len(await ids(agent, f"status=all&number={team.number_id}")) == 4
    assert await ids(agent, f"status=all&number={uuid.uuid4()}") == []
    assert set(await ids(agent, "status=all&unread=true")) == {c1, c3, c4}
    assert await ids(agent, f"status=all&contact={item['contact']['id']}") == [c1]
    # Search by blind index: names ignore case and spacing; phones in any usual form.
    assert await ids(agent, "status=all&q=%20%20sara%20%20%20AL-hashimi%20") == [c1]
    national = "0" + phones[1][4:]
    for form in (
        national,
        phones[1],
        phones[1][1:],
        f"{national[:3]} {national[3:6]} {national[6:]}",
    ):
        query = form.replace("+", "%2B").replace(" ", "%20")
        assert await ids(agent, f"status=all&q={query}") == [c2], form
    assert await ids(agent, "status=all&q=nobody") == []
    assert await ids(agent, "status=all&q=Oma") == []  # equality only, never a prefix scan

    for bad in ("status=closed", "assignee=someone", "label=1", "limit=0", "limit=101",
                "unread=yes", "cursor=abc", "colour=red", "number=x"):  # fmt: skip
        code, body, _ = await agent.request("GET", f"{CONVERSATIONS}?{bad}")
        assert code == 422, (bad, body)
        assert body["type"].endswith("/invalid-query-parameter")


async def test_keyset_pages_have_no_duplicates_or_gaps(inbox_world: Any) -> None:
    team = await inbox_world.team()
    base = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(7):
        # Pairs share a second: the id breaks ties in the keyset.
        await inbox_world.inbound(
            team, phone=inbox_world.fresh_phone(), sent_at=base - timedelta(seconds=i // 2)
        )
    # Conversations without any message yet (no date) come after all the others.
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        for _ in range(3):
            contact_id = await conn.fetchval(
                "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3) RETURNING id",
                team.tenant_id,
                uuid.uuid4(),
                uuid.uuid4().bytes * 2,
            )
            await conn.execute(
                "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status)"
                " VALUES ($1, $2, $3, $4, 'open')",
                team.tenant_id,
                uuid.uuid4(),
                contact_id,
                team.number_id,
            )
    status, full, _ = await team.agent.request("GET", f"{CONVERSATIONS}?status=all&limit=100")
    assert status == 200, full
    expected = [i["id"] for i in full["items"]]
    assert len(expected) == 10
    assert [i["last_message_at"] is None for i in full["items"]] == [False] * 7 + [True] * 3
    assert full["next_cursor"] is None
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "status=all&limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = await team.agent.request("GET", f"{CONVERSATIONS}?{query}")
        assert status == 200, page
        assert page["counts"]["open"] == 10
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    stamps = [i["last_message_at"] for i in full["items"][:7]]
    assert stamps == sorted(stamps, reverse=True)
    # A cursor someone edited is refused, not guessed at.
    status, page, _ = await team.agent.request("GET", f"{CONVERSATIONS}?status=all&limit=2")
    tampered = page["next_cursor"][:-3] + "zz!"
    status, body, _ = await team.agent.request("GET", f"{CONVERSATIONS}?cursor={tampered}")
    assert status == 422, body


async def test_messages_are_decrypted_newest_first(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    for text in ("one", "two", "three"):
        conversation_id, _ = await inbox_world.inbound(team, phone=phone, text=text)
    url = f"{CONVERSATIONS}/{conversation_id}/messages"
    status, page, _ = await team.viewer.request("GET", f"{url}?limit=2")
    assert status == 200, page
    assert [m["body"] for m in page["items"]] == [
        {"type": "text", "text": {"body": "three"}},
        {"type": "text", "text": {"body": "two"}},
    ]
    first = page["items"][0]
    assert (first["direction"], first["type"], first["status"]) == ("inbound", "text", "received")
    assert (first["sender_kind"], first["sender_user_id"]) == ("customer", None)
    status, rest, _ = await team.viewer.request(
        "GET", f"{url}?limit=2&before={page['next_cursor']}"
    )
    assert [m["body"]["text"]["body"] for m in rest["items"]] == ["one"]
    assert rest["next_cursor"] is None
    status, oldest, _ = await team.agent.request("GET", f"{url}?after=0&limit=1")
    assert oldest["items"][0]["body"]["text"]["body"] == "one"
    stored = await row(inbox_world, team, conversation_id)
    assert stored["unread_count"] == 3
    assert stored["last_message_seq"] == first["seq"]
    status, body, _ = await team.agent.request("GET", f"{url}?before=abc")
    assert status == 422, body
    status, body, _ = await team.agent.request("GET", f"{CONVERSATIONS}/{uuid.uuid4()}/messages")
    assert status == 404, body


async def test_the_reply_window_says_when_it_closes(inbox_world: Any) -> None:
    """Open: it closes 24 hours after the customer's last message, which moves it on. Closed:
    no time (only templates go). The list and the detail say the same."""
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    conversation_id, _ = await inbox_world.inbound(team, phone=phone, text="first")
    url = f"{CONVERSATIONS}/{conversation_id}"

    async def answers() -> tuple[dict[str, Any], dict[str, Any]]:
        status, detail, _ = await team.agent.request("GET", url)
        assert status == 200, detail
        status, page, _ = await team.agent.request("GET", f"{CONVERSATIONS}?status=all")
        assert status == 200, page
        [item] = [i for i in page["items"] if i["id"] == str(conversation_id)]
        return detail, item

    async def customer_wrote(ago: timedelta) -> None:
        async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
            await conn.execute(
                "UPDATE conversations SET last_customer_message_at = now() - $2::interval"
                " WHERE id = $1",
                conversation_id,
                ago,
            )

    for answer in await answers():
        last = datetime.fromisoformat(answer["last_customer_message_at"])
        assert answer["window_open"] is True
        assert datetime.fromisoformat(answer["window_closes_at"]) == last + timedelta(hours=24)
    await customer_wrote(timedelta(hours=23, minutes=59, seconds=30))
    for answer in await answers():
        closes = datetime.fromisoformat(answer["window_closes_at"])
        assert timedelta(0) < closes - datetime.now(UTC) <= timedelta(seconds=30)
    await customer_wrote(timedelta(hours=24))
    for answer in await answers():
        assert (answer["window_open"], answer["window_closes_at"]) == (False, None)

    await inbox_world.inbound(team, phone=phone, text="back again")  # opens it for 24 hours
    detail, _ = await answers()
    closes = datetime.fromisoformat(detail["window_closes_at"])
    assert closes - datetime.now(UTC) > timedelta(hours=23, minutes=59)


async def test_a_new_message_reopens_resolved_and_wakes_snoozed_or_pending(
    inbox_world: Any, events: Any
) -> None:
    team = await inbox_world.team()
    phone = inbox_world.fresh_phone()
    cid, _ = await inbox_world.inbound(team, phone=phone)
    await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        conversation_id=cid,
        change="created",
        actor_type="system",
    )
    url = f"{CONVERSATIONS}/{cid}/status"
    status, body, _ = await team.agent.request("POST", url, json={"status": "resolved"})
    assert (status, body["status"]) == (200, "resolved"), body
    assert (await row(inbox_world, team, cid))["resolved_at"] is not None
    again, _ = await inbox_world.inbound(team, phone=phone)
    assert again == cid  # one thread per customer and number, with its history
    stored = await row(inbox_world, team, cid)
    assert (stored["status"], stored["resolved_at"]) == ("open", None)
    await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        conversation_id=cid,
        change="status",
        status="open",
        actor_type="system",
    )

    for parked in ("snoozed", "pending"):
        status, body, _ = await team.agent.request("POST", url, json={"status": parked})
        assert (status, body["status"], body["snoozed_until"]) == (200, parked, None), body
        again, _ = await inbox_world.inbound(team, phone=phone)
        assert again == cid
        stored = await row(inbox_world, team, cid)
        assert (stored["status"], stored["snoozed_until"]) == ("open", None), parked
    status, body, _ = await team.agent.request("GET", f"{CONVERSATIONS}?status=all")
    assert [i["id"] for i in body["items"]] == [str(cid)]
    assert body["counts"] == {"open": 1, "pending": 0, "snoozed": 0, "resolved": 0}


async def test_timed_snooze_wakes_by_itself(inbox_world: Any, events: Any) -> None:
    team = await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    url = f"{CONVERSATIONS}/{cid}/status"
    now = datetime.now(UTC)
    for bad in (
        {"status": "snoozed", "snoozed_until": (now - timedelta(minutes=1)).isoformat()},
        {"status": "snoozed", "snoozed_until": (now + timedelta(days=400)).isoformat()},
        {"status": "open", "snoozed_until": (now + timedelta(hours=1)).isoformat()},
        {"status": "snoozed", "snoozed_until": "2030-01-01T00:00:00"},  # no time zone
        {"status": "closed"},
        {"status": "open", "extra": 1},
    ):
        status, body, _ = await team.agent.request("POST", url, json=bad)
        assert status == 422, (bad, body)
    assert (await row(inbox_world, team, cid))["status"] == "open"
    until = datetime.now(UTC) + timedelta(seconds=1.5)
    status, body, _ = await team.agent.request(
        "POST", url, json={"status": "snoozed", "snoozed_until": until.isoformat()}
    )
    assert (status, body["status"]) == (200, "snoozed"), body
    assert datetime.fromisoformat(body["snoozed_until"]) == until
    woken = await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        within=15,
        conversation_id=cid,
        change="status",
        actor_type="system",
    )
    assert woken["status"] == "open"
    stored = await row(inbox_world, team, cid)
    assert (stored["status"], stored["snoozed_until"]) == ("open", None)
    assert datetime.now(UTC) >= until


async def test_status_read_and_labels_are_published_and_audited(
    inbox_world: Any, events: Any
) -> None:
    team = await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    status, body, _ = await team.agent.request(
        "POST", f"{CONVERSATIONS}/{cid}/status", json={"status": "resolved"}
    )
    assert status == 200, body
    agent_id = team.user_ids["agent"]
    await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        conversation_id=cid,
        change="status",
        status="resolved",
        actor_type="user",
        actor_id=agent_id,
    )
    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.status_changed", target_id=cid
    )
    assert audit["actor_id"] == str(agent_id)
    assert audit["details"] == {"from": "open", "to": "resolved", "snoozed_until": None}
    status, body, _ = await team.agent2.request("POST", f"{CONVERSATIONS}/{cid}/read")
    assert (status, body["unread_count"]) == (200, 0), body
    await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        conversation_id=cid,
        change="read",
        actor_id=team.user_ids["agent2"],
    )
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        seen = await conn.fetchval(
            "SELECT agent_last_seen_at FROM conversations WHERE id = $1", cid
        )
    assert seen is not None
    status, label, _ = await team.admin.request("POST", "/api/v1/labels", json={"name": "Hot"})
    assert status == 201, label
    status, body, _ = await team.agent.request(
        "PUT", f"{CONVERSATIONS}/{cid}/labels", json={"label_ids": [label["id"]]}
    )
    assert status == 200, body
    await events.wait(
        team.tenant_id,
        "inbox.conversation.updated",
        conversation_id=cid,
        change="labels",
        actor_id=agent_id,
    )
    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversation.labels_changed", target_id=cid
    )
    assert audit["details"] == {"added": [label["id"]], "removed": []}


async def test_viewer_reads_but_changes_nothing(inbox_world: Any) -> None:
    team = await inbox_world.team()
    cid, _ = await inbox_world.inbound(team, phone=inbox_world.fresh_phone())
    before = await row(inbox_world, team, cid)
    for path in (CONVERSATIONS, f"{CONVERSATIONS}/{cid}", f"{CONVERSATIONS}/{cid}/messages"):
        status, body, _ = await team.viewer.request("GET", path)
        assert status == 200, (path, body)
    for method, suffix, payload in (
        ("POST", "status", {"status": "resolved"}),
        ("POST", "read", None),
        ("POST", "takeover", None),
        ("POST", "handback", None),
        ("POST", "assign", {"user_id": str(team.user_ids["viewer"])}),
        ("PUT", "labels", {"label_ids": []}),
    ):
        status, body, _ = await team.viewer.request(
            method, f"{CONVERSATIONS}/{cid}/{suffix}", json=payload
        )
        assert status == 403, (suffix, body)
    assert await row(inbox_world, team, cid) == before


async def test_another_tenants_conversation_is_not_found_and_unchanged(inbox_world: Any) -> None:
    team_a, team_b = await inbox_world.team(), await inbox_world.team()
    cid, _ = await inbox_world.inbound(team_b, phone=inbox_world.fresh_phone())
    await inbox_world.inbound(team_a, phone=inbox_world.fresh_phone())
    before = await row(inbox_world, team_b, cid)
    status, label, _ = await team_a.owner.request("POST", "/api/v1/labels", json={"name": "a"})
    assert status == 201, label
    for who in (team_a.agent, team_a.owner, team_a.viewer):
        for path in (f"{CONVERSATIONS}/{cid}", f"{CONVERSATIONS}/{cid}/messages"):
            status, body, _ = await who.request("GET", path)
            assert status == 404, (path, body)
    for who in (team_a.agent, team_a.owner):
        for method, suffix, payload in (
            ("POST", "status", {"status": "resolved"}),
            ("POST", "read", None),
            ("POST", "takeover", {"force": True} if who is team_a.owner else None),
            ("POST", "handback", None),
            ("POST", "assign", {"user_id": str(team_a.user_ids["agent"])}),
            ("PUT", "labels", {"label_ids": [label["id"]]}),
        ):
            status, body, _ = await who.request(
                method, f"{CONVERSATIONS}/{cid}/{suffix}", json=payload
            )
            assert status == 404, (suffix, body)
            assert body["title"] == "Conversation not found"
    async with tenant_transaction(inbox_world.pool, team_b.tenant_id) as conn:
        contact_id = await conn.fetchval("SELECT contact_id FROM conversations WHERE id = $1", cid)
    assert await ids(team_a.owner, f"status=all&contact={contact_id}") == []
    assert await ids(team_a.owner, f"status=all&number={team_b.number_id}") == []
    assert len(await ids(team_a.owner, "status=all")) == 1
    assert await row(inbox_world, team_b, cid) == before


async def test_default_list_query_walks_the_activity_index(
    inbox_world: Any, owner_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()
    number_id = uuid.uuid4()
    async with tenant_transaction(inbox_world.pool, tenant_id, "owner") as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, '1', '+97143000000', '\\x00')",
            tenant_id,
            number_id,
            str(uuid.uuid4().int)[:15],
        )
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, phone_bidx)"
            " SELECT $1, gen_random_uuid(), decode(md5($1::uuid::text || i), 'hex')"
            " FROM generate_series(1, 10000) AS i",
            tenant_id,
        )
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status,"
            " last_message_at) SELECT $1, gen_random_uuid(), id, $2,"
            " (ARRAY['open', 'open', 'pending', 'resolved'])[1 + (random() * 3)::int],"
            " now() - random() * interval '30 days' FROM contacts",
            tenant_id,
            number_id,
        )
    await owner_pool.execute("ANALYZE conversations, contacts, conversation_labels")
    sql = conversations_repository.list_sql(["c.status = 'open'"], 26)
    async with tenant_transaction(inbox_world.pool, tenant_id, "agent", readonly=True) as conn:
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}")
        rows = await conn.fetch(sql)
    document = json.loads(plan) if isinstance(plan, str) else plan
    nodes = list(plan_nodes(document[0]["Plan"]))
    scans = {n["Relation Name"]: n for n in nodes if "Relation Name" in n}
    assert scans["conversations"]["Node Type"] == "Index Scan", nodes
    assert scans["conversations"]["Index Name"] == "conversations_tenant_activity_idx", nodes
    assert scans["contacts"]["Node Type"] != "Seq Scan", nodes
    # The index gives the order: at most the page itself is ever sorted, never the matches.
    assert all(n["Plan Rows"] <= 26 for n in nodes if n["Node Type"] == "Sort"), nodes
    assert len(rows) == 26
    # A page deep in the list (as an export reads it, page after page) starts where the
    # cursor points: the index is entered there, not read again from the top.
    async with tenant_transaction(inbox_world.pool, tenant_id, "agent", readonly=True) as conn:
        deep = await conn.fetchrow(
            "SELECT last_message_at, id FROM conversations c WHERE status = 'open'"
            " ORDER BY c.last_message_at DESC NULLS LAST, c.id DESC OFFSET 4000 LIMIT 1"
        )
        assert deep is not None
        flt, _ = list_filter(
            MultiDict({"cursor": encode_cursor(deep["last_message_at"], deep["id"])}),
            caller_id=uuid.uuid4(), tenant_id=tenant_id, indexer=inbox_world.deps.indexer,
            region=inbox_world.deps.phone_region,
        )  # fmt: skip
        sql = conversations_repository.list_sql(flt.where, 26, flt.after_dated)
        analysed = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *flt.params)
        page = await conn.fetch(sql, *flt.params)
        expected = await conn.fetch(
            "SELECT id FROM conversations c WHERE status = 'open'"
            " ORDER BY c.last_message_at DESC NULLS LAST, c.id DESC OFFSET 4001 LIMIT 26"
        )
    assert [r["id"] for r in page] == [r["id"] for r in expected]
    document = json.loads(analysed) if isinstance(analysed, str) else analysed
    read = sum(
        (n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
        for n in plan_nodes(document[0]["Plan"])
        if n.get("Relation Name") == "conversations"
    )
    # The page, the statuses skipped on the way (half the rows are not open) and the
    # undated range: a few dozen rows, where the cursor's OR read the 4,000 before it.
    assert read < 200, (read, document)


def plan_nodes(node: dict[str, Any]) -> Any:
    """The plan's nodes, without the per-row label subplans (a handful of rows each)."""
    yield node
    for child in node.get("Plans", []):
        if child.get("Parent Relationship") != "SubPlan":
            yield from plan_nodes(child)


BULK = f"{CONVERSATIONS}/bulk"


async def test_bulk_changes_status_assignment_and_labels_of_many_at_once(
    inbox_world: Any, events: Any
) -> None:
    team = await inbox_world.team()
    c1, c2, c3 = [
        (await inbox_world.inbound(team, phone=inbox_world.fresh_phone()))[0] for _ in range(3)
    ]
    status, vip, _ = await team.owner.request("POST", "/api/v1/labels", json={"name": "VIP"})
    assert status == 201, vip
    status, late, _ = await team.owner.request("POST", "/api/v1/labels", json={"name": "Late"})
    assert status == 201, late
    status, body, _ = await team.agent.request(
        "PUT", f"{CONVERSATIONS}/{c1}/labels", json={"label_ids": [late["id"]]}
    )
    assert status == 200, body

    agent = str(team.user_ids["agent"])
    status, body, _ = await team.owner.request(
        "POST",
        BULK,
        json={
            "conversation_ids": [str(c2), str(c1)],
            "assign": {"user_id": agent},
            "status": {"status": "pending"},
            "add_label_ids": [vip["id"], late["id"]],
        },
    )
    assert status == 200, body
    assert [i["id"] for i in body["items"]] == [str(c2), str(c1)]  # the order given
    for item in body["items"]:
        assert (item["status"], item["assigned_user_id"]) == ("pending", agent)
    labels = {i["id"]: i["labels"] for i in body["items"]}
    # c1 kept its label first; c2's two came in one change (same time: ordered by id).
    assert labels[str(c1)] == [late["id"], vip["id"]]
    assert sorted(labels[str(c2)]) == sorted([vip["id"], late["id"]])
    assert (await row(inbox_world, team, c3))["status"] == "open"  # not asked: unchanged
    # Each conversation's change is published and audited as if made on its own.
    for cid in (c1, c2):
        await events.wait(
            team.tenant_id, "inbox.conversation.updated", conversation_id=cid, change="status",
            status="pending", actor_id=team.user_ids["owner"],
        )  # fmt: skip
        audit = await events.wait(
            team.tenant_id, "inbox.audit.recorded", action="conversation.status_changed",
            target_id=cid,
        )  # fmt: skip
        assert audit["details"]["to"] == "pending"
    # An agent resolves many of its own at once; a second time changes nothing more.
    for _ in range(2):
        status, body, _ = await team.agent.request(
            "POST",
            BULK,
            json={"conversation_ids": [str(c1), str(c2)], "status": {"status": "resolved"}},
        )
        assert status == 200, body
        assert {i["status"] for i in body["items"]} == {"resolved"}


async def test_a_bulk_change_refused_for_one_conversation_changes_none(
    inbox_world: Any,
) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    mine = [(await inbox_world.inbound(team, phone=inbox_world.fresh_phone()))[0] for _ in range(2)]
    theirs, _ = await inbox_world.inbound(other, phone=inbox_world.fresh_phone())
    status, body, _ = await team.owner.request(
        "POST", f"{CONVERSATIONS}/{mine[1]}/assign", json={"user_id": str(team.user_ids["agent2"])}
    )
    assert status == 200, body
    before = [await row(inbox_world, team, cid) for cid in mine]
    their_before = await row(inbox_world, other, theirs)
    ids_ = [str(mine[0]), str(mine[1])]

    # Another tenant's id is not found, whoever asks: nothing changes on either side.
    status, body, _ = await team.owner.request(
        "POST",
        BULK,
        json={"conversation_ids": [*ids_, str(theirs)], "status": {"status": "resolved"}},
    )
    assert (status, body["title"], body["conversation_id"]) == (
        404, "Conversation not found", str(theirs),
    ), body  # fmt: skip
    # An agent may not take a teammate's conversation: refused, nothing changed.
    status, body, _ = await team.agent.request(
        "POST",
        BULK,
        json={"conversation_ids": ids_, "assign": {"user_id": str(team.user_ids["agent"])},
              "status": {"status": "resolved"}},
    )  # fmt: skip
    assert (status, body["type"].rsplit("/", 1)[-1], body["conversation_id"]) == (
        409, "assigned-to-someone-else", str(mine[1]),
    ), body  # fmt: skip
    status, body, _ = await team.agent.request(
        "POST", BULK, json={"conversation_ids": ids_, "add_label_ids": [str(uuid.uuid4())]}
    )
    assert (status, body["type"].rsplit("/", 1)[-1]) == (422, "unknown-label"), body
    # Viewers change nothing; malformed bodies are refused before anything is read.
    status, body, _ = await team.viewer.request(
        "POST", BULK, json={"conversation_ids": ids_, "status": {"status": "resolved"}}
    )
    assert status == 403, body
    for bad in (
        {"conversation_ids": ids_},  # no change asked
        {"conversation_ids": [], "status": {"status": "open"}},
        {"conversation_ids": [ids_[0], ids_[0]], "status": {"status": "open"}},
        {"conversation_ids": [str(uuid.uuid4()) for _ in range(101)], "status": {"status": "open"}},
        {"conversation_ids": ids_, "status": {"status": "open"}, "delete": True},
        {
            "conversation_ids": ids_,
            "status": {"status": "open", "snoozed_until": "2030-01-01T00:00:00Z"},
        },
        {"conversation_ids": ids_, "add_label_ids": []},
    ):
        status, body, _ = await team.owner.request("POST", BULK, json=bad)
        assert status == 422, (bad, body)
    assert [await row(inbox_world, team, cid) for cid in mine] == before
    assert await row(inbox_world, other, theirs) == their_before


EXPORT = f"{CONVERSATIONS}/export.csv"


def neutralised(cell: str) -> str:
    return "'" + cell if cell.startswith(("=", "+", "-", "@")) else cell


def _exported(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # a BOM: spreadsheets read Arabic as UTF-8
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_export_is_one_row_per_conversation_filtered_named_and_audited(
    inbox_world: Any, events: Any
) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    phones = [valid_phone(inbox_world) for _ in range(3)]
    names = ['=HYPERLINK("http://x")', "ليلى", "Omar"]
    c1, c2, c3 = [
        (await inbox_world.inbound(team, phone=p, name=n))[0]
        for p, n in zip(phones, names, strict=True)
    ]
    await inbox_world.inbound(other, phone=valid_phone(inbox_world), name="Not yours")
    status, vip, _ = await team.owner.request("POST", "/api/v1/labels", json={"name": "VIP"})
    assert status == 201, vip
    agent = str(team.user_ids["agent"])
    status, body, _ = await team.owner.request(
        "POST",
        f"{CONVERSATIONS}/bulk",
        json={"conversation_ids": [str(c1), str(c2)], "assign": {"user_id": agent},
              "add_label_ids": [vip["id"]]},
    )  # fmt: skip
    assert status == 200, body
    status, body, _ = await team.owner.request(
        "POST", f"{CONVERSATIONS}/{c3}/status", json={"status": "resolved"}
    )
    assert status == 200, body

    for who in (team.agent, team.viewer):
        status, body, _ = await who.request("GET", EXPORT)
        assert status == 403, body
    status, text, response = await team.admin.request("GET", f"{EXPORT}?status=all")
    assert status == 200, text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="conversations.csv"'
    rows = _exported(text)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {str(c1), str(c2), str(c3)}  # this tenant's only
    first = by_id[str(c1)]
    assert first["contact_name"] == "'" + names[0]  # a formula comes out as text
    assert first["contact_phone"] == "'" + phones[0]  # "+971...": neutralised too
    assert (first["status"], first["labels"]) == ("open", "VIP")
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        person = await conn.fetchval("SELECT name FROM users WHERE id = $1", uuid.UUID(agent))
        number = await conn.fetchval(
            "SELECT display_number FROM whatsapp_numbers WHERE id = $1", team.number_id
        )
    assert (first["assignee"], first["number"]) == (person, neutralised(number))  # by name
    assert by_id[str(c2)]["contact_name"] == "ليلى"
    assert by_id[str(c3)]["status"] == "resolved"
    assert by_id[str(c3)]["assignee"] == ""
    assert datetime.fromisoformat(first["window_closes_at"]) > datetime.now(UTC)

    # The list's filters select the rows: open ones by default, a label, a person.
    status, text, _ = await team.owner.request("GET", EXPORT)
    assert {r["id"] for r in _exported(text)} == {str(c1), str(c2)}
    status, text, _ = await team.owner.request("GET", f"{EXPORT}?status=all&label={vip['id']}")
    assert {r["id"] for r in _exported(text)} == {str(c1), str(c2)}
    status, text, _ = await team.owner.request("GET", f"{EXPORT}?status=resolved")
    assert [r["id"] for r in _exported(text)] == [str(c3)]
    for bad in ("status=closed", "limit=5", "cursor=abc", "whatever=1", "label=x"):
        status, body, _ = await team.owner.request("GET", f"{EXPORT}?{bad}")
        assert status == 422, (bad, body)

    audit = await events.wait(
        team.tenant_id, "inbox.audit.recorded", action="conversations.exported",
        actor_id=team.user_ids["admin"],
    )  # fmt: skip
    assert audit["details"] == {"rows": 3, "complete": True, "filters": {"status": "all"}}


async def test_export_pages_through_a_large_inbox(
    inbox_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = await inbox_world.team()
    cids = {
        str((await inbox_world.inbound(team, phone=valid_phone(inbox_world)))[0]) for _ in range(7)
    }
    monkeypatch.setattr("inbox.conversations_csv.PAGE_ROWS", 3)  # the inbox runs in-process
    status, text, _ = await team.owner.request("GET", EXPORT)
    assert status == 200, text
    rows = _exported(text)
    assert sorted(r["id"] for r in rows) == sorted(cids)  # every one, once
    stamps = [r["last_message_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)  # newest activity first, across pages
