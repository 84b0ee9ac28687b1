"""The documented answers of the inbox's team tools are true: labels, teams, canned responses,
the contact attribute schema, assignment policies, the contacts' CSV import, data-subject
export and erasure, and media uploads, each called through the gateway (the flow world) and
its 2xx answer validated against the schema the served OpenAPI document declares, refusing
undocumented keys (majlis.testing.documented_answers). The operations under PREFIXES are this
file's share; tests/integration/chatflow/test_documented_answers.py checks the others.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp

from majlis.testing.documented_answers import CHECKED_ELSEWHERE, Checker

PREFIXES = CHECKED_ELSEWHERE[Path(__file__).name]
# The head of a PNG is all the upload's sniffer and the Graph simulator look at.
_PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def test_every_documented_inbox_tool_answer_matches_the_real_one(flow_world: Any) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    _, document, _ = await owner.request("GET", "/api/v1/openapi.json")
    check = Checker(document)

    await _labels(owner, check)
    await _teams(team, check)
    await _policies(team, check)
    await _contact_attributes(owner, check)
    await _contact_import(world, owner, check)

    # A customer writes; the owner takes the conversation and replies with an uploaded image.
    wamid = await world.say(team, world.fresh_phone(), "Hello")
    rows = await world.until(team, "SELECT conversation_id FROM messages WHERE wamid = $1", wamid)
    conv = str(rows[0]["conversation_id"])
    status, taken, _ = await owner.request("POST", f"/api/v1/conversations/{conv}/takeover")
    assert status == 200, taken
    form = aiohttp.FormData()
    form.add_field("number_id", str(team.number_id))
    form.add_field("file", io.BytesIO(_PNG), filename="receipt.png", content_type="image/png")
    status, media, _ = await owner.request("POST", "/api/v1/media", data=form)
    assert status == 201, media
    check.validate("POST", "/api/v1/media", 201, media)
    reply = {"type": "image", "media": {"id": media["meta_media_id"]}, "caption": "Receipt"}
    status, sent, _ = await owner.request(
        "POST", f"/api/v1/conversations/{conv}/messages", json=reply
    )
    assert status == 201, sent

    await _canned_responses(owner, check, conv)
    await _data_subject_requests(owner, check, taken["contact"]["id"])

    assert not check.unchecked(PREFIXES), sorted(check.unchecked(PREFIXES))


async def _labels(owner: Any, check: Checker) -> None:
    vip = await check.call(
        owner, "POST", "/api/v1/labels", json={"name": "VIP", "color": "#0F766E"}, status=201
    )
    await check.call(owner, "POST", "/api/v1/labels", json={"name": "Refund"}, status=201)
    await check.call(
        owner, "PATCH", "/api/v1/labels/{label_id}", vip["id"], json={"name": "Gold VIP"}
    )
    labels = await check.call(owner, "GET", "/api/v1/labels")
    assert [item["name"] for item in labels["items"]] == ["Gold VIP", "Refund"]


async def _teams(team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    sales = await check.call(
        owner, "POST", "/api/v1/teams", json={"name": "Sales", "description": "Quotes"}, status=201
    )
    bare = await check.call(owner, "POST", "/api/v1/teams", json={"name": "Support"}, status=201)
    assert bare["description"] == ""
    one = "/api/v1/teams/{team_id}"
    await check.call(owner, "PATCH", one, sales["id"], json={"description": "Quotes and orders"})
    member = {"user_id": str(team.user_ids["agent"])}
    added = await check.call(owner, "POST", one + "/members", sales["id"], json=member, status=201)
    assert added["member_ids"] == [member["user_id"]]
    # Already a member: the same team, answered 200.
    await check.call(owner, "POST", one + "/members", sales["id"], json=member, status=200)
    await check.call(owner, "GET", one, sales["id"])
    teams = await check.call(owner, "GET", "/api/v1/teams")
    assert len(teams["items"]) == 2


async def _policies(team: Any, check: Checker) -> None:
    owner, number = team.people["owner"], str(team.number_id)
    one = "/api/v1/assignment-policies/{number_id}"
    unset = await check.call(owner, "GET", one, number)
    assert (unset["mode"], unset["updated_at"]) == ("manual", None)
    await check.call(owner, "PUT", one, number, json={"mode": "round_robin", "agent_capacity": 5})
    await check.call(owner, "PUT", one, number, json={"mode": "balanced"})
    policy = await check.call(owner, "GET", one, number)
    assert (policy["mode"], policy["agent_capacity"]) == ("balanced", None)
    assert policy["updated_at"] is not None


async def _contact_attributes(owner: Any, check: Checker) -> None:
    base = "/api/v1/contact-attributes"
    tier = {"key": "tier", "label": "Tier", "type": "list", "options": ["gold", "silver"]}
    await check.call(owner, "POST", base, json=tier, status=201)
    city = {"key": "city", "label": "City", "type": "text"}
    created = await check.call(owner, "POST", base, json=city, status=201)
    assert created["options"] is None
    await check.call(owner, "PATCH", base + "/{key}", "tier", json={"options": ["gold", "bronze"]})
    schema = await check.call(owner, "GET", base)
    assert [item["key"] for item in schema["items"]] == ["city", "tier"]


async def _contact_import(world: Any, owner: Any, check: Checker) -> None:
    # A contact deleted before the import: its row is skipped.
    gone = world.fresh_phone()
    status, contact, _ = await owner.request("POST", "/api/v1/contacts", json={"phone": gone})
    assert status == 201, contact
    assert (await owner.request("DELETE", f"/api/v1/contacts/{contact['id']}"))[0] == 204
    phone = world.fresh_phone()
    csv = (
        "phone,name,tags,attr:tier\n"
        f"{phone},Layla,vip;spring,gold\n"
        f"{phone},Layla Haddad,,\n"
        "not a phone,Omar,,\n"
        f"{gone},Sara,,\n"
    )
    status, report, _ = await owner.request(
        "POST", "/api/v1/contacts/import",
        data=csv.encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 200, report
    check.validate("POST", "/api/v1/contacts/import", 200, report)
    outcomes = [row["outcome"] for row in sorted(report["rows"], key=lambda row: row["row"])]
    assert outcomes == ["created", "updated", "invalid", "skipped"], report
    # The deleted contact's data, deleted_at set and no conversation.
    export = await check.call(
        owner, "GET", "/api/v1/contacts/{contact_id}/data-export", contact["id"]
    )
    assert export["contact"]["deleted_at"] is not None
    assert export["conversations"] == []


async def _canned_responses(owner: Any, check: Checker, conversation_id: str) -> None:
    base = "/api/v1/canned-responses"
    hours = {"shortcut": "hours", "content": "Hi {{contact.name}}, we open at 9.",
             "scope": "tenant"}  # fmt: skip
    shared = await check.call(owner, "POST", base, json=hours, status=201)
    assert shared["owner_user_id"] is None
    thanks = {"shortcut": "thanks", "content": "Thank you, {{agent.name}}"}
    mine = await check.call(owner, "POST", base, json=thanks, status=201)
    assert mine["scope"] == "personal"
    assert mine["owner_user_id"] is not None
    await check.call(owner, "PATCH", base + "/{canned_id}", mine["id"], json={"content": "Thanks!"})
    rendered = await check.call(
        owner, "POST", base + "/{canned_id}/render", shared["id"],
        json={"conversation_id": conversation_id},
    )  # fmt: skip
    assert rendered["text"].endswith("we open at 9.")
    # A page of one, so its next_cursor is set; then the whole list.
    status, page, _ = await owner.request("GET", base + "?limit=1")
    assert status == 200, page
    check.validate("GET", base, 200, page)
    assert page["next_cursor"] is not None
    listed = await check.call(owner, "GET", base)
    assert len(listed["items"]) == 2
    assert listed["next_cursor"] is None


async def _data_subject_requests(owner: Any, check: Checker, contact_id: str) -> None:
    one = "/api/v1/contacts/{contact_id}"
    export = await check.call(owner, "GET", one + "/data-export", contact_id)
    assert export["contact"]["deleted_at"] is None
    assert len(export["conversations"]) == 1
    media = [message["media"] for message in export["messages"]]
    assert None in media
    assert any(item is not None for item in media), export["messages"]
    erased = await check.call(owner, "POST", one + "/erase", contact_id, json={"confirm": True})
    assert (erased["conversations"], erased["media"]) == (1, 1)
    assert erased["messages"] >= 2
