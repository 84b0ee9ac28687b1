"""Documented answers of the analytics reports and the audit log, checked against real ones; and
the files some operations answer (CSV exports, stored media) as the document declares them.

A team does real work first, so no report is empty: a customer's conversation taken over,
answered and resolved by a person, a flow run that captures a lead, and a campaign sent through
the Graph API simulator; the broadcast service's analytics consumer rolls it up from the bus.
The audit log is read through a second gateway that also forwards to an audit service (the flow
world runs none), once the team is on the Business plan. Validation as in
test_documented_answers.py (majlis.testing.documented_answers: no undocumented key).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from audit.app import create_app as create_audit
from majlis.plans import set_plan
from majlis.testing.browser import Browser
from majlis.testing.documented_answers import CHECKED_ELSEWHERE, Checker
from majlis.testing.stack import start_gateway

FlowWorld = Any  # this folder's conftest.py (not importable under mypy's paths)
Team = Any
PREFIXES = CHECKED_ELSEWHERE[Path(__file__).name]
CSV_EXPORTS = (
    "/api/v1/contacts/export.csv",
    "/api/v1/leads/export.csv",
    "/api/v1/campaigns/{campaign_id}/report.csv",
    "/api/v1/audit/export.csv",
    "/api/v1/conversations/export.csv",
)
MEDIA = "/api/v1/media/{media_id}"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
_FLOW = {
    "name": "Menu",
    "triggers": [{"type": "keyword", "match": "contains", "value": "menu"}],
    "document": {
        "start": "hi",
        "nodes": [
            {"id": "hi", "type": "send_text", "text": "Marhaba! Here is our menu."},
            {"id": "lead", "type": "ai_lead_capture"},
            {"id": "end", "type": "end"},
        ],
        "edges": [{"from": "hi", "to": "lead"}, {"from": "lead", "to": "end"}],
    },
}


@dataclass
class AuditDoor:
    """A gateway forwarding to the flow world's back ends and to an audit service."""

    base: str
    session: aiohttp.ClientSession

    def as_(self, browser: Browser) -> Browser:
        """The same signed-in person, through this gateway (the token is valid at every one)."""
        return Browser(self.session, self.base, browser.ip, dict(browser.cookies), browser.token)


@pytest.fixture(scope="module")
async def audit_door(flow_world: FlowWorld) -> AsyncIterator[AuditDoor]:
    audit = TestServer(create_audit(flow_world.settings), host="127.0.0.1")
    await audit.start_server()
    audit_url = str(audit.make_url("")).rstrip("/")
    settings = flow_world.gateway.settings.model_copy(update={"audit_url": audit_url})
    gateway, session = await start_gateway(settings)
    yield AuditDoor(str(gateway.make_url("")).rstrip("/"), session)
    await session.close()
    await gateway.close()
    await audit.close()


async def test_analytics_audit_and_file_answers_match_the_document(
    flow_world: FlowWorld, audit_door: AuditDoor
) -> None:
    world = flow_world
    team = await world.team()
    owner = team.people["owner"]
    _, document, _ = await owner.request("GET", "/api/v1/openapi.json")
    check = Checker(document)

    campaign_id = await _work(world, team)
    await _analytics(team, check, campaign_id)
    await set_plan(world.pool, team.tenant_id, "business")
    door = audit_door.as_(owner)
    await _audit(check, door)
    await _files(team, document, door, campaign_id)

    assert not check.unchecked(PREFIXES), sorted(check.unchecked(PREFIXES))


