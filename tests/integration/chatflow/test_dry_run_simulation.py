"""The flow test panel's dry run simulates the nodes that reach outside: a wait says how long it
would wait, an HTTP request shows the request it would make (credentials masked) and calls
nothing, an AI answer runs the built-in answerer (or names the provider it would ask, without
asking); nothing is sent or stored."""

from __future__ import annotations

from typing import Any

FlowWorld = Any
HOURS: dict[str, Any] = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm.", "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً."},
}
FLOW = {
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "seconds": 90},
        {"id": "call", "type": "http_request", "method": "POST",
         "url": "http://127.0.0.1:1/crm?who={{contact.name}}",
         "headers": {"Authorization": "Bearer s3cr3t-crm-token", "X-Customer": "{{contact.name}}"},
         "body": "{\"question\": \"{{last_input}}\"}", "response_mapping": {"tier": "/tier"}},
        {"id": "answer", "type": "ai_answer", "variable": "reply"},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "pause", "to": "call"},
        {"from": "call", "to": "answer"},
        {"from": "call", "to": "answer", "handle": "error"},
        {"from": "answer", "to": "done"},
    ],
}  # fmt: skip


async def _flow(team: Any) -> str:
    body = {"name": "Simulated", "document": FLOW}
    status, flow, _ = await team.people["owner"].request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    return str(flow["id"])


async def _play(team: Any, flow_id: str, message: str) -> Any:
    body = {"messages": [message], "contact": {"name": "Sara"}}
    status, played, _ = await team.people["admin"].request(
        "POST", f"/api/v1/flows/{flow_id}/test", json=body
    )
    assert status == 200, played
    return played


async def test_wait_http_and_builtin_ai_are_simulated(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    status, _, _ = await team.people["owner"].request(
        "POST", "/api/v1/knowledge/entries", json=HOURS
    )
    assert status == 201
    flow_id = await _flow(team)

    played = await _play(team, flow_id, "What are your opening hours?")
    [turn] = played["turns"]
    wait, http, ai = turn["simulated"]
    assert wait == {"node_id": "pause", "kind": "wait", "seconds": 90}
    assert http == {
        "node_id": "call", "kind": "http_request", "method": "POST",
        "url": "http://127.0.0.1:1/crm?who=Sara",
        "headers": {"Authorization": "•••", "X-Customer": "Sara"},
        "body": '{"question": "What are your opening hours?"}', "unset": ["tier"],
    }  # fmt: skip
    assert "s3cr3t" not in str(played)
    # The built-in answerer answered, as it would in a live run, and the run went on.
    assert ai == {"node_id": "answer", "kind": "ai_answer", "provider": "builtin", "model": None}
    assert [r["text"]["body"] for r in turn["replies"]] == ["We open 9am to 6pm."]
    assert played["variables"]["reply"] == "We open 9am to 6pm."
    assert "tier" not in played["variables"]
    outcomes = {step["node_id"]: (step["outcome"], step["note"]) for step in turn["trace"]}
    assert outcomes["pause"] == ("next", "skipped_in_test")
    assert outcomes["call"] == ("next", "skipped_in_test")  # not the error output: no call
    assert outcomes["answer"] == ("next", None)
    assert (played["status"], played["end_reason"]) == ("ended", "completed")

    # Arabic is answered in Arabic; a question it cannot answer hands off, as live.
    played = await _play(team, flow_id, "ما هي ساعات العمل؟")
    assert [r["text"]["body"] for r in played["turns"][0]["replies"]] == [HOURS["answer"]["ar"]]
    played = await _play(team, flow_id, "Do you sell bitcoin?")
    [turn] = played["turns"]
    assert turn["replies"] == []
    assert {"kind": "handoff", "assign": "none", "reason": "ai_no_answer"} in turn["actions"]

    # Nothing happened for real.
    assert await world.sql(team, "SELECT 1 FROM flow_sessions") == []
    assert await world.sql(team, "SELECT 1 FROM flow_logs") == []
    assert await world.sent(team) == []


async def test_a_configured_provider_is_named_not_called(flow_world: FlowWorld) -> None:
    world = flow_world
    team = await world.team()
    status, _, _ = await team.people["owner"].request(
        "PUT", "/api/v1/ai/settings",
        json={"provider": "gemini", "model": "gemini-2.5-pro", "api_key": "AIzaSy" + "x" * 30},
    )  # fmt: skip
    assert status == 200
    played = await _play(team, await _flow(team), "What are your opening hours?")
    [turn] = played["turns"]
    ai = turn["simulated"][-1]
    assert ai == {"node_id": "answer", "kind": "ai_answer", "provider": "gemini",
                  "model": "gemini-2.5-pro"}  # fmt: skip
    answer_step = next(s for s in turn["trace"] if s["node_id"] == "answer")
    assert (answer_step["outcome"], answer_step["note"]) == ("next", "skipped_in_test")
    assert turn["replies"] == []
    assert turn["actions"] == []  # no hand-off: the provider was not asked, so it did not fail
    assert "reply" not in played["variables"]
