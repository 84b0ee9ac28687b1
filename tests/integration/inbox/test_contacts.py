"""Contacts (CRM) through the gateway: CRUD, search, tags, attributes, consent, delete, merge."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import orjson

from majlis.db import tenant_transaction


def valid_phone() -> str:
    """A UAE mobile number that phonenumbers accepts (05x prefixes 50-58 are not all valid)."""
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)


def national(e164: str) -> str:
    """A UAE number as people write it at home: 05x xxx xxxx."""
    return "0" + e164.removeprefix("+971")


async def create(team: Any, **fields: Any) -> dict[str, Any]:
    status, body, _ = await team.agent.request("POST", "/api/v1/contacts", json=fields)
    assert status == 201, body
    return dict(body)


async def test_create_read_update_and_search_by_blind_index(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phone = valid_phone()
    contact = await create(
        team, phone=national(phone), name="  Sara   Al-Hashimi ", email="Sara@Example.TEST",
        tags=[" VIP ", "vip", "Wholesale"], marketing="opted_in",
    )  # fmt: skip
    assert contact["phone"] == phone  # stored in E.164 whatever form it came in
    assert contact["name"] == "Sara Al-Hashimi"
    assert contact["tags"] == ["vip", "wholesale"]
    assert contact["consent"]["marketing"] == "opted_in"
    assert contact["deleted_at"] is None
    await create(team, phone=valid_phone(), name="Other Person")

    async def search(q: str) -> list[str]:
        status, body, _ = await team.viewer.request("GET", f"/api/v1/contacts?q={q}")
        assert status == 200, body
        return [item["id"] for item in body["items"]]

    assert await search(phone.replace("+", "%2B")) == [contact["id"]]
    assert await search(national(phone)) == [contact["id"]]
    assert await search(phone.removeprefix("+")) == [contact["id"]]
    assert await search("sara%20al-hashimi") == [contact["id"]]
    assert await search("SARA%20AL-HASHIMI") == [contact["id"]]
    assert await search("sara%40example.test") == [contact["id"]]
    assert await search("sara") == []  # equality only: a blind index has no prefixes

    status, body, _ = await team.agent.request(
        "PATCH", f"/api/v1/contacts/{contact['id']}", json={"name": "Sara H", "email": None}
    )
    assert status == 200, body
    assert (body["name"], body["email"]) == ("Sara H", None)
    assert body["tags"] == ["vip", "wholesale"]  # untouched fields stay
    status, body, _ = await team.viewer.request("GET", f"/api/v1/contacts/{contact['id']}")
    assert status == 200
    assert body["name"] == "Sara H"
    assert await search("sara%20h") == [contact["id"]]
    assert await search("sara%40example.test") == []


async def test_invalid_and_duplicate_phone_numbers(inbox_world: Any) -> None:
    team = await inbox_world.team()
    phone = valid_phone()
    first = await create(team, phone=phone)
    status, body, _ = await team.agent.request(
        "POST", "/api/v1/contacts", json={"phone": national(phone), "name": "Again"}
    )
    assert status == 409, body
    assert body["type"].endswith("/contact-exists")
    assert body["contact_id"] == first["id"]
    status, body, _ = await team.agent.request(
        "POST", "/api/v1/contacts", json={"phone": "+97150123"}
    )
    assert status == 422
    assert "+97150123" not in str(body)
    status, body, _ = await team.agent.request("POST", "/api/v1/contacts", json={"name": "X"})
    assert status == 422, body
    status, body, _ = await team.agent.request(
        "POST", "/api/v1/contacts", json={"phone": phone, "nickname": "x"}
    )
    assert status == 422, body
    status, body, _ = await team.viewer.request(
        "POST", "/api/v1/contacts", json={"phone": valid_phone()}
    )
    assert status == 403, body
    other = await create(team, phone=valid_phone())
    status, body, _ = await team.agent.request(
        "PATCH", f"/api/v1/contacts/{other['id']}", json={"phone": national(phone)}
    )
    assert status == 409
    assert body["contact_id"] == first["id"]
    for query in ("limit=0", "limit=101", "limit=x", "cursor=nope", "deleted=maybe", "sort=x"):
        status, body, _ = await team.agent.request("GET", f"/api/v1/contacts?{query}")
        assert status == 422, (query, body)


async def test_pages_and_tags(inbox_world: Any) -> None:
    team = await inbox_world.team()
    made = [await create(team, phone=valid_phone()) for _ in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        status, body, _ = await team.agent.request("GET", f"/api/v1/contacts?limit=2{cursor}")
        assert status == 200, body
        seen += [item["id"] for item in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = "&cursor=" + body["next_cursor"]
    assert seen == [c["id"] for c in reversed(made)]  # newest first, each once

    target = made[1]["id"]
    status, body, _ = await team.agent.request(
        "PUT", f"/api/v1/contacts/{target}/tags", json={"tags": ["VIP", " gold "]}
    )
    assert status == 200
    assert body["tags"] == ["gold", "vip"]
    status, body, _ = await team.agent.request("GET", "/api/v1/contacts?tag=VIP")
    assert [item["id"] for item in body["items"]] == [target]
    for bad in (["x" * 65], [""], [f"t{i}" for i in range(51)]):
        status, body, _ = await team.agent.request(
            "PUT", f"/api/v1/contacts/{target}/tags", json={"tags": bad}
        )
        assert status == 422, body
    status, body, _ = await team.viewer.request(
        "PUT", f"/api/v1/contacts/{target}/tags", json={"tags": []}
    )
    assert status == 403


async def test_custom_attributes_are_validated_against_the_schema(inbox_world: Any) -> None:
    team = await inbox_world.team()
    for definition in (
        {"key": "city", "label": "City", "type": "list", "options": ["Dubai", "Sharjah"]},
        {"key": "orders", "label": "Orders", "type": "number"},
        {"key": "vip_since", "label": "VIP since", "type": "date"},
        {"key": "wholesale", "label": "Wholesale", "type": "boolean"},
        {"key": "notes", "label": "Notes", "type": "text"},
    ):
        status, body, _ = await team.admin.request(
            "POST", "/api/v1/contact-attributes", json=definition
        )
        assert status == 201, body
    status, body, _ = await team.admin.request(
        "POST", "/api/v1/contact-attributes", json={"key": "city", "label": "C", "type": "text"}
    )
    assert status == 409, body
    status, body, _ = await team.agent.request(
        "POST", "/api/v1/contact-attributes", json={"key": "x", "label": "X", "type": "text"}
    )
    assert status == 403, body
    status, body, _ = await team.admin.request(
        "POST", "/api/v1/contact-attributes", json={"key": "tier", "label": "T", "type": "list"}
    )
    assert status == 422, body

    good = {"city": "Dubai", "orders": 3, "vip_since": "2024-02-29", "wholesale": True}
    contact = await create(team, phone=valid_phone(), attributes=good)
    assert contact["attributes"] == good
    for bad in (
        {"unknown": "x"}, {"city": "Paris"}, {"orders": "three"}, {"orders": True},
        {"vip_since": "2023-02-29"}, {"vip_since": "29/02/2024"}, {"wholesale": "yes"},
        {"notes": "x" * 1001},
    ):  # fmt: skip
        status, body, _ = await team.agent.request(
            "PATCH", f"/api/v1/contacts/{contact['id']}", json={"attributes": bad}
        )
        assert status == 422, (bad, body)
        assert body["type"].endswith("/invalid-attribute")
    status, body, _ = await team.agent.request(
        "PATCH", f"/api/v1/contacts/{contact['id']}",
        json={"attributes": {"orders": 4, "city": None, "notes": "prefers Arabic"}},
    )  # fmt: skip
    assert status == 200, body
    assert body["attributes"] == {
        "orders": 4, "vip_since": "2024-02-29", "wholesale": True, "notes": "prefers Arabic"
    }  # fmt: skip

    status, body, _ = await team.admin.request(
        "PATCH", "/api/v1/contact-attributes/orders", json={"type": "text"}
    )
    assert status == 422, body  # the type never changes
    status, _, _ = await team.admin.request("DELETE", "/api/v1/contact-attributes/wholesale")
    assert status == 204
    status, body, _ = await team.viewer.request("GET", f"/api/v1/contacts/{contact['id']}")
    assert "wholesale" not in body["attributes"]
    status, body, _ = await team.viewer.request("GET", "/api/v1/contact-attributes")
    assert [d["key"] for d in body["items"]] == ["city", "notes", "orders", "vip_since"]


async def test_consent(inbox_world: Any) -> None:
    team = await inbox_world.team()
    contact = await create(team, phone=valid_phone())
    assert contact["consent"] == {
        "marketing": "unknown", "processing_restricted": False, "updated_at": None
    }  # fmt: skip
    path = f"/api/v1/contacts/{contact['id']}/consent"
    status, body, _ = await team.agent.request(
        "PUT", path, json={"marketing": "opted_out", "processing_restricted": True}
    )
    assert status == 200, body
    assert (body["marketing"], body["processing_restricted"]) == ("opted_out", True)
    assert body["updated_at"] is not None
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT marketing_opt_in, marketing_opt_out, processing_restricted,"
            " consent_updated_at FROM contacts WHERE id = $1",
            uuid.UUID(contact["id"]),
        )
    assert row is not None
    assert (row["marketing_opt_in"], row["marketing_opt_out"]) == (False, True)
    assert row["processing_restricted"]
    assert row["consent_updated_at"] is not None
    status, body, _ = await team.agent.request("PUT", path, json={"marketing": "maybe"})
    assert status == 422, body
    status, body, _ = await team.viewer.request(
        "PUT", path, json={"marketing": "opted_in", "processing_restricted": False}
    )
    assert status == 403, body


async def test_soft_delete_hides_and_restore_brings_back(inbox_world: Any) -> None:
    team = await inbox_world.team()
    contact = await create(team, phone=valid_phone())
    path = f"/api/v1/contacts/{contact['id']}"
    status, _, _ = await team.agent.request("DELETE", path)
    assert status == 403
    status, _, _ = await team.admin.request("DELETE", path)
    assert status == 204
    status, _, _ = await team.agent.request("GET", path)
    assert status == 404
    status, body, _ = await team.agent.request("GET", "/api/v1/contacts")
    assert contact["id"] not in [item["id"] for item in body["items"]]
    status, _, _ = await team.agent.request("GET", "/api/v1/contacts?deleted=true")
    assert status == 403
    status, body, _ = await team.owner.request("GET", "/api/v1/contacts?deleted=true")
    assert [item["id"] for item in body["items"]] == [contact["id"]]
    assert body["items"][0]["deleted_at"] is not None
    status, _, _ = await team.agent.request("POST", f"{path}/restore")
    assert status == 403
    status, body, _ = await team.owner.request("POST", f"{path}/restore")
    assert status == 200
    assert body["deleted_at"] is None
    status, body, _ = await team.owner.request("POST", f"{path}/restore")
    assert status == 409, body
    status, _, _ = await team.agent.request("GET", path)
    assert status == 200
    # Past the restore window (the purge has not run yet): gone for good, 410.
    await team.admin.request("DELETE", path)
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE contacts SET deleted_at = now() - interval '31 days' WHERE id = $1",
            uuid.UUID(contact["id"]),
        )
    status, body, _ = await team.owner.request("POST", f"{path}/restore")
    assert status == 410, body


async def test_merge_moves_conversations_tags_and_fills_gaps(inbox_world: Any) -> None:
    team = await inbox_world.team()
    target_phone, source_phone = valid_phone(), valid_phone()
    target_conv, _ = await inbox_world.inbound(team, phone=target_phone, text="one")
    source_conv, moved_msg = await inbox_world.inbound(team, phone=source_phone, text="two")
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        target_id = await conn.fetchval(
            "SELECT contact_id FROM conversations WHERE id = $1", target_conv
        )
        source_id = await conn.fetchval(
            "SELECT contact_id FROM conversations WHERE id = $1", source_conv
        )
        # An older, resolved conversation of the source moves over as history.
        old_conv = uuid.uuid4()
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status)"
            " VALUES ($1, $2, $3, $4, 'resolved')",
            team.tenant_id, old_conv, source_id, team.number_id,
        )  # fmt: skip
    await team.agent.request(
        "PATCH", f"/api/v1/contacts/{target_id}",
        json={"tags": ["vip"], "marketing": "opted_in"},
    )  # fmt: skip
    await team.agent.request(
        "PATCH", f"/api/v1/contacts/{source_id}",
        json={"tags": ["gold", "vip"], "email": "two@example.test", "marketing": "opted_out"},
    )  # fmt: skip

    status, body, _ = await team.viewer.request(
        "POST", f"/api/v1/contacts/{target_id}/merge", json={"source_id": str(source_id)}
    )
    assert status == 403, body
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/contacts/{target_id}/merge", json={"source_id": str(target_id)}
    )
    assert status == 422, body
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/contacts/{target_id}/merge", json={"source_id": str(source_id)}
    )
    assert status == 200, body
    assert body["phone"] == target_phone
    assert body["email"] == "two@example.test"
    assert body["tags"] == ["gold", "vip"]
    assert body["consent"]["marketing"] == "opted_out"  # an opt-out wins
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        gone = await conn.fetchval("SELECT count(*) FROM contacts WHERE id = $1", source_id)
        conversations = await conn.fetch(
            "SELECT id, status FROM conversations WHERE contact_id = $1 ORDER BY status",
            target_id,
        )
        message_conv = await conn.fetchval(
            "SELECT conversation_id FROM messages WHERE id = $1", moved_msg
        )
    assert gone == 0
    # Both were open on the same number: the source's messages joined the target's one.
    assert [(r["id"], r["status"]) for r in conversations] == [
        (target_conv, "open"), (old_conv, "resolved")
    ]  # fmt: skip
    assert message_conv == target_conv
    status, body, _ = await team.agent.request(
        "GET", f"/api/v1/contacts?q={national(source_phone)}"
    )
    assert body["items"] == []  # the source's phone stays with nobody: the target has one


async def test_merge_gives_the_sources_campaign_rows_to_the_target(inbox_world: Any) -> None:
    """The campaign report names the contact each row was sent to: after a merge, the rows
    of the merged-away contact name the one that absorbed it; other contacts' stay theirs."""
    team = await inbox_world.team()
    ids = []
    for phone in (valid_phone(), valid_phone(), valid_phone()):
        conversation_id, _ = await inbox_world.inbound(team, phone=phone, text="hi")
        async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
            ids.append(
                await conn.fetchval(
                    "SELECT contact_id FROM conversations WHERE id = $1", conversation_id
                )
            )
    target_id, source_id, bystander_id = ids
    campaign_id = await inbox_world.campaign(
        team, valid_phone(), valid_phone(), valid_phone(),
        contact_ids=[source_id, target_id, bystander_id],
    )  # fmt: skip
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/contacts/{target_id}/merge", json={"source_id": str(source_id)}
    )
    assert status == 200, body
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        named = await conn.fetch(
            "SELECT contact_id, state, sent_at IS NOT NULL AS sent FROM campaign_recipients"
            " WHERE campaign_id = $1 ORDER BY seq",
            campaign_id,
        )
    assert [tuple(r) for r in named] == [
        (target_id, "delivered", True), (target_id, "delivered", True),
        (bystander_id, "delivered", True),
    ]  # fmt: skip