async def _work(world: FlowWorld, team: Team) -> str:
    """A conversation a person resolves, a flow run with a lead, a campaign sent; its id."""
    owner = team.people["owner"]
    wamid = await world.say(team, world.fresh_phone(), "Hello, are you open today?")
    rows = await world.until(team, "SELECT conversation_id FROM messages WHERE wamid = $1", wamid)
    base = f"/api/v1/conversations/{rows[0]['conversation_id']}"
    for path, body in (
        ("/takeover", None),
        ("/messages", {"type": "text", "text": "Yes, until 18:00"}),
        ("/status", {"status": "resolved"}),
    ):
        status, answer, _ = await owner.request("POST", base + path, json=body)
        assert status in (200, 201), (path, answer)

    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=_FLOW)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version
    await world.say(team, world.fresh_phone(), "The menu please; I am Layla, layla@example.com")
    await world.until(team, "SELECT 1 FROM flow_sessions WHERE status = 'ended'")
    await world.until(team, "SELECT 1 FROM leads")

    number = {"phone_number_id": team.phone_number_id, "waba_id": team.waba_id, "token": "EAAx"}
    async with world.http.post(f"{world.sim}/_sim/numbers", json=number) as response:
        assert response.status == 201
    template = {"number_id": str(team.number_id), "name": "weekend_offer",
                "category": "MARKETING", "language": "en",
                "components": [{"type": "BODY", "text": "Our weekend offers are in"}]}  # fmt: skip
    status, created, _ = await owner.request("POST", "/api/v1/templates", json=template)
    assert status == 201, created
    # Meta (the simulator) reviews it in a moment; its webhook goes nowhere in this world.
    url = f"{world.sim}/v21.0/{team.waba_id}/message_templates?name={template['name']}"
    async with asyncio.timeout(15):
        while True:
            async with world.http.get(url, headers={"Authorization": "Bearer EAAx"}) as response:
                [listed] = (await response.json())["data"]
            if listed["status"] == "APPROVED":
                break
            await asyncio.sleep(0.1)
    await world.sql(team, "UPDATE templates SET status = 'APPROVED'")
    contact = {"phone": world.fresh_phone(), "name": "Omar", "tags": ["weekend"]}
    assert (await owner.request("POST", "/api/v1/contacts", json=contact))[0] == 201
    campaign_body: dict[str, Any] = {
        "name": "Weekend", "number_id": str(team.number_id), "template_id": created["id"],
        "audience": {"tags": ["weekend"]},
    }  # fmt: skip
    status, campaign, _ = await owner.request("POST", "/api/v1/campaigns", json=campaign_body)
    assert status == 201, campaign
    status, started, _ = await owner.request("POST", f"/api/v1/campaigns/{campaign['id']}/start")
    assert status == 200, started
    await world.until(team, "SELECT 1 FROM campaign_recipients WHERE state = 'sent'")
    return str(campaign["id"])


async def _until(
    check: Checker, client: Browser, template: str, ready: Callable[[Any], bool]
) -> Any:
    """Call `template` (each answer checked) until the rollups caught up (`ready`)."""
    async with asyncio.timeout(30):
        while not ready(answer := await check.call(client, "GET", template)):  # noqa: ASYNC110  (polling the rollups)
            await asyncio.sleep(0.1)
    return answer


async def _analytics(team: Team, check: Checker, campaign_id: str) -> None:
    owner = team.people["owner"]
    owner_id = str(team.user_ids["owner"])
    volumes = await _until(
        check, owner, "/api/v1/analytics/volumes",
        lambda b: b["totals"]["conversations_resolved"] >= 1
        and b["totals"]["campaign_messages_out"] >= 1 and b["totals"]["messages_in"] >= 2,
    )  # fmt: skip
    assert volumes["number_id"] is None
    assert str(team.number_id) in {item["number_id"] for item in volumes["items"]}
    # Limited to the team's number: the range echoes it.
    path = f"/api/v1/analytics/volumes?number_id={team.number_id}"
    status, only, _ = await owner.request("GET", path)
    assert status == 200, only
    check.validate("GET", "/api/v1/analytics/volumes", 200, only)
    assert only["number_id"] == str(team.number_id)

    times = await _until(
        check, owner, "/api/v1/analytics/response-times",
        lambda b: b["first_response"]["count"] >= 1 and b["resolution"]["count"] >= 1,
    )  # fmt: skip
    assert times["resolution"]["median_seconds"] is not None
    # Another number's: nothing counted, no median.
    path = f"/api/v1/analytics/response-times?number_id={uuid.uuid4()}"
    status, none, _ = await owner.request("GET", path)
    assert status == 200, none
    check.validate("GET", "/api/v1/analytics/response-times", 200, none)
    assert none["first_response"] == {"count": 0, "median_seconds": None, "p90_seconds": None}

    agents = await _until(
        check, owner, "/api/v1/analytics/agents",
        lambda b: any(i["user_id"] == owner_id and i["conversations_handled"] for i in b["items"]),
    )  # fmt: skip
    assert agents["items"][0]["replies"] >= 1
    campaigns = await _until(
        check, owner, "/api/v1/analytics/campaigns",
        lambda b: any(i["campaign_id"] == campaign_id and i["daily"] for i in b["items"]),
    )  # fmt: skip
    assert campaigns["items"][0]["funnel"]["sent"] >= 1
    flows = await _until(check, owner, "/api/v1/analytics/flows", lambda b: bool(b["items"]))
    assert flows["items"][0]["completed"] == 1
    assert {"hi", "lead"} <= {n["node_id"] for n in flows["items"][0]["nodes"]}
    leads = await _until(check, owner, "/api/v1/analytics/leads", lambda b: b["total"] >= 1)
    assert {"stage": "new", "count": 1} in leads["by_stage"]
    assert {"source": "flow", "count": 1} in leads["by_source"]


