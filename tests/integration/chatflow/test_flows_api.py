"""The flow API: roles, validation errors, immutable versions, loop limits, cross-tenant 404."""

from __future__ import annotations

from typing import Any

import asyncpg
import hypothesis
import pytest
from hypothesis import strategies as st

from majlis.db import tenant_transaction
from majlis.plans import set_plan
from majlis.testing.fuzzing import JSON_VALUES, count, flow_documents, http_sample_size

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


async def test_roles_validation_and_immutable_versions(flow_world: Any, admin_pool: Any) -> None:
    team = await flow_world.team()
    status, problem = await create(team, {"start": "x", "nodes": [{"id": "x", "type": "nope"}]})
    assert status == 422
    assert problem["errors"][0]["node_id"] == "x"
    status, flow = await create(team, LOOP)
    assert status == 201, flow
    path = f"/api/v1/flows/{flow['id']}"
    for role in ("agent", "viewer"):
        status, _, _ = await team.people[role].request("GET", path)
        assert status == 200
        status, _, _ = await team.people[role].request("POST", f"{path}/publish")
        assert status == 403
    status, version, _ = await team.people["admin"].request("POST", f"{path}/publish")
    assert status == 201, version
    async with tenant_transaction(flow_world.pool, team.tenant_id) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the app may not even try
            await conn.execute("UPDATE flow_versions SET document = '{}'::jsonb")
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):  # nor even a superuser
        await admin_pool.execute(
            "UPDATE flow_versions SET document = '{}'::jsonb WHERE tenant_id = $1", team.tenant_id
        )
    status, versions, _ = await team.people["viewer"].request("GET", f"{path}/versions")
    assert status == 200
    assert [v["version"] for v in versions["items"]] == [1]


async def test_another_tenants_flow_and_logs_are_not_found(flow_world: Any) -> None:
    mine, theirs = await flow_world.team(), await flow_world.team()
    status, flow = await create(theirs, LOOP)
    assert status == 201
    path = f"/api/v1/flows/{flow['id']}"
    owner = mine.people["owner"]
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"name": "x", "document": LOOP}),
        ("DELETE", "", None),
        ("POST", "/publish", None),
        ("GET", "/versions", None),
        ("GET", "/logs", None),
        ("POST", "/runs", {"conversation_id": flow["id"]}),
    ):
        status, answer, _ = await owner.request(method, path + suffix, json=body)
        assert status == 404, (method, suffix, answer)
    status, listed, _ = await owner.request("GET", "/api/v1/flows")
    assert status == 200
    assert listed["items"] == []


async def test_a_loop_stops_at_the_visit_limit_and_hands_off(flow_world: Any) -> None:
    team = await flow_world.team()
    status, flow = await create(
        team, LOOP, triggers=[{"type": "keyword", "match": "contains", "value": "مرحبا"}]
    )
    assert status == 201
    status, _, _ = await team.people["owner"].request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201
    # Arabic normalised: diacritics and tatweel do not stop a `contains` keyword.
    await flow_world.say(team, flow_world.fresh_phone(), "أهلاً مَرحَبــا")
    await flow_world.until(team, "SELECT 1 FROM conversations WHERE controller = 'human'")
    [session] = await flow_world.sql(team, "SELECT end_reason, visits FROM flow_sessions")
    assert session["end_reason"] == "loop_limit"
    assert session["visits"]["a"] == 51
    status, logs, _ = await team.people["viewer"].request(
        "GET", f"/api/v1/flows/{flow['id']}/logs?outcome=loop_stopped"
    )
    assert status == 200
    assert [item["node_id"] for item in logs["items"]] == ["a"]


_TRIGGERS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["keyword", "first_message", "nope"]),
            "match": st.sampled_from(["exact", "regex"]),
            "value": st.sampled_from(["hi", "a{99999999999}", "(x"]) | st.text(max_size=8),
        }
    ),
    max_size=2,
)


def _generated(strategy: st.SearchStrategy[Any], size: int) -> list[Any]:
    """`size` inputs drawn by hypothesis under the active profile (derandomized in CI)."""
    drawn: list[Any] = []

    @hypothesis.settings(max_examples=size)
    @hypothesis.given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn[:size]


async def test_fuzz_generated_flows_answer_201_or_a_problem_never_5xx(flow_world: Any) -> None:
    """The HTTP sample on top of tests/unit/chatflow/test_fuzz_flow_validation.py."""
    team = await flow_world.team()
    owner = team.people["owner"]
    bodies = st.one_of(
        st.fixed_dictionaries({"name": st.just("F"), "document": flow_documents()}),
        st.fixed_dictionaries(
            {"name": st.just("F"), "document": flow_documents(), "triggers": _TRIGGERS}
        ),
        JSON_VALUES,
    )
    # Regression: re.compile's OverflowError escaped both regex checks (a 500, now a 422).
    overflow = {"start": "a", "nodes": [{"id": "a", "type": "ask_question", "text": "?",
                "variable": "v", "validation": {"pattern": "a{99999999999}"}}]}  # fmt: skip
    trigger = {"type": "keyword", "match": "regex", "value": "a{99999999999}"}
    samples = [
        {"name": "F", "document": overflow},
        {"name": "F", "document": LOOP, "triggers": [trigger]},
        *_generated(bodies, http_sample_size()),
    ]
    count("flows API (POST /api/v1/flows)", len(samples))
    statuses = []
    for body in samples:
        status, answer, response = await owner.request("POST", "/api/v1/flows", json=body)
        assert status == 201 or 400 <= status < 500, (status, answer)
        if status != 201:
            assert response.content_type == "application/problem+json"
        statuses.append(status)
    assert statuses[:2] == [422, 422]


async def test_the_plan_caps_the_flows(flow_world: Any) -> None:
    team = await flow_world.team()
    for _ in range(20):  # Starter: twenty flows
        status, flow = await create(team, LOOP)
        assert status == 201, flow
    status, problem = await create(team, LOOP)
    assert status == 403
    assert problem["type"].endswith("/plan-limit-reached")
    assert (problem["limit"], problem["allowed"]) == ("flows", 20)
    await set_plan(flow_world.pool, team.tenant_id, "business")
    assert (await create(team, LOOP))[0] == 201