async def test_merge_keeps_history_seqs_apart(inbox_world: Any) -> None:
    """Two conversations' history messages of the same moment may carry the same seq (it comes
    from their time): after the merge each has a seq of its own, and paging one message at a
    time reads every message once."""
    team = await inbox_world.team()
    target_conv, _ = await inbox_world.inbound(team, phone=valid_phone(), text="one")
    source_conv, _ = await inbox_world.inbound(team, phone=valid_phone(), text="two")
    seq = -(2**53 - 1) + (1_700_000_000 << 16) + 0x0100
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        ids = {}
        for conv in (target_conv, source_conv):
            ids[conv] = await conn.fetchval("SELECT contact_id FROM conversations WHERE id = $1",
                                            conv)  # fmt: skip
            for n in range(2):  # the second is already one up, so the clash moves two up
                await conn.execute(
                    "INSERT INTO messages (tenant_id, id, conversation_id, direction, wamid,"
                    " type, body_enc, status, sender_kind, created_at, seq) SELECT tenant_id,"
                    " $1, conversation_id, 'inbound', $2, type, body_enc, 'received',"
                    " 'customer', now() - interval '30 days', $3 FROM messages"
                    " WHERE conversation_id = $4 AND seq > 0",
                    uuid.uuid4(), f"wamid.hist.{uuid.uuid4().hex}", seq + n, conv,
                )  # fmt: skip
        before = await conn.fetchval("SELECT count(*) FROM messages WHERE seq < 0")
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/contacts/{ids[target_conv]}/merge",
        json={"source_id": str(ids[source_conv])},
    )  # fmt: skip
    assert status == 200, body
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT id, seq FROM messages WHERE conversation_id = $1 ORDER BY seq", target_conv
        )
    assert before == 4
    seqs = [row["seq"] for row in rows]
    assert len(seqs) == 6
    assert len(set(seqs)) == 6
    assert seqs[:4] == [seq, seq + 1, seq + 2, seq + 3]  # the moment kept, one seq each
    read: list[str] = []
    path, cursor = f"/api/v1/conversations/{target_conv}/messages?limit=1", None
    while True:
        status, page, _ = await team.agent.request(
            "GET", path + (f"&before={cursor}" if cursor else "")
        )
        assert status == 200, page
        read += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(read) == sorted(str(row["id"]) for row in rows)