async def _audit(check: Checker, door: Browser) -> None:
    # The team's sign-up, invitations and sign-ins, and the plan change (a system action),
    # appended once the audit service consumed them (after whatever the run queued before).
    async with asyncio.timeout(60):
        while not any(  # noqa: ASYNC110  (polling the audit service)
            item["action"] == "plan.changed"
            for item in (await check.call(door, "GET", "/api/v1/audit/events"))["items"]
        ):
            await asyncio.sleep(0.2)
    # Page by page, two at a time: every page but the last has a cursor.
    entries: list[dict[str, Any]] = []
    query: str | None = "limit=2"
    while query is not None:
        status, page, _ = await door.request("GET", f"/api/v1/audit/events?{query}")
        assert status == 200, page
        check.validate("GET", "/api/v1/audit/events", 200, page)
        entries += page["items"]
        query = f"limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else None
    assert len(entries) > 2
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    system = next(e for e in entries if e["action"] == "plan.changed")
    assert (system["actor_type"], system["actor_id"]) == ("system", None)
    assert any(e["actor_type"] == "user" and e["actor_id"] for e in entries)
    verdict = await check.call(door, "POST", "/api/v1/audit/verify")
    assert (verdict["ok"], verdict["first_broken_seq"]) == (True, None), verdict
    assert verdict["checked"] >= len(entries)


def _documented_type(document: dict[str, Any], template: str) -> str:
    """The one media type the document declares for the operation's 200 answer."""
    [(media_type, content)] = document["paths"][template]["get"]["responses"]["200"][
        "content"
    ].items()
    expected = {"type": "string"}
    if not media_type.startswith("text/"):
        expected["format"] = "binary"
    assert content == {"schema": expected}, (template, content)
    return str(media_type)


def _matches(documented: str, received: str) -> bool:
    """Whether a received Content-Type is of a documented media type (or range, */*)."""
    main, _, sub = documented.partition("/")
    got_main, _, got_sub = received.split(";", 1)[0].strip().lower().partition("/")
    return main in ("*", got_main) and sub in ("*", got_sub)


async def _files(team: Team, document: dict[str, Any], door: Browser, campaign_id: str) -> None:
    owner = team.people["owner"]
    # Each CSV export is documented as text/csv and answers it: a header line, then rows.
    for client, template, path, header in (
        (owner, CSV_EXPORTS[0], CSV_EXPORTS[0], "\ufeffid,phone,name"),
        (owner, CSV_EXPORTS[1], CSV_EXPORTS[1], "\ufeffid,contact_id,stage"),
        (owner, CSV_EXPORTS[2], f"/api/v1/campaigns/{campaign_id}/report.csv", ""),
        (door, CSV_EXPORTS[3], CSV_EXPORTS[3], ""),
        (owner, CSV_EXPORTS[4], CSV_EXPORTS[4] + "?status=all", "\ufeffid,status,contact_name"),
    ):
        documented = _documented_type(document, template)
        assert documented == "text/csv", template
        status, text, response = await client.request("GET", path)
        assert status == 200, (path, text)
        assert _matches(documented, response.headers["Content-Type"]), response.headers
        assert text.startswith(header)
        assert len(text.splitlines()) >= 2, (path, text)

    # A stored file is documented as bytes of any type, and comes back with its own type.
    documented = _documented_type(document, MEDIA)
    assert documented == "*/*"
    form = aiohttp.FormData()
    form.add_field("number_id", str(team.number_id))
    form.add_field("file", io.BytesIO(PDF), filename="menu.pdf", content_type="application/pdf")
    status, uploaded, _ = await owner.request("POST", "/api/v1/media", data=form)
    assert status == 201, uploaded
    headers = {"Authorization": f"Bearer {owner.token}", "X-Forwarded-For": owner.ip}
    url = f"{owner.base}/api/v1/media/{uploaded['id']}"
    async with owner.session.get(url, headers=headers) as response:
        assert response.status == 200
        assert await response.read() == PDF
        assert response.content_type == "application/pdf"
        assert _matches(documented, response.headers["Content-Type"])
