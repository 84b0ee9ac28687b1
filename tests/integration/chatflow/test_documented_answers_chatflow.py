"""The documented answers of the chatflow service's AI settings, companion, knowledge base, flow
runs, logs and dry runs are true: real calls through the gateway (the flow world), each 2xx
answer validated against the schema the served OpenAPI document declares, refusing any key the
schema does not name (majlis.testing.documented_answers). This file owns PREFIXES
(CHECKED_ELSEWHERE); tests/integration/chatflow/test_documented_answers.py checks the rest.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from majlis.testing.documented_answers import CHECKED_ELSEWHERE, Checker

PREFIXES = CHECKED_ELSEWHERE["test_documented_answers_chatflow.py"]

HOURS: dict[str, Any] = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm.", "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً."},
}
DELIVERY: dict[str, Any] = {
    "questions": ["Do you deliver?"],
    "answer": {"en": "Yes, across the UAE."},
}
POLICY = {
    "title": "Delivery policy",
    "language": "en",
    "text": "Orders placed before noon are delivered the same day in Dubai.\n\n"
    "Deliveries to Sharjah and Abu Dhabi take one to two working days.",
}


async def test_every_documented_chatflow_answer_matches_the_real_one(flow_world: Any) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    _, document, _ = await owner.request("GET", "/api/v1/openapi.json")
    check = Checker(document)

    await _ai_settings(world, team, check)
    await _knowledge(world, team, check)
    await _companion(world, team, check)
    await _runs_and_logs(world, team, check)
    await _dry_runs(team, check)

    assert not check.unchecked(PREFIXES), sorted(check.unchecked(PREFIXES))


async def _ai_settings(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    path = "/api/v1/ai/settings"
    defaults = await check.call(owner, "GET", path)
    assert (defaults["updated_at"], defaults["key_hint"]) == (None, None)
    # The flow world's fake OpenAI: the tenant's provider until the built-in answerer's turn.
    key, model = next(iter(world.openai.api_keys)), next(iter(world.openai.models))
    body = {"provider": "openai", "model": model, "api_key": key}
    saved = await check.call(owner, "PUT", path, json=body)
    assert (saved["has_key"], saved["key_hint"]) == (True, f"{key[:3]}…{key[-4:]}")
    shown = await check.call(owner, "GET", path)
    assert shown == saved
    assert key not in str(shown)


async def _knowledge(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    entries = "/api/v1/knowledge/entries"
    hours = await check.call(owner, "POST", entries, json=HOURS, status=201)
    assert hours["languages"] == ["ar", "en"]
    delivery = await check.call(owner, "POST", entries, json=DELIVERY, status=201)
    assert delivery["answer"] == {"en": "Yes, across the UAE."}  # no Arabic key at all
    await check.call(owner, "GET", entries + "/{entry_id}", hours["id"])
    changed = {**DELIVERY, "answer": {"en": "Yes, across the UAE.", "ar": "نعم، في كل الإمارات."}}
    await check.call(owner, "PUT", entries + "/{entry_id}", delivery["id"], json=changed)
    status, page, _ = await owner.request("GET", entries + "?limit=1")
    assert status == 200, page
    assert page["next_cursor"] is not None
    check.validate("GET", entries, 200, page)
    await check.call(owner, "GET", entries)

    documents = "/api/v1/knowledge/documents"
    policy = await check.call(owner, "POST", documents, json=POLICY, status=201)
    assert "text" not in policy
    one = documents + "/{document_id}"
    assert (await check.call(owner, "GET", one, policy["id"]))["text"] == POLICY["text"]
    await check.call(owner, "PUT", one, policy["id"], json={**POLICY, "title": "Deliveries"})
    listed = await check.call(owner, "GET", documents)
    assert [item["id"] for item in listed["items"]] == [policy["id"]]

    # The tenant's provider (the fake OpenAI) answers, from the passages it was given.
    world.openai.replies.append("Orders before noon arrive the same day.")
    tried = await check.call(
        owner, "POST", "/api/v1/knowledge/try", json={"question": "When do deliveries arrive?"}
    )
    assert (tried["provider"], tried["answer"]["source"]) == ("openai", "openai")
    # The built-in answerer: answered from an entry, then a question in Arabic nothing answers.
    await check.call(
        owner, "PUT", "/api/v1/ai/settings", json={"provider": "builtin", "clear_api_key": True}
    )
    tried = await check.call(
        owner, "POST", "/api/v1/knowledge/try", json={"question": "What are your opening hours?"}
    )
    assert tried["answer"]["text"] == HOURS["answer"]["en"]
    assert any(p["used"] and p["label"] == HOURS["questions"][0] for p in tried["passages"])
    tried = await check.call(
        owner, "POST", "/api/v1/knowledge/try",
        json={"question": "Deliveries to Sharjah?", "language": "ar"},
    )  # fmt: skip
    assert (tried["answered"], tried["answer"]) == (False, None)
    assert any(p["kind"] == "document" for p in tried["passages"])


async def _companion(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    path = "/api/v1/companion"
    assert await check.call(owner, "GET", path) == {"status": "none"}
    phone = world.fresh_phone()
    await world.open_window(team, phone)  # the owner wrote lately: free text reaches them
    body = {"phone": phone, "number_id": str(team.number_id)}
    registered = await check.call(owner, "PUT", path, json=body, status=202)
    assert registered["code_delivery"]["via"] == "text"
    code = await _code_sent_to(world, team, phone)
    verified = await check.call(owner, "POST", path + "/verify", json={"code": code})
    assert (verified["status"], verified["code_expires_at"]) == ("verified", None)
    assert (await check.call(owner, "GET", path))["status"] == "verified"

    # With an approved authentication template the code goes with it (approval set in SQL).
    number = {"phone_number_id": team.phone_number_id, "waba_id": team.waba_id, "token": "EAAx"}
    async with world.http.post(f"{world.sim}/_sim/numbers", json=number) as response:
        assert response.status == 201
    template = {"number_id": str(team.number_id), "name": "companion_code",
                "category": "AUTHENTICATION", "language": "en", "components": [
                    {"type": "BODY", "add_security_recommendation": True},
                    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
                ]}  # fmt: skip
    status, created, _ = await owner.request("POST", "/api/v1/templates", json=template)
    assert status == 201, created
    await world.sql(team, "UPDATE templates SET status = 'APPROVED'")
    registered = await check.call(owner, "PUT", path, json=body, status=202)
    assert registered["code_delivery"] == {
        "via": "template", "template": "companion_code", "language": "en",
    }  # fmt: skip
    pending = await check.call(owner, "GET", path)
    assert pending["status"] == "pending"
    assert pending["code_expires_at"] is not None


async def _code_sent_to(world: Any, team: Any, phone: str) -> str:
    """The code in the free-text message the simulator accepted for `phone`."""
    async with asyncio.timeout(15):
        while True:
            for sent in await world.sent(team):
                if sent["wa_id"] == phone.lstrip("+") and sent["type"] == "text":
                    return str(sent["payload"]["text"]["body"].split("is ")[1][:6])
            await asyncio.sleep(0.05)


def _run_flow(team_id: str) -> dict[str, Any]:
    return {
        "start": "hello",
        "nodes": [
            {"id": "hello", "type": "send_text", "text": "Marhaba!"},
            {"id": "ask", "type": "ask_question", "text": "Your name?", "variable": "name"},
            {"id": "human", "type": "handoff", "team_id": team_id},  # no such team: a note
        ],
        "edges": [{"from": "hello", "to": "ask"}, {"from": "ask", "to": "human"}],
    }


async def _runs_and_logs(world: Any, team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    body = {"name": "Started by the API", "document": _run_flow(str(uuid.uuid4()))}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    one = f"/api/v1/flows/{flow['id']}"
    status, version, _ = await owner.request("POST", one + "/publish")
    assert status == 201, version
    customer = world.fresh_phone()
    wamid = await world.say(team, customer, "Hi")  # no trigger: a conversation, no run
    [row] = await world.until(team, "SELECT conversation_id FROM messages WHERE wamid = $1", wamid)
    run = await check.call(
        owner, "POST", "/api/v1/flows/{flow_id}/runs", flow["id"],
        json={"conversation_id": str(row["conversation_id"])}, status=201,
    )  # fmt: skip
    assert (run["status"], run["node"]) == ("waiting_input", "ask")
    await world.say(team, customer, "Layla")
    await world.until(team, "SELECT 1 FROM flow_logs WHERE error IS NOT NULL")

    logs = "/api/v1/flows/{flow_id}/logs"
    everything = await check.call(owner, "GET", logs, flow["id"])
    errors = [item["error"] for item in everything["items"]]
    assert None in errors
    assert any(errors)
    status, page, _ = await owner.request("GET", f"{one}/logs?limit=1")
    assert status == 200, page
    assert page["next_cursor"] is not None
    check.validate("GET", logs, 200, page)
    summary = await check.call(owner, "GET", logs + "/summary", flow["id"])
    last_errors = {node["node_id"]: node["last_error"] for node in summary["nodes"]}
    assert last_errors["hello"] is None
    assert last_errors["human"] is not None


_SIMULATED: dict[str, Any] = {
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "seconds": 90},
        {"id": "call", "type": "http_request", "method": "POST",
         "url": "http://127.0.0.1:1/crm?who={{contact.name}}",
         "headers": {"Authorization": "Bearer s3cr3t", "X-Customer": "{{contact.name}}"},
         "response_mapping": {"tier": "/tier"}},
        {"id": "answer", "type": "ai_answer", "variable": "reply"},
        {"id": "lead", "type": "ai_lead_capture"},
        {"id": "tag", "type": "tag_contact", "tags": ["faq"]},
        {"id": "update", "type": "update_contact", "name": "{{contact.name}}",
         "attributes": {"topic": "hours"}},
        {"id": "human", "type": "handoff", "assign": "user"},
    ],
    "edges": [
        {"from": "pause", "to": "call"}, {"from": "call", "to": "answer"},
        {"from": "call", "to": "answer", "handle": "error"}, {"from": "answer", "to": "lead"},
        {"from": "lead", "to": "tag"}, {"from": "tag", "to": "update"},
        {"from": "update", "to": "human"},
    ],
}  # fmt: skip


async def _dry_runs(team: Any, check: Checker) -> None:
    owner = team.people["owner"]
    nodes = [
        {**node, "user_id": str(team.user_ids["agent"]), "team_id": str(uuid.uuid4())}
        if node["id"] == "human" else node
        for node in _SIMULATED["nodes"]
    ]  # fmt: skip
    body = {"name": "Simulated", "document": {**_SIMULATED, "nodes": nodes}}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    test = "/api/v1/flows/{flow_id}/test"
    messages = ["What are your opening hours?", "Thanks"]
    played = await check.call(
        owner, "POST", test, flow["id"], json={"messages": messages, "contact": {"name": "Sara"}}
    )
    first, second = played["turns"]
    assert [reply["text"]["body"] for reply in first["replies"]] == [HOURS["answer"]["en"]]
    assert [s["kind"] for s in first["simulated"]] == [
        "wait", "http_request", "ai_answer", "ai_lead_capture",
    ]  # fmt: skip
    assert [a["kind"] for a in first["actions"]] == ["tag", "update_contact", "handoff"]
    assert second["trace"] == [{"node_id": None, "outcome": "ignored", "note": "the run ended"}]
    assert (played["status"], played["end_reason"]) == ("ended", "handoff")
    # A draft that waits for the customer's answer.
    body = {"name": "Asks", "document": _run_flow(str(uuid.uuid4()))}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    played = await check.call(owner, "POST", test, flow["id"], json={"messages": ["hi"]})
    assert (played["status"], played["node"], played["end_reason"]) == (
        "waiting_input", "ask", None,
    )  # fmt: skip