async def _leads(world: Any, team: Any) -> list[tuple[Any, ...]]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        rows = await conn.fetch("SELECT id, contact_id, conversation_id, stage, data_enc"
                                " FROM leads")  # fmt: skip
    return [
        (row["id"], row["contact_id"], row["conversation_id"], row["stage"],
         orjson.loads(world.deps.cipher.decrypt(row["data_enc"], tenant_id=team.tenant_id,
                                                field="leads.data")))
        for row in rows
    ]  # fmt: skip


async def _two_contacts(world: Any, team: Any) -> tuple[Any, Any, Any, Any]:
    """(target contact, its open conversation, source contact, its open conversation)."""
    target_conv, _ = await world.inbound(team, phone=valid_phone(), text="one")
    source_conv, _ = await world.inbound(team, phone=valid_phone(), text="two")
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        contacts = [
            await conn.fetchval("SELECT contact_id FROM conversations WHERE id = $1", conv)
            for conv in (target_conv, source_conv)
        ]
    return contacts[0], target_conv, contacts[1], source_conv


async def _merge(team: Any, target_id: Any, source_id: Any) -> dict[str, Any]:
    status, body, _ = await team.agent.request(
        "POST", f"/api/v1/contacts/{target_id}/merge", json={"source_id": str(source_id)}
    )
    assert status == 200, body
    return dict(body)


