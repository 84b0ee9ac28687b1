"""AI lead capture and `/api/v1/leads`: one lead per contact, encrypted, provider structured
output, stages, filters, CSV export (formula-safe, role-gated) and tenant isolation."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from chatflow.leads import UnknownContact, capture_lead
from majlis.db import tenant_transaction

AiWorld = Any
CAPTURED = "chatflow.lead.captured"
OPENAI_KEY = "sk-test-a1b2c3d4e5f6a7b8c9d0"
GEMINI_KEY = "AIzaSyTest0123456789abcdefghijklmno"
ENGLISH = [
    "Hi, my name is Sarah Johnson and I work at Acme Trading.",
    "I am interested in the 3-bedroom villa. Budget around AED 2.5m, within 3 months.",
]
ARABIC = ["مرحبا، اسمي أحمد المنصوري من شركة النور", "أنا مهتم بشقة غرفتين، ميزانيتي ١٥٠٬٠٠٠ درهم"]


async def test_one_lead_per_contact_updated_not_duplicated(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    contact, conversation = await world.contact(team), uuid.uuid4()
    lead = await capture_lead(team.tenant_id, contact, conversation, ENGLISH)
    assert lead.is_new
    assert lead.stage == "new"
    assert lead.source == "ai"
    assert lead.data.name == "Sarah Johnson"
    assert lead.data.budget_currency == "AED"

    again = await capture_lead(team.tenant_id, contact, None, ["my email is sarah@acme.ae"])
    assert (again.id, again.is_new, again.conversation_id) == (lead.id, False, conversation)
    assert again.data.email == "sarah@acme.ae"
    assert again.data.name == "Sarah Johnson"
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        rows = await conn.fetch("SELECT data_enc FROM leads WHERE contact_id = $1", contact)
    assert len(rows) == 1
    assert b"Sarah" not in rows[0]["data_enc"]

    events = await world.wait_for(CAPTURED, "lead_id", str(lead.id), count=2)
    assert [e["is_new"] for e in events] == [True, False]
    assert set(events[0]) == {"lead_id", "contact_id", "conversation_id", "stage", "source",
                              "is_new"}  # fmt: skip
    assert "Sarah" not in str(events)
    assert "acme" not in str(events)


async def test_arabic_conversation_and_unknown_contacts(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    contact = await world.contact(team)
    lead = await capture_lead(team.tenant_id, contact, None, ARABIC, source="flow")
    assert lead.data.name == "أحمد المنصوري"
    assert lead.data.company == "النور"
    assert (lead.data.budget_amount, lead.data.budget_currency) == (Decimal(150000), "AED")
    assert lead.source == "flow"
    with pytest.raises(UnknownContact):
        await capture_lead(team.tenant_id, uuid.uuid4(), None, ARABIC)
    with pytest.raises(UnknownContact):  # another tenant's contact is unknown here
        await capture_lead(other.tenant_id, contact, None, ARABIC)


async def test_provider_structured_output_fills_the_lead(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    await world.set_provider(team, "openai", OPENAI_KEY)
    world.openai.requests.clear()
    world.openai.replies.append(json.dumps({
        "name": "Sarah J.", "email": None, "phone": "050 765 4321", "company": "Acme",
        "interest": "villa", "budget_amount": 2500000, "budget_currency": "aed",
        "timeline": "Q3",
    }))  # fmt: skip
    lead = await capture_lead(team.tenant_id, await world.contact(team), None,
                              [*ENGLISH, "email: sarah@acme.ae"])  # fmt: skip
    assert (lead.data.name, lead.data.phone, lead.data.timeline) == (
        "Sarah J.",
        "+971507654321",
        "Q3",
    )
    assert lead.data.email == "sarah@acme.ae"  # the rules filled what the model left empty
    assert lead.data.budget_currency == "AED"
    [request] = world.openai.requests
    fmt = request["body"]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False

    await world.set_provider(team, "gemini", GEMINI_KEY)
    world.gemini.requests.clear()
    world.gemini.replies.append('{"name": "Omar", "company": null}')
    lead = await capture_lead(team.tenant_id, await world.contact(team), None, ["hello"])
    assert lead.data.name == "Omar"
    config = world.gemini.requests[0]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["name"] == {"type": "STRING", "nullable": True}

    # A failing provider never loses the lead: the rules alone extract it.
    world.gemini.faults.extend([500, 500, 500])
    lead = await capture_lead(team.tenant_id, await world.contact(team), None, ENGLISH)
    assert lead.data.name == "Sarah Johnson"


async def test_leads_api_stages_filters_and_roles(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    leads = [await capture_lead(team.tenant_id, await world.contact(team), None, ENGLISH)
             for _ in range(3)]  # fmt: skip
    path = f"/api/v1/leads/{leads[0].id}"
    status, got = await world.request(team, "viewer", "GET", path)
    budget = {"amount": 2500000, "currency": "AED"}
    assert (status, got["name"], got["budget"]) == (200, "Sarah Johnson", budget)

    assert (await world.request(team, "viewer", "PATCH", path, {"stage": "qualified"}))[0] == 403
    status, problem = await world.request(team, "agent", "PATCH", path, {"stage": "won"})
    assert (status, problem["type"].rsplit("/", 1)[-1]) == (409, "invalid-stage-transition")
    change = {"stage": "qualified", "company": "Acme LLC", "budget": None}
    status, got = await world.request(team, "agent", "PATCH", path, change)
    assert (status, got["stage"], got["company"], got["budget"]) == (
        200,
        "qualified",
        "Acme LLC",
        None,
    )
    assert (await world.request(team, "admin", "PATCH", path, {"stage": "won"}))[0] == 200
    assert (await world.request(team, "admin", "PATCH", path, {"stage": "lost"}))[0] == 409
    for bad in ({}, {"stage": None}, {"stage": "maybe"}, {"email": "nope"}, {"phone": "12"},
                {"budget": {"amount": 5, "currency": "dirham"}}, {"extra": 1}):  # fmt: skip
        status, _ = await world.request(team, "agent", "PATCH", path, bad)
        assert status == 422, bad

    status, page = await world.request(team, "viewer", "GET", "/api/v1/leads?stage=new&limit=1")
    assert status == 200
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    status, rest = await world.request(
        team, "viewer", "GET", f"/api/v1/leads?stage=new&limit=5&after={page['next_cursor']}"
    )
    ids = {page["items"][0]["id"], *(r["id"] for r in rest["items"])}
    assert ids == {str(leads[1].id), str(leads[2].id)}
    status, won = await world.request(team, "viewer", "GET", "/api/v1/leads?stage=won&source=ai")
    assert [r["id"] for r in won["items"]] == [str(leads[0].id)]
    assert (await world.request(team, "viewer", "GET", "/api/v1/leads?source=x"))[0] == 422
    assert (await world.request(team, "viewer", "GET", "/api/v1/leads?limit=0"))[0] == 422

    audits = await world.wait_for("chatflow.audit.recorded", "target_id", str(leads[0].id), 2)
    assert audits[0]["changes"] == ["stage", "budget_amount", "budget_currency", "company"]
    assert "Acme" not in str(audits)


async def test_csv_export_is_formula_safe_and_role_gated(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    lead = await capture_lead(team.tenant_id, await world.contact(team), None, ARABIC)
    hostile = {"name": "=HYPERLINK(\"http://evil\")", "company": "@SUM(A1)",
               "interest": "-2+3", "timeline": "+1 week"}  # fmt: skip
    status, _ = await world.request(team, "agent", "PATCH", f"/api/v1/leads/{lead.id}", hostile)
    assert status == 200
    for role in ("agent", "viewer"):
        assert (await world.request(team, role, "GET", "/api/v1/leads/export.csv"))[0] == 403
    status, text = await world.request(team, "owner", "GET", "/api/v1/leads/export.csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    [row] = rows
    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert row["company"] == "'@SUM(A1)"
    assert row["interest"] == "'-2+3"
    assert row["timeline"] == "'+1 week"
    assert (row["budget_amount"], row["budget_currency"]) == ("150000", "AED")
    audits = await world.wait_for("chatflow.audit.recorded", "action", "leads.exported")
    assert any(a["details"] == {"rows": 1, "complete": True} for a in audits)


async def test_another_tenants_lead_is_not_found(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    lead = await capture_lead(team.tenant_id, await world.contact(team), None, ENGLISH)
    path = f"/api/v1/leads/{lead.id}"
    assert (await world.request(other, "owner", "GET", path))[0] == 404
    assert (await world.request(other, "owner", "PATCH", path, {"stage": "lost"}))[0] == 404
    assert (await world.request(other, "owner", "GET", "/api/v1/leads/nope"))[0] == 404
    status, listed = await world.request(other, "owner", "GET", "/api/v1/leads")
    assert (status, listed["items"]) == (200, [])
    status, text = await world.request(other, "owner", "GET", "/api/v1/leads/export.csv")
    assert status == 200
    assert "Sarah" not in text
    status, got = await world.request(team, "owner", "GET", path)
    assert (status, got["stage"]) == (200, "new")


async def test_erasing_the_contact_erases_its_lead(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    contact = await world.contact(team)
    lead = await capture_lead(team.tenant_id, contact, None, ENGLISH)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute("DELETE FROM contacts WHERE id = $1", contact)  # what erasure does
    assert (await world.request(team, "owner", "GET", f"/api/v1/leads/{lead.id}"))[0] == 404
