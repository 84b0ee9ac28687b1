"""Every documented answer schema is true: real calls through the gateway to the real back ends
(inbox, chatflow, broadcast; the flow world), each 2xx answer validated against the schema the
served OpenAPI document declares for that operation and status.

Validation is stricter than the document: an object with listed properties may carry no key
the schema does not name, so a key a handler adds without documenting it fails here
(majlis.testing.documented_answers). Operations under the path prefixes another test file owns
(its CHECKED_ELSEWHERE) are checked by that file.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from majlis.testing.documented_answers import Checker, elsewhere


async def test_every_documented_answer_matches_the_real_one(flow_world: Any) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    _, document, _ = await owner.request("GET", "/api/v1/openapi.json")
    check = Checker(document)

    # Contacts: create, read, list, change, tags, consent, merge, delete and restore.
    contact = await check.call(
        owner, "POST", "/api/v1/contacts",
        json={"phone": world.fresh_phone(), "name": "Layla", "tags": ["vip"]}, status=201,
    )  # fmt: skip
    cid = contact["id"]
    bare = await check.call(
        owner, "POST", "/api/v1/contacts", json={"phone": world.fresh_phone()}, status=201
    )
    assert bare["name"] is None
    assert bare["consent"]["updated_at"] is None
    await check.call(owner, "GET", "/api/v1/contacts/{contact_id}", cid)
    await check.call(owner, "GET", "/api/v1/contacts")
    await check.call(
        owner, "PATCH", "/api/v1/contacts/{contact_id}", cid, json={"email": "l@example.com"}
    )
    await check.call(owner, "PUT", "/api/v1/contacts/{contact_id}/tags", cid, json={"tags": ["a"]})
    await check.call(
        owner, "PUT", "/api/v1/contacts/{contact_id}/consent", cid,
        json={"marketing": "opted_in", "processing_restricted": False},
    )  # fmt: skip
    await check.call(
        owner, "POST", "/api/v1/contacts/{contact_id}/merge", cid, json={"source_id": bare["id"]}
    )
    assert (await owner.request("DELETE", f"/api/v1/contacts/{cid}"))[0] == 204
    await check.call(owner, "POST", "/api/v1/contacts/{contact_id}/restore", cid)

    # Conversations and messages: a customer writes, an agent works the conversation.
    wamid = await world.say(team, world.fresh_phone(), "Hello")
    rows = await world.until(team, "SELECT conversation_id FROM messages WHERE wamid = $1", wamid)
    conv = str(rows[0]["conversation_id"])
    page = await check.call(owner, "GET", "/api/v1/conversations")
    assert conv in [item["id"] for item in page["items"]]
    await check.call(owner, "GET", "/api/v1/conversations/{conversation_id}", conv)
    base = "/api/v1/conversations/{conversation_id}"
    await check.call(owner, "POST", base + "/read", conv)
    await check.call(owner, "POST", base + "/takeover", conv)
    await check.call(
        owner, "POST", base + "/messages", conv, json={"type": "note", "text": "Call back"},
        status=201,
    )  # fmt: skip
    await check.call(
        owner, "POST", base + "/messages", conv, json={"type": "text", "text": "Hi"}, status=201
    )
    messages = await check.call(owner, "GET", base + "/messages", conv)
    assert len(messages["items"]) >= 3
    await check.call(
        owner, "POST", base + "/assign", conv, json={"user_id": str(team.user_ids["owner"])}
    )
    await check.call(owner, "PUT", base + "/labels", conv, json={"label_ids": []})
    await check.call(owner, "POST", base + "/status", conv, json={"status": "resolved"})
    await check.call(owner, "POST", base + "/handback", conv)
    await check.call(
        owner, "POST", "/api/v1/conversations/bulk",
        json={"conversation_ids": [conv], "status": {"status": "open"}, "add_label_ids": None},
    )  # fmt: skip

    # Templates and campaigns (Meta's review is the simulator's; its approval is set in SQL).
    await _templates_and_campaigns(world, team, check)

    # Flows (a draft, published) and leads (one captured, as a flow stores it, then moved on).
    await _flows(team, check)
    await _leads(world, team, check, cid)
    await _webhooks(world, team, check)
    await _gateway_routes(team, check)

    unchecked = {op for op in check.unchecked() if not op[1].startswith(elsewhere())}
    assert not unchecked - _SAME_VIEW_AS_CHECKED, sorted(unchecked)


# Answered by the very view of an operation checked above (views_campaign_actions._action);
# reaching their states (running, paused) depends on the dispatcher's timing.
_SAME_VIEW_AS_CHECKED = {
    ("post", "/api/v1/campaigns/{campaign_id}/pause"),
    ("post", "/api/v1/campaigns/{campaign_id}/resume"),
}


async def _templates_and_campaigns(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    number = {"phone_number_id": team.phone_number_id, "waba_id": team.waba_id, "token": "EAAx"}
    async with world.http.post(f"{world.sim}/_sim/numbers", json=number) as response:
        assert response.status == 201
    template = await check.call(
        owner, "POST", "/api/v1/templates",
        json={"number_id": str(team.number_id), "name": "spring_offer", "category": "MARKETING",
              "language": "en", "components": [{"type": "BODY", "text": "Spring is here"}]},
        status=201,
    )  # fmt: skip
    await check.call(owner, "GET", "/api/v1/templates")
    await check.call(owner, "GET", "/api/v1/templates/{template_id}", template["id"])
    await world.sql(team, "UPDATE templates SET status = 'APPROVED'")
    phone = world.fresh_phone()
    await check.call(
        owner, "POST", "/api/v1/contacts", json={"phone": phone, "tags": ["spring"]}, status=201
    )
    body = {"name": "Spring", "number_id": str(team.number_id), "template_id": template["id"],
            "audience": {"tags": ["spring"]}}  # fmt: skip
    campaign = await check.call(owner, "POST", "/api/v1/campaigns", json=body, status=201)
    one = "/api/v1/campaigns/{campaign_id}"
    await check.call(owner, "PATCH", one, campaign["id"], json={"name": "Spring offers"})
    await check.call(owner, "POST", one + "/audience-preview", campaign["id"])
    await check.call(owner, "POST", one + "/start", campaign["id"])
    await check.call(owner, "GET", one, campaign["id"])
    await check.call(owner, "GET", "/api/v1/campaigns")
    # A CSV audience, scheduled a day ahead, then cancelled.
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body |= {"name": "Later", "audience": {"source": "csv"}, "scheduled_at": later}
    scheduled = await check.call(owner, "POST", "/api/v1/campaigns", json=body, status=201)
    status, answer, _ = await owner.request(
        "PUT", f"/api/v1/campaigns/{scheduled['id']}/audience.csv",
        data=f"phone\n{phone}\n".encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 200, answer
    check.validate("PUT", one + "/audience.csv", 200, answer)
    await check.call(owner, "POST", one + "/start", scheduled["id"])
    await check.call(owner, "POST", one + "/cancel", scheduled["id"])


_FLOW = {
    "name": "Welcome",
    "triggers": [{"type": "keyword", "value": "documented answers"}],
    "document": {
        "start": "hi",
        "nodes": [
            {"id": "hi", "type": "send_text", "text": "Marhaba!"},
            {"id": "end", "type": "end"},
        ],
        "edges": [{"from": "hi", "to": "end"}],
    },
}


async def _flows(team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    flow = await check.call(owner, "POST", "/api/v1/flows", json=_FLOW, status=201)
    one = "/api/v1/flows/{flow_id}"
    await check.call(owner, "PUT", one, flow["id"], json={**_FLOW, "name": "Welcome 2"})
    await check.call(owner, "POST", one + "/publish", flow["id"], status=201)
    await check.call(owner, "GET", one, flow["id"])
    await check.call(owner, "GET", one + "/versions", flow["id"])
    await check.call(owner, "GET", "/api/v1/flows")


async def _leads(world: Any, team: Any, check: Checker, contact_id: str) -> None:
    owner = team.people["owner"]
    data = {"name": "Layla", "budget_amount": "2500", "budget_currency": "AED"}
    sealed = world.cipher.encrypt(
        orjson.dumps(data).decode(), tenant_id=team.tenant_id, field="leads.data"
    )
    lead_id = uuid.uuid4()
    await world.sql(
        team,
        "INSERT INTO leads (tenant_id, id, contact_id, source, data_enc)"
        " VALUES ($1, $2, $3, 'flow', $4) RETURNING id",
        team.tenant_id, lead_id, uuid.UUID(contact_id), sealed,
    )  # fmt: skip
    lead = await check.call(owner, "GET", "/api/v1/leads/{lead_id}", str(lead_id))
    assert lead["budget"] == {"amount": 2500, "currency": "AED"}
    await check.call(owner, "GET", "/api/v1/leads")
    await check.call(
        owner, "PATCH", "/api/v1/leads/{lead_id}", str(lead_id), json={"stage": "qualified"}
    )


async def _webhooks(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    await check.call(owner, "GET", "/api/v1/webhooks/event-types")
    body = {"url": f"{world.sim}/hooks/documented", "event_types": ["contact.changed"]}
    endpoint = await check.call(owner, "POST", "/api/v1/webhooks", json=body, status=201)
    one = "/api/v1/webhooks/{endpoint_id}"
    await check.call(owner, "PATCH", one, endpoint["id"], json={"description": "CRM"})
    await check.call(owner, "POST", one + "/rotate-secret", endpoint["id"], json={})
    await check.call(owner, "GET", one, endpoint["id"])
    await check.call(owner, "GET", "/api/v1/webhooks")
    test = await check.call(owner, "POST", one + "/test", endpoint["id"], status=202)
    log = await check.call(owner, "GET", one + "/deliveries", endpoint["id"])
    assert test["delivery_id"] in [item["id"] for item in log["items"]]
    await check.call(
        owner, "POST", one + "/deliveries/{delivery_id}/redeliver", endpoint["id"],
        test["delivery_id"], status=202,
    )  # fmt: skip


async def _gateway_routes(team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    await check.call(owner, "GET", "/api/v1/me")
    await check.call(owner, "GET", "/api/v1/plan")
    await check.call(owner, "GET", "/api/v1/users")
    agent, viewer = str(team.user_ids["agent"]), str(team.user_ids["viewer"])
    await check.call(owner, "PATCH", "/api/v1/users/{user_id}", agent, json={"role": "viewer"})
    await check.call(owner, "POST", "/api/v1/users/{user_id}/sign-out", agent)
    await check.call(owner, "POST", "/api/v1/users/{user_id}/deactivate", viewer)
    key = {"name": "CRM", "scopes": ["contacts:read"]}
    await check.call(owner, "POST", "/api/v1/api-keys", json=key, status=201)
    await check.call(owner, "GET", "/api/v1/api-keys")
    number = {
        "phone_number_id": str(uuid.uuid4().int)[:15],
        "waba_id": "102290129340398",
        "display_number": "+971 4 123 4567",
        "access_token": "EAAGm0PX4ZCpsBAKZAZBsimulatortoken0123456789",
    }
    created = await check.call(owner, "POST", "/api/v1/numbers", json=number, status=201)
    await check.call(owner, "GET", "/api/v1/numbers")
    await check.call(
        owner, "PATCH", "/api/v1/numbers/{number_id}", created["id"],
        json={"display_number": "+971 4 765 4321"},
    )  # fmt: skip