async def test_merge_keeps_the_sources_lead(inbox_world: Any) -> None:
    """The source's lead is not deleted with the source: it moves to a target without one,
    and names the conversation its own was folded into."""
    team = await inbox_world.team()
    target_id, target_conv, source_id, source_conv = await _two_contacts(inbox_world, team)
    lead_id = await inbox_world.lead(team, source_id, conversation_id=source_conv,
                                     name="Huda", email="huda@example.test")  # fmt: skip
    await _merge(team, target_id, source_id)
    assert await _leads(inbox_world, team) == [
        (lead_id, target_id, target_conv, "qualified",
         {"name": "Huda", "email": "huda@example.test"})
    ]  # fmt: skip


async def test_merge_combines_two_leads_into_the_targets(inbox_world: Any) -> None:
    """Both have a lead: the target's keeps what it knows, gains what only the source's knew
    (a budget as amount and currency together) and the stage that is further along."""
    team = await inbox_world.team()
    target_id, target_conv, source_id, source_conv = await _two_contacts(inbox_world, team)
    kept = await inbox_world.lead(
        team, target_id, conversation_id=target_conv, stage="new", name="Khalid", email=None,
        company="", budget_amount=None, budget_currency="SAR", timeline="next month",
    )  # fmt: skip
    await inbox_world.lead(
        team, source_id, conversation_id=source_conv, stage="won", name="K. Ahmed",
        email="k@example.test", company="Nakheel", budget_amount="5000",
        budget_currency="AED", timeline=None,
    )  # fmt: skip
    await _merge(team, target_id, source_id)
    assert await _leads(inbox_world, team) == [
        (kept, target_id, target_conv, "won",
         {"name": "Khalid", "email": "k@example.test", "company": "Nakheel",
          "budget_amount": "5000", "budget_currency": "AED", "timeline": "next month"})
    ]  # fmt: skip
    # A further-along target keeps its stage; a lost deal stays lost.
    target_id, target_conv, source_id, source_conv = await _two_contacts(inbox_world, team)
    await inbox_world.lead(team, target_id, conversation_id=target_conv, stage="lost", name="A")
    await inbox_world.lead(team, source_id, conversation_id=source_conv, name="B")
    await _merge(team, target_id, source_id)
    stages = {row[1]: row[3] for row in await _leads(inbox_world, team)}
    assert stages[target_id] == "lost"
    assert source_id not in stages


