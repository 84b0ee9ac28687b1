"""What the visual flow builder needs from the flow API: node positions kept in `layout`, the
per-node log summary, and the dry-run test of the draft (nothing sent, stored or called)."""

from __future__ import annotations

from typing import Any

LOOP = {
    "start": "a",
    "nodes": [
        {"id": "a", "type": "set_variable", "variable": "n", "value": "x"},
        {"id": "b", "type": "jump", "target": "a"},
    ],
    "edges": [{"from": "a", "to": "b"}],
}


async def create(team: Any, document: Any, **extra: Any) -> tuple[int, Any]:
    body = {"name": "F", "document": document, **extra}
    status, answer, _ = await team.people["owner"].request("POST", "/api/v1/flows", json=body)
    return status, answer


ASK = {
    "start": "hello",
    "layout": {"hello": {"x": 10, "y": 20.5}, "ask": {"x": 10, "y": 200}},
    "nodes": [
        {"id": "hello", "type": "send_text", "text": "Hi {{contact.name}}"},
        {"id": "ask", "type": "ask_question", "text": "Your e-mail?", "variable": "email",
         "validation": {"type": "email"}, "reprompt_text": "That is no e-mail"},
        {"id": "call", "type": "http_request", "url": "http://127.0.0.1:1/x",
         "response_mapping": {"plan": "/plan"}},
        {"id": "tag", "type": "tag_contact", "tags": ["lead"]},
        {"id": "menu", "type": "send_buttons", "text": "Thanks {{email}}. More?",
         "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]},
        {"id": "bye", "type": "send_text", "text": "Bye"},
        {"id": "human", "type": "handoff"},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "hello", "to": "ask"}, {"from": "ask", "to": "call"},
        {"from": "call", "to": "tag"}, {"from": "tag", "to": "menu"},
        {"from": "menu", "to": "human", "handle": "yes"},
        {"from": "menu", "to": "bye", "handle": "no"}, {"from": "bye", "to": "done"},
    ],
}  # fmt: skip


async def test_layout_is_kept_and_validated(flow_world: Any) -> None:
    team = await flow_world.team()
    status, flow = await create(team, ASK)
    assert status == 201, flow
    assert flow["document"]["layout"]["hello"] == {"x": 10, "y": 20.5}
    status, _, _ = await team.people["owner"].request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201
    status, versions, _ = await team.people["owner"].request(
        "GET", f"/api/v1/flows/{flow['id']}/versions"
    )
    assert versions["items"][0]["document"]["layout"]["ask"] == {"x": 10, "y": 200}
    bad = {**ASK, "layout": {"hello": {"x": "left", "y": 1, "z": 2}}}
    status, problem = await create(team, bad)
    assert status == 422
    assert {e["field"] for e in problem["errors"]} >= {"layout.hello.x", "layout.hello.z"}


async def test_dry_run_plays_the_draft_without_effects(flow_world: Any) -> None:
    team = await flow_world.team()
    status, flow = await create(team, ASK)
    assert status == 201, flow
    path = f"/api/v1/flows/{flow['id']}/test"
    body = {"messages": ["hi", "not-an-email", "a@b.example", "No"], "contact": {"name": "Sara"}}
    status, played, _ = await team.people["admin"].request("POST", path, json=body)
    assert status == 200, played
    first, second, third, fourth = played["turns"]
    assert [r["text"]["body"] for r in first["replies"]] == ["Hi Sara", "Your e-mail?"]
    assert [r["text"]["body"] for r in second["replies"]] == ["That is no e-mail"]
    assert third["replies"][0]["interactive"]["body"]["text"] == "Thanks a@b.example. More?"
    assert {"node_id": "call", "type": "http_request", "outcome": "next",
            "note": "skipped_in_test"} in third["trace"]  # fmt: skip
    assert {"kind": "tag", "tags": ["lead"]} in third["actions"]
    assert [r["text"]["body"] for r in fourth["replies"]] == ["Bye"]
    assert played["status"] == "ended"
    assert played["end_reason"] == "completed"
    assert played["variables"]["email"] == "a@b.example"
    # Nothing happened for real: no session, no log, no outbox row, no tag, nothing sent.
    assert await flow_world.sql(team, "SELECT 1 FROM flow_sessions") == []
    assert await flow_world.sql(team, "SELECT 1 FROM flow_logs") == []
    assert await flow_world.sql(team, "SELECT 1 FROM contacts") == []
    assert await flow_world.sent(team) == []
    # The loop limit stops a dry run too, on the node.
    status, loop = await create(team, LOOP)
    status, played, _ = await team.people["owner"].request(
        "POST", f"/api/v1/flows/{loop['id']}/test", json={"messages": ["go"]}
    )
    assert status == 200
    assert played["end_reason"] == "loop_limit"
    assert played["turns"][0]["trace"][-1]["outcome"] == "loop_stopped"
    assert played["turns"][0]["actions"] == [{"kind": "handoff", "assign": "none",
                                              "reason": "loop_limit"}]  # fmt: skip
    # Bad bodies are problems, not errors; agents and viewers may not test.
    bad_bodies: list[dict[str, Any]] = [
        {"messages": []}, {"messages": ["x"], "extra": 1}, {"messages": "x"}
    ]  # fmt: skip
    for bad in bad_bodies:
        status, problem, _ = await team.people["owner"].request("POST", path, json=bad)
        assert status == 422, problem
    for role in ("agent", "viewer"):
        status, _, _ = await team.people[role].request("POST", path, json={"messages": ["hi"]})
        assert status == 403


async def test_log_summary_counts_per_node_and_outcome(flow_world: Any) -> None:
    team = await flow_world.team()
    status, flow = await create(
        team, LOOP, triggers=[{"type": "keyword", "match": "exact", "value": "loop"}]
    )
    assert status == 201
    path = f"/api/v1/flows/{flow['id']}"
    status, version, _ = await team.people["owner"].request("POST", f"{path}/publish")
    assert status == 201
    await flow_world.say(team, flow_world.fresh_phone(), "loop")
    await flow_world.until(team, "SELECT 1 FROM flow_logs WHERE outcome = 'loop_stopped'")
    status, summary, _ = await team.people["viewer"].request("GET", f"{path}/logs/summary")
    assert status == 200, summary
    nodes = {n["node_id"]: n for n in summary["nodes"]}
    assert nodes["a"]["outcomes"] == {"next": 50, "loop_stopped": 1}
    assert nodes["a"]["errors"] == 1
    assert nodes["a"]["last_error"] == "loop limit reached (visits)"
    assert nodes["b"]["outcomes"] == {"a": 50}
    status, same, _ = await team.people["agent"].request(
        "GET", f"{path}/logs/summary?version_id={version['id']}"
    )
    assert same == summary
    status, _, _ = await team.people["agent"].request("GET", f"{path}/logs/summary?version_id=x")
    assert status == 400


async def test_another_tenants_flow_has_no_summary_and_no_test(flow_world: Any) -> None:
    mine, theirs = await flow_world.team(), await flow_world.team()
    status, flow = await create(theirs, LOOP)
    assert status == 201
    path = f"/api/v1/flows/{flow['id']}"
    owner = mine.people["owner"]
    status, _, _ = await owner.request("GET", f"{path}/logs/summary")
    assert status == 404
    status, _, _ = await owner.request("POST", f"{path}/test", json={"messages": ["hi"]})
    assert status == 404
