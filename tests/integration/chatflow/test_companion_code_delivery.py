"""The companion's code on the real path (gateway → chatflow → outbox → dispatcher → simulator)
when the owner never wrote to the business number: with an approved AUTHENTICATION template the
owner's phone gets the template, the code in its body and its copy-code button, and that code
confirms the number; without one the code goes as free text, which Meta refuses outside the
24-hour window (131047), and the answer says so."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from majlis.graphsim.payloads import template_event
from webhook_ingest.envelopes import envelope_for
from webhook_ingest.parsing import parse_webhook

FlowWorld = Any
PATH = "/api/v1/companion"
AUTHENTICATION = [
    {"type": "BODY", "add_security_recommendation": True},
    {"type": "FOOTER", "code_expiration_minutes": 10},
    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
]


async def _approved_authentication_template(world: FlowWorld, team: Any, name: str) -> None:
    """Create the template through the API; once Meta approves it, its webhook arrives."""
    owner = team.people["owner"]
    # Meta knows which WABA the number belongs to (the simulator only once told: it is lax).
    number = {"phone_number_id": team.phone_number_id, "waba_id": team.waba_id, "token": "EAAx"}
    async with world.http.post(f"{world.sim}/_sim/numbers", json=number) as response:
        assert response.status == 201
    body = {"number_id": str(team.number_id), "name": name, "category": "AUTHENTICATION",
            "language": "en", "components": AUTHENTICATION}  # fmt: skip
    status, created, _ = await owner.request("POST", "/api/v1/templates", json=body)
    assert status == 201, created
    # The simulator reviews it (a couple of seconds); its webhook goes nowhere in this world,
    # so it is published here exactly as webhook-ingest would publish it.
    url = f"{world.sim}/v21.0/{team.waba_id}/message_templates?name={name}"
    headers = {"Authorization": "Bearer EAAlisting"}
    async with asyncio.timeout(10):
        while True:
            async with world.http.get(url, headers=headers) as response:
                [listed] = (await response.json())["data"]
            if listed["status"] == "APPROVED":
                break
            await asyncio.sleep(0.1)
    value = template_event(created["meta_template_id"], name, "en", "AUTHENTICATION",
                           "APPROVED", "NONE")  # fmt: skip
    document = {"object": "whatsapp_business_account", "entry": [{
        "id": team.waba_id, "time": int(time.time()),
        "changes": [{"field": "message_template_status_update", "value": value}],
    }]}  # fmt: skip
    [item] = parse_webhook(document).items
    await world.publisher.publish(envelope_for(item, team.tenant_id, datetime.now(UTC)))
    async with asyncio.timeout(10):
        while True:
            status, shown, _ = await owner.request("GET", f"/api/v1/templates/{created['id']}")
            if shown["status"] == "APPROVED":
                return
            await asyncio.sleep(0.05)


async def test_code_reaches_the_owner_through_an_authentication_template(
    flow_world: FlowWorld,
) -> None:
    world = flow_world
    team = await world.team()
    await _approved_authentication_template(world, team, "companion_code")
    phone = world.fresh_phone()  # never wrote to the business number: no open window
    owner = team.people["owner"]
    status, shown, _ = await owner.request(
        "PUT", PATH, json={"phone": phone, "number_id": str(team.number_id)}
    )
    assert status == 202, shown
    assert shown["code_delivery"] == {
        "via": "template", "template": "companion_code", "language": "en",
    }  # fmt: skip
    assert shown["status"] == "pending"

    [sent] = await world.sent_count(team, 1)
    assert (sent["type"], sent["wa_id"]) == ("template", phone.lstrip("+"))
    template = sent["payload"]["template"]
    assert (template["name"], template["language"]) == ("companion_code", {"code": "en"})
    body, button = template["components"]
    code = body["parameters"][0]["text"]
    assert len(code) == 6
    assert code.isdigit()
    assert (button["sub_type"], button["index"]) == ("url", "0")
    assert button["parameters"] == [{"type": "text", "text": code}]

    status, confirmed, _ = await owner.request("POST", f"{PATH}/verify", json={"code": code})
    assert (status, confirmed["status"]) == (200, "verified"), confirmed


async def test_without_an_authentication_template_the_code_is_free_text_and_says_so(
    flow_world: FlowWorld,
) -> None:
    world = flow_world
    team = await world.team()
    phone = world.fresh_phone()
    owner = team.people["owner"]
    status, shown, _ = await owner.request(
        "PUT", PATH, json={"phone": phone, "number_id": str(team.number_id)}
    )
    assert status == 202, shown
    assert shown["code_delivery"]["via"] == "text"
    assert "last 24 hours" in shown["code_delivery"]["hint"]
    # Meta refuses free text to someone who never wrote: the send fails with 131047.
    [row] = await world.until(team, "SELECT error_code FROM outbound_sends WHERE state = 'failed'")
    assert row["error_code"] == 131047
    assert await world.sent(team) == []