async def test_a_body_naming_a_tenant_role_or_id_is_refused(inbox_world: Any) -> None:
    """Checklist 3: a create or update carrying tenant_id, role, id or a token field is
    refused (422 naming the field, the value never echoed) and changes nothing anywhere."""
    mine, theirs = await inbox_world.team(), await inbox_world.team()
    phone = valid_phone()
    own = await create(mine, phone=valid_phone(), name="Mine")
    extras = [
        {"tenant_id": str(theirs.tenant_id)},
        {"id": str(uuid.uuid4())},
        {"role": "owner"},
        {"waba_token": "EAAzzsmugglezz"},
    ]
    for extra in extras:
        [(field, value)] = extra.items()
        calls = [
            ("POST", "/api/v1/contacts", {"phone": phone, **extra}),
            ("PATCH", f"/api/v1/contacts/{own['id']}", {"name": "Changed", **extra}),
            ("POST", "/api/v1/labels", {"name": f"l-{field}", "color": "#112233", **extra}),
        ]
        for method, path, body in calls:
            status, answer, _ = await mine.owner.request(method, path, json=body)
            assert status == 422, (method, path, answer)
            assert [e["field"] for e in answer["errors"]] == [field], answer
            assert value not in str(answer)
    for team in (mine, theirs):
        status, body, _ = await team.owner.request("GET", f"/api/v1/contacts?q={national(phone)}")
        assert body["items"] == []
        status, body, _ = await team.owner.request("GET", "/api/v1/labels")
        assert body["items"] == []
    status, body, _ = await mine.owner.request("GET", f"/api/v1/contacts/{own['id']}")
    assert body["name"] == "Mine"


