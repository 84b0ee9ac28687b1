"""Message templates against the Graph API simulator: create (validated, encrypted, submitted),
list/get/delete, status sync from template webhooks (as webhook-ingest publishes them),
idempotency and ordering, roles, tenant isolation, and the parameter check."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from broadcast.templates import TemplateParameterError, check_parameters
from majlis.db import tenant_transaction
from majlis.graphsim.payloads import template_event
from webhook_ingest.envelopes import envelope_for
from webhook_ingest.parsing import parse_webhook

# The world's classes live in this folder's conftest.py (not importable under mypy's paths).
TemplateWorld = Any
Team = Any
UPDATED, AUDIT = "broadcast.template.updated", "broadcast.audit.recorded"

BODY = "Hello {{1}}, your order {{2}} is ready. Thank you for shopping with us."
OTP_BUTTONS = {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}
AUTHENTICATION: list[dict[str, Any]] = [
    {"type": "BODY", "add_security_recommendation": True},
    {"type": "FOOTER", "code_expiration_minutes": 10},
    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}]},
]


def template_body(team: Team, name: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number_id": str(team.number_id),
        "name": name or f"order_ready_{secrets.token_hex(4)}",
        "category": "UTILITY",
        "language": "en_US",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}",
             "example": {"header_text": ["A-17"]}},
            {"type": "BODY", "text": BODY, "example": {"body_text": [["Sara", "A-17"]]}},
            {"type": "FOOTER", "text": "Majlis Store"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Thanks"},
                {"type": "URL", "text": "Track", "url": "https://shop.example/t/{{1}}",
                 "example": ["A-17"]},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+97143000000"},
            ]},
        ],
    }  # fmt: skip
    body.update(overrides)
    return body


async def create(world: TemplateWorld, team: Team, **kw: Any) -> dict[str, Any]:
    status, body = await world.request(
        team, "owner", "POST", "/api/v1/templates", template_body(team, **kw)
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def webhook(
    world: TemplateWorld, team: Team, template: dict[str, Any], event: str, *,
    reason: str = "NONE", entry_time: int | None = None, extra: dict[str, Any] | None = None,
    waba_id: str | None = None,
) -> Any:  # fmt: skip
    """Publish a template status webhook exactly as webhook-ingest does for a real payload."""
    value = template_event(
        template["meta_template_id"], template["name"], template["language"],
        template["category"], event, reason,
    )  # fmt: skip
    value.update(extra or {})
    document = {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id or team.waba_id,
            "time": entry_time or int(time.time()),
            "changes": [{"field": "message_template_status_update", "value": value}],
        }],
    }  # fmt: skip
    [item] = parse_webhook(document).items
    envelope = envelope_for(item, team.tenant_id, datetime.now(UTC))
    await world.publisher.publish(envelope)
    return envelope


async def status_becomes(
    world: TemplateWorld, team: Team, template_id: str, status: str, within: float = 5.0
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            code, body = await world.request(
                team, "viewer", "GET", f"/api/v1/templates/{template_id}"
            )
            assert code == 200
            if body["status"] == status:
                return body  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_create_is_validated_encrypted_and_pending_at_the_simulator(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team)
    assert created["status"] == "PENDING"
    assert created["meta_template_id"]
    assert created["waba_id"] == team.waba_id

    # At Meta (the simulator), under the number's WABA and token, PENDING.
    [at_meta] = [
        t
        for t in await world.graph.list_templates(team.waba_id, team.token)
        if t["name"] == created["name"]
    ]
    assert at_meta["id"] == created["meta_template_id"]
    assert at_meta["status"] == "PENDING"
    assert at_meta["components"][1]["text"] == BODY

    # Stored encrypted: no plaintext of the body in the row.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow("SELECT * FROM templates WHERE id = $1", uuid.UUID(created["id"]))
    assert row is not None
    assert b"your order" not in row["content_enc"]
    assert row["status"] == "PENDING"

    code, got = await world.request(team, "agent", "GET", f"/api/v1/templates/{created['id']}")
    assert code == 200
    assert got["components"][1] == {
        "type": "BODY", "text": BODY, "example": {"body_text": [["Sara", "A-17"]]},
    }  # fmt: skip

    # Same name and language again: 409; the same name in Arabic is another template.
    code, problem = await world.request(
        team, "admin", "POST", "/api/v1/templates", template_body(team, created["name"])
    )
    assert code == 409
    assert problem["type"].endswith("/template-exists")
    arabic = await create(world, team, name=created["name"], language="ar")
    assert arabic["id"] != created["id"]

    audits = world.of(AUDIT, "target_id", created["id"])
    for _ in range(100):
        if audits:
            break
        await asyncio.sleep(0.05)
        audits = world.of(AUDIT, "target_id", created["id"])
    assert [a["action"] for a in audits] == ["templates.created"]
    assert BODY not in str(audits)


async def test_authentication_template_is_created_as_meta_takes_it(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team, category="AUTHENTICATION", components=AUTHENTICATION)
    assert (created["status"], created["category"]) == ("PENDING", "AUTHENTICATION")
    assert created["components"] == AUTHENTICATION  # stored and shown as submitted
    [at_meta] = [
        t
        for t in await world.graph.list_templates(team.waba_id, team.token)
        if t["name"] == created["name"]
    ]
    body, footer, buttons = at_meta["components"]
    assert body["text"].startswith("{{1}} is your verification code.")
    assert footer["text"] == "This code expires in 10 minutes."
    assert buttons["buttons"][0]["type"] == "URL"  # Meta shows the OTP button as a URL button
    # The code fills the body and the copy-code button, nothing else.
    code = [{"type": "text", "text": "482913"}]
    check_parameters(AUTHENTICATION, [
        {"type": "body", "parameters": code},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": code},
    ])  # fmt: skip
    with pytest.raises(TemplateParameterError):
        check_parameters(AUTHENTICATION, [{"type": "body", "parameters": code}])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"category": "PROMO"}, "category"),
        ({"language": "english"}, "language"),
        ({"components": [{"type": "BODY", "text": "Hi {{1}} and {{3}} ok",
                          "example": {"body_text": [["a", "b"]]}}]}, "components.0.text"),
        ({"components": [{"type": "BODY", "text": "Hi {{1}} there"}]},
         "components.0.example.body_text"),
        ({"components": [{"type": "BODY", "text": "x" * 1025}]}, "components.0.text"),
        ({"components": [{"type": "BODY", "text": "Hi"}, {"type": "FOOTER", "text": "f" * 61}]},
         "components.1.text"),
        ({"components": [{"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}"},
                         {"type": "BODY", "text": "Hi"}]}, "components.0.text"),
        ({"components": [{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": f"u{i}", "url": "https://a.example"} for i in range(3)]}]},
         "components.1.buttons"),
        ({"components": [{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [
            {"type": "PHONE_NUMBER", "text": f"p{i}", "phone_number": "+971500000000"}
            for i in range(2)]}]}, "components.1.buttons"),
        ({"components": [{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": f"q{i}"} for i in range(11)]}]},
         "components.1"),
        ({"components": [{"type": "FOOTER", "text": "only a footer"}]}, "components"),
        ({"number_id": str(uuid.uuid4())}, "number_id"),
        ({"secret": 1}, "secret"),
        # Authentication templates: Meta's preset text, one copy-code OTP button, 1-90 minutes.
        ({"category": "AUTHENTICATION", "components": [
            {"type": "BODY", "text": "Your code is {{1}} today",
             "example": {"body_text": [["123456"]]}}, OTP_BUTTONS]}, "components.0.text"),
        ({"category": "AUTHENTICATION", "components": [
            {"type": "BODY", "add_security_recommendation": True}]}, "components"),
        ({"category": "AUTHENTICATION", "components": [{"type": "BODY"}, {
            "type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Hi"}]}]},
         "components.1.buttons"),
        ({"category": "AUTHENTICATION", "components": [{"type": "BODY"}, {
            "type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "ONE_TAP"}]}]},
         "components.1.BUTTONS.buttons.0.otp_type"),
        ({"category": "AUTHENTICATION", "components": [{"type": "BODY"}, OTP_BUTTONS, {
            "type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}]},
         "components"),
        ({"category": "AUTHENTICATION", "components": [
            {"type": "BODY"}, {"type": "FOOTER", "code_expiration_minutes": 0}, OTP_BUTTONS]},
         "components.1.code_expiration_minutes"),
        ({"category": "AUTHENTICATION", "components": [
            {"type": "BODY"}, {"type": "FOOTER", "code_expiration_minutes": 91}, OTP_BUTTONS]},
         "components.1.code_expiration_minutes"),
        ({"category": "AUTHENTICATION", "components": [
            {"type": "BODY"}, {"type": "FOOTER", "text": "Soon"}, OTP_BUTTONS]},
         "components.1"),
        ({"category": "AUTHENTICATION", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Code"}, {"type": "BODY"}, OTP_BUTTONS]},
         "components.0"),
        ({"components": [{"type": "BODY", "text": "Hi"}, OTP_BUTTONS]}, "components.1.buttons.0"),
        ({"components": [{"type": "BODY", "text": "Hi", "add_security_recommendation": True}]},
         "components.0.add_security_recommendation"),
        ({"components": [{"type": "BODY", "text": "Hi"},
                         {"type": "FOOTER", "text": "f", "code_expiration_minutes": 5}]},
         "components.1.code_expiration_minutes"),
        ({"components": [{"type": "BODY"}]}, "components.0.text"),
    ],
)  # fmt: skip
async def test_invalid_templates_are_422_with_field_errors_and_nothing_stored(
    template_world: TemplateWorld, change: dict[str, Any], field: str
) -> None:
    world = template_world
    team = await world.team()
    code, problem = await world.request(
        team, "owner", "POST", "/api/v1/templates", template_body(team, **change)
    )
    assert code == 422, problem
    fields = [e["field"] for e in problem["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM templates") == 0
    assert await world.graph.list_templates(team.waba_id, team.token) == []


async def test_approval_webhook_sets_approved_idempotently_and_older_events_are_ignored(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team)
    now = int(time.time())
    approved = await webhook(world, team, created, "APPROVED", entry_time=now)
    started = time.monotonic()
    await status_becomes(world, team, created["id"], "APPROVED")
    assert time.monotonic() - started < 5

    # Redelivery (same envelope id) and an older PENDING arriving late: no change, no event.
    await world.publisher.publish(approved)
    await webhook(world, team, created, "PENDING", entry_time=now - 60)
    await asyncio.sleep(0.7)
    code, got = await world.request(team, "viewer", "GET", f"/api/v1/templates/{created['id']}")
    assert got["status"] == "APPROVED"
    statuses = [e["status"] for e in world.of(UPDATED, "template_id", created["id"])]
    assert statuses == ["PENDING", "APPROVED"]
    audits = [a for a in world.of(AUDIT, "target_id", created["id"])
              if a["action"] == "templates.status.changed"]  # fmt: skip
    assert [a["details"]["status"] for a in audits] == ["APPROVED"]
    assert audits[0]["actor_type"] == "system"

    # A later PAUSED of the same second applies, with its pause title as the reason.
    pause = {"other_info": {"title": "FIRST_PAUSE", "description": "quality"}}
    await webhook(world, team, created, "PAUSED", entry_time=now, extra=pause)
    paused = await status_becomes(world, team, created["id"], "PAUSED")
    assert paused["reason"] == "FIRST_PAUSE"
    # Redelivering the APPROVED webhook now (same entry time, so not stale) is a duplicate.
    await world.publisher.publish(approved)
    await asyncio.sleep(0.5)
    code, got = await world.request(team, "viewer", "GET", f"/api/v1/templates/{created['id']}")
    assert got["status"] == "PAUSED"
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = 'broadcast.templates'"
            " AND event_id = $1",
            approved.id,
        )
    assert claims == 1

    # List filters by status and name.
    code, page = await world.request(team, "viewer", "GET", "/api/v1/templates?status=paused")
    assert code == 200
    assert [t["id"] for t in page["items"]] == [created["id"]]
    code, page = await world.request(team, "viewer", "GET", "/api/v1/templates?status=APPROVED")
    assert page["items"] == []


async def test_rejection_webhook_stores_the_reason(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team, name=f"reject_me_{secrets.token_hex(3)}")
    await webhook(world, team, created, "REJECTED", reason="INVALID_FORMAT")
    rejected = await status_becomes(world, team, created["id"], "REJECTED")
    assert rejected["reason"] == "INVALID_FORMAT"


async def test_list_is_keyset_paginated_and_query_is_validated(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    ids = [(await create(world, team))["id"] for _ in range(3)]
    code, first = await world.request(team, "viewer", "GET", "/api/v1/templates?limit=2")
    assert code == 200
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    code, second = await world.request(
        team, "viewer", "GET", f"/api/v1/templates?limit=2&after={first['next_cursor']}"
    )
    assert second["next_cursor"] is None
    assert [t["id"] for t in first["items"] + second["items"]] == ids[::-1]
    assert "components" not in first["items"][0]
    for query in ("limit=0", "limit=abc", "status=bad-status", "name=Bad%20Name", "after=%%%"):
        code, problem = await world.request(team, "viewer", "GET", f"/api/v1/templates?{query}")
        assert code == 422, (query, problem)


async def test_roles_viewer_and_agent_cannot_create_or_delete(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    team = await world.team()
    for role in ("agent", "viewer"):
        code, problem = await world.request(
            team, role, "POST", "/api/v1/templates", template_body(team)
        )
        assert code == 403
        assert problem["type"].endswith("/forbidden-role")
    created = await create(world, team)
    for role in ("agent", "viewer"):
        code, _ = await world.request(team, role, "DELETE", f"/api/v1/templates/{created['id']}")
        assert code == 403
    code, _ = await world.request(team, "viewer", "GET", f"/api/v1/templates/{created['id']}")
    assert code == 200
    async with world.http.get(world.url + "/api/v1/templates") as response:
        assert response.status == 401


async def test_other_tenant_gets_404_on_get_and_delete_and_nothing_changes(
    template_world: TemplateWorld,
) -> None:
    world = template_world
    mine, theirs = await world.team(), await world.team()
    created = await create(world, mine)
    path = f"/api/v1/templates/{created['id']}"
    unknown = f"/api/v1/templates/{uuid.uuid4()}"
    for method in ("GET", "DELETE"):
        code, problem = await world.request(theirs, "owner", method, path)
        code_unknown, problem_unknown = await world.request(theirs, "owner", method, unknown)
        assert (code, code_unknown) == (404, 404)
        assert problem["title"] == problem_unknown["title"]
    code, page = await world.request(theirs, "owner", "GET", "/api/v1/templates")
    assert page["items"] == []
    # Their number id in my request is unknown too.
    code, _ = await world.request(
        mine, "owner", "POST", "/api/v1/templates",
        template_body(mine, number_id=str(theirs.number_id)),
    )  # fmt: skip
    assert code == 422
    # A webhook naming my WABA and template, routed to their tenant, changes nothing.
    await webhook(world, theirs, created, "APPROVED", waba_id=mine.waba_id)
    await asyncio.sleep(0.5)
    code, got = await world.request(mine, "owner", "GET", path)
    assert code == 200
    assert got["status"] == "PENDING"
    assert [t["id"] for t in await world.graph.list_templates(mine.waba_id, mine.token)] == [
        created["meta_template_id"]
    ]


async def test_delete_removes_at_meta_then_here(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team)
    code, _ = await world.request(team, "admin", "DELETE", f"/api/v1/templates/{created['id']}")
    assert code == 204
    code, _ = await world.request(team, "admin", "GET", f"/api/v1/templates/{created['id']}")
    assert code == 404
    assert await world.graph.list_templates(team.waba_id, team.token) == []
    code, _ = await world.request(team, "admin", "DELETE", f"/api/v1/templates/{created['id']}")
    assert code == 404


async def test_meta_refusal_is_a_problem_and_nothing_is_kept(template_world: TemplateWorld) -> None:
    world = template_world
    team = await world.team()
    created = await create(world, team)
    # The simulator already holds this name+language under the WABA: Meta refuses (2388024).
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute("DELETE FROM templates WHERE id = $1", uuid.UUID(created["id"]))
    code, problem = await world.request(
        team, "owner", "POST", "/api/v1/templates", template_body(team, created["name"])
    )
    assert code == 422, problem
    assert problem["type"].endswith("/meta-rejected")
    assert problem["meta_code"] == 100
    assert problem["meta_subcode"] == 2388024
    assert team.token not in str(problem)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM templates") == 0


TEMPLATE = template_body(type("T", (), {"number_id": uuid.uuid4()})())["components"]


def test_check_parameters_accepts_a_complete_send() -> None:
    check_parameters(TEMPLATE, [
        {"type": "header", "parameters": [{"type": "text", "text": "A-17"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Sara"},
                                        {"type": "text", "text": "A-17"}]},
        {"type": "button", "sub_type": "url", "index": "1",
         "parameters": [{"type": "text", "text": "A-17"}]},
    ])  # fmt: skip
    media = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}]
    check_parameters(media, [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "123"}}]}
    ])  # fmt: skip


@pytest.mark.parametrize(
    "components",
    [
        [],  # nothing given
        [{"type": "header", "parameters": [{"type": "text", "text": "A"}]},
         {"type": "body", "parameters": [{"type": "text", "text": "Sara"}]},
         {"type": "button", "sub_type": "url", "index": "1",
          "parameters": [{"type": "text", "text": "x"}]}],  # one body parameter short
        [{"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]},
         {"type": "body", "parameters": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]},
         {"type": "button", "sub_type": "url", "index": "1",
          "parameters": [{"type": "text", "text": "x"}]}],  # wrong kind in the header
        [{"type": "header", "parameters": [{"type": "text", "text": "A"}]},
         {"type": "body", "parameters": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]},
         {"type": "footer", "parameters": []},
         {"type": "button", "sub_type": "url", "index": "1",
          "parameters": [{"type": "text", "text": "x"}]}],  # a footer takes none
        [{"type": "header", "parameters": [{"type": "text", "text": "A"}]},
         {"type": "body", "parameters": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": " "}]},
         {"type": "button", "sub_type": "url", "index": "1",
          "parameters": [{"type": "text", "text": "x"}]}],  # an empty text
    ],
)  # fmt: skip
def test_check_parameters_refuses_wrong_count_or_kind(components: list[dict[str, Any]]) -> None:
    with pytest.raises(TemplateParameterError):
        check_parameters(TEMPLATE, components)
