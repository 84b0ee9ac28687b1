"""A flow with every node type, run end to end: inbound event -> engine -> inbox -> dispatcher
-> Graph API simulator; and the flow API's rules (roles, versions, cross-tenant 404)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@pytest.fixture(scope="module")
async def city_api() -> AsyncIterator[str]:
    """A local JSON API for the http_request node."""

    async def city(_request: web.Request) -> web.Response:
        return web.json_response({"data": {"city": "Dubai"}})

    app = web.Application()
    app.router.add_get("/city", city)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/city"))
    await server.close()


def every_node_flow(api_url: str) -> dict[str, Any]:
    return {
        "start": "hello",
        "nodes": [
            {"id": "hello", "type": "send_text", "text": "Welcome {{contact.name}}"},
            {"id": "photo", "type": "send_media", "media_type": "image",
             "link": "https://example.com/a.png", "caption": "Our shop"},
            {"id": "setv", "type": "set_variable", "variable": "greeting", "value": "hi"},
            {"id": "ab", "type": "split", "branches": [{"name": "a", "weight": 1},
                                                        {"name": "b", "weight": 0}]},
            {"id": "tag", "type": "tag_contact", "tags": ["Bot-Lead"]},
            {"id": "http", "type": "http_request", "url": api_url,
             "response_mapping": {"city": "/data/city"}},
            {"id": "cond", "type": "condition", "mode": "and",
             "rules": [{"left": "var.city", "op": "eq", "value": "dubai"}]},
            {"id": "ask", "type": "ask_question", "text": "Your email?", "variable": "email",
             "validation": {"type": "email"}, "reprompt_text": "That is not an email",
             "max_attempts": 3},
            {"id": "upd", "type": "update_contact", "email": "{{email}}"},
            {"id": "btn", "type": "send_buttons", "text": "Continue, {{greeting}}?",
             "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]},
            {"id": "lst", "type": "send_list", "text": "Pick", "button": "Options",
             "sections": [{"title": "All", "rows": [{"id": "ai", "title": "Ask the bot"},
                                                    {"id": "human", "title": "A person"}]}]},
            {"id": "pause", "type": "wait", "seconds": 1},
            {"id": "jmp", "type": "jump", "target": "ai"},
            {"id": "ai", "type": "ai_answer"},
            {"id": "lead", "type": "ai_lead_capture"},
            {"id": "person", "type": "handoff", "assign": "none"},
            {"id": "bye", "type": "end"},
        ],
        "edges": [
            {"from": "hello", "to": "photo"}, {"from": "photo", "to": "setv"},
            {"from": "setv", "to": "ab"}, {"from": "ab", "to": "tag", "handle": "a"},
            {"from": "ab", "to": "lead", "handle": "b"}, {"from": "lead", "to": "bye"},
            {"from": "tag", "to": "http"}, {"from": "http", "to": "cond"},
            {"from": "cond", "to": "ask", "handle": "true"},
            {"from": "cond", "to": "bye", "handle": "false"},
            {"from": "ask", "to": "upd"}, {"from": "upd", "to": "btn"},
            {"from": "btn", "to": "lst", "handle": "yes"},
            {"from": "btn", "to": "bye", "handle": "no"},
            {"from": "lst", "to": "pause", "handle": "ai"},
            {"from": "lst", "to": "person", "handle": "human"},
            {"from": "lst", "to": "bye"},
            {"from": "pause", "to": "jmp"}, {"from": "ai", "to": "bye"},
        ],
    }  # fmt: skip


async def publish(team: Any, document: dict[str, Any], triggers: list[Any]) -> str:
    owner = team.people["owner"]
    body = {"name": "Welcome", "triggers": triggers, "document": document, "priority": 5}
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version
    return str(flow["id"])


async def test_a_flow_with_every_node_type_runs_end_to_end(flow_world: Any, city_api: str) -> None:
    team = await flow_world.team()
    flow_id = await publish(
        team, every_node_flow(city_api), [{"type": "keyword", "match": "exact", "value": "HELLO"}]
    )
    phone = flow_world.fresh_phone()
    await flow_world.say(team, phone, "hello")
    sent = await flow_world.sent_count(team, 3)
    # In the flow's order, also across steps (the http_request node ends the first step):
    # the inbox applies steps in order and the dispatcher sends one recipient's in turn.
    assert [m["type"] for m in sent] == ["text", "image", "text"]
    texts = [m["payload"]["text"]["body"] for m in sent if m["type"] == "text"]
    assert texts == ["Welcome Customer", "Your email?"]

    await flow_world.say(team, phone, "not an email")
    sent = await flow_world.sent_count(team, 4)
    assert sent[3]["payload"]["text"]["body"] == "That is not an email"

    await flow_world.say(team, phone, "Me@Example.com")
    sent = await flow_world.sent_count(team, 5)
    assert sent[4]["payload"]["interactive"]["type"] == "button"
    assert sent[4]["payload"]["interactive"]["body"]["text"] == "Continue, hi?"

    reply = {"id": "yes", "title": "Yes"}
    tap = {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": reply}}
    await flow_world.say(team, phone, message=tap)
    sent = await flow_world.sent_count(team, 6)
    assert sent[5]["payload"]["interactive"]["type"] == "list"

    row = {"id": "ai", "title": "Ask"}
    pick = {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": row}}
    await flow_world.say(team, phone, message=pick)
    # The wait node's durable timer fires, the jump reaches ai_answer, whose default hands off.
    await flow_world.until(
        team, "SELECT id, controller FROM conversations WHERE controller = 'human'"
    )
    [session] = await flow_world.sql(team, "SELECT status, end_reason FROM flow_sessions")
    assert (session["status"], session["end_reason"]) == ("ended", "handoff")
    # The inbox stored every bot message (sender 'bot'), and the dispatcher's results landed.
    await flow_world.until(
        team,
        "SELECT 1 FROM messages WHERE sender_kind = 'bot' AND status = 'sent' HAVING count(*) = 6",
    )
    stored = await flow_world.sql(
        team, "SELECT type FROM messages WHERE sender_kind = 'bot' ORDER BY seq"
    )
    assert [r["type"] for r in stored] == ["text", "image", "text", "text", "interactive",
                                           "interactive"]  # fmt: skip
    # Each engine step was numbered and every one applied, in order.
    [steps] = await flow_world.sql(
        team,
        "SELECT s.last_step, c.bot_step_applied FROM bot_action_steps AS s"
        " JOIN conversations AS c ON c.id = s.conversation_id",
    )
    assert steps["last_step"] == steps["bot_step_applied"] >= 5
    [contact] = await flow_world.sql(
        team, "SELECT email_enc, (SELECT array_agg(tag) FROM contact_tags) AS tags FROM contacts"
    )
    assert contact["tags"] == ["bot-lead"]
    email = flow_world.cipher.decrypt_text(
        contact["email_enc"], tenant_id=team.tenant_id, field="contacts.email"
    )
    assert email == "me@example.com"
    # Every node that ran is in the logs, readable through the API.
    status, logs, _ = await team.people["agent"].request(
        "GET", f"/api/v1/flows/{flow_id}/logs?limit=100"
    )
    assert status == 200, logs
    ran = {item["node_id"] for item in logs["items"]}
    assert ran >= {"hello", "photo", "setv", "ab", "tag", "http", "cond", "ask", "upd", "btn",
                   "lst", "pause", "jmp", "ai"}  # fmt: skip
    await asyncio.sleep(0.3)
    assert len(await flow_world.sent(team)) == 6  # nothing sent twice