def _problem(body: dict[str, Any]) -> dict[str, Any]:
    """A problem document without what names the request itself."""
    return {k: v for k, v in body.items() if k not in ("instance", "request_id")}


async def test_another_tenants_contacts_are_not_found_and_not_changed(inbox_world: Any) -> None:
    mine, theirs = await inbox_world.team(), await inbox_world.team()
    phone = valid_phone()
    status, victim, _ = await theirs.agent.request(
        "POST", "/api/v1/contacts", json={"phone": phone, "name": "Victim", "tags": ["vip"]}
    )
    assert status == 201
    await theirs.admin.request(
        "POST", "/api/v1/contact-attributes", json={"key": "tier", "label": "Tier", "type": "text"}
    )
    own = await create(mine, phone=valid_phone())
    vid = victim["id"]
    async with tenant_transaction(inbox_world.pool, theirs.tenant_id) as conn:
        before = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(vid))

    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/api/v1/contacts/{vid}", None),
        ("PATCH", f"/api/v1/contacts/{vid}", {"name": "Mallory"}),
        ("PUT", f"/api/v1/contacts/{vid}/tags", {"tags": []}),
        ("PUT", f"/api/v1/contacts/{vid}/consent",
         {"marketing": "opted_out", "processing_restricted": True}),
        ("DELETE", f"/api/v1/contacts/{vid}", None),
        ("POST", f"/api/v1/contacts/{vid}/restore", None),
        ("POST", f"/api/v1/contacts/{vid}/merge", {"source_id": own["id"]}),
        ("POST", f"/api/v1/contacts/{own['id']}/merge", {"source_id": vid}),
        ("GET", f"/api/v1/contacts/{vid}/data-export", None),
        ("POST", f"/api/v1/contacts/{vid}/erase", {"confirm": True}),
        ("PATCH", "/api/v1/contact-attributes/tier", {"label": "Mine"}),
        ("DELETE", "/api/v1/contact-attributes/tier", None),
    ]  # fmt: skip
    for method, path, body in calls:
        status, answer, _ = await mine.owner.request(method, path, json=body)
        assert status == 404, (method, path, answer)
        # Word for word what an id that exists nowhere gets: nothing tells the two apart.
        unknown = path.replace(vid, str(uuid.uuid4()))
        if unknown != path:
            _, expected, _ = await mine.owner.request(method, unknown, json=body)
            assert _problem(answer) == _problem(expected), (method, path)
    # Their phone, name and tag find nothing here.
    for query in (f"q={national(phone)}", "q=victim", "tag=vip"):
        status, body, _ = await mine.owner.request("GET", f"/api/v1/contacts?{query}")
        assert body["items"] == [], query
    status, body, _ = await mine.owner.request("GET", "/api/v1/contact-attributes")
    assert body["items"] == []
    status, body, _ = await mine.owner.request("POST", "/api/v1/contacts", json={"phone": phone})
    assert status == 201, body  # same number, another business: another contact
    async with tenant_transaction(inbox_world.pool, theirs.tenant_id) as conn:
        after = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(vid))
        tags = await conn.fetchval(
            "SELECT count(*) FROM contact_tags WHERE contact_id = $1", uuid.UUID(vid)
        )
        label = await conn.fetchval(
            "SELECT label FROM contact_attribute_definitions WHERE key = 'tier'"
        )
    assert after == before
    assert tags == 1
    assert label == "Tier"
    async with tenant_transaction(inbox_world.pool, mine.tenant_id) as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM contacts WHERE id = $1", uuid.UUID(own["id"]))
            == 1
        )
