"""Plants distinctive canaries through every path that handles a secret or a customer's data.

It runs near the end of the suite (tests/conftest.py orders it) and leaves its tenant in place,
so that tests/integration/test_secret_scan.py, which runs right after it, finds every canary's
rows in the database and every log line the paths wrote. What it plants: a password, a Meta
access token (a number), an API key, an AI provider key, a contact's phone, name and email, and
message bodies received (through webhook-ingest's HTTP door, signed) and sent (an agent's reply
that the dispatcher sends to the Graph API simulator).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from majlis.testing.browser import fresh_email
from majlis.testing.secret_scan import phone_forms, plant
from webhook_ingest.app import create_app as create_ingest


def _canary(prefix: str) -> str:
    return f"{prefix}canary{secrets.token_hex(8)}"


def _fresh_e164() -> str:
    return "+97155" + str(1_000_000 + secrets.randbelow(8_999_999))


async def _receive_through_ingest(world: Any, team: Any, phone: str, text: str) -> str:
    """A signed webhook for a customer's text, POSTed to an in-process webhook-ingest."""
    wamid = "wamid." + secrets.token_hex(16)
    await world.open_window(team, phone)
    body = orjson.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": team.waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "97143000000",
                         "phone_number_id": team.phone_number_id},
            "contacts": [{"profile": {"name": "Canary Customer"}, "wa_id": phone.lstrip("+")}],
            "messages": [{"from": phone.lstrip("+"), "id": wamid, "timestamp": "1757600000",
                          "type": "text", "text": {"body": text}}]}}]}]})  # fmt: skip
    secret = world.settings.meta_app_secret.get_secret_value()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    async with TestClient(TestServer(create_ingest(world.settings))) as ingest:
        response = await ingest.post(
            "/webhooks/whatsapp",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )
        assert response.status == 200, await response.text()
    return wamid


async def test_canaries_through_every_path(flow_world: Any) -> None:
    team = await flow_world.team()
    owner = team.people["owner"]
    # Kept after the module (the database is recreated per `make test`): the scan needs its rows.
    flow_world.gateway.tenants.remove(team.tenant_id)

    # A person signs up and signs in with a password.
    password = plant("password", _canary("pass "))
    person = flow_world.gateway.browser()
    email, _ = await person.register(email=fresh_email("canary"), password=password)
    assert (await person.login(email, password))[0] == 200

    # A number with its Meta access token.
    token = plant("Meta access token", _canary("EAA"))
    status, number, _ = await owner.request("POST", "/api/v1/numbers", json={
        "phone_number_id": str(10**14 + secrets.randbelow(9 * 10**14)), "waba_id": team.waba_id,
        "display_number": "+971 4 300 0000", "access_token": token})  # fmt: skip
    assert status == 201, number

    # An API key (shown once) and an AI provider key.
    status, key, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "canary", "scopes": ["contacts:read"]}
    )
    assert status == 201, key
    plant("API key", key["key"])
    ai_key = plant("AI provider key", _canary("sk-"))
    status, ai, _ = await owner.request(
        "PUT", "/api/v1/ai/settings", json={"provider": "openai", "model": "gpt-4o-mini",
                                            "api_key": ai_key})  # fmt: skip
    assert status == 200, ai

    # A contact created by hand: phone, name and email are PII.
    contact_phone = _fresh_e164()
    for form in phone_forms(contact_phone):
        plant("contact phone", form)
    status, contact, _ = await owner.request("POST", "/api/v1/contacts", json={
        "phone": contact_phone, "name": plant("contact name", _canary("Name ")),
        "email": plant("contact email", _canary("mail") + "@example.com")})  # fmt: skip
    assert status == 201, contact

    # A customer writes (signed webhook through the ingest), an agent answers.
    customer = _fresh_e164()
    for form in phone_forms(customer):
        plant("customer phone", form)
    inbound = plant("inbound message body", _canary("Inbound body "))
    wamid = await _receive_through_ingest(flow_world, team, customer, inbound)
    [stored] = await flow_world.until(
        team, "SELECT conversation_id FROM messages WHERE wamid = $1", wamid
    )
    conversation = f"/api/v1/conversations/{stored['conversation_id']}"
    status, taken, _ = await owner.request("POST", f"{conversation}/takeover", json={})
    assert status == 200, taken
    outbound = plant("outbound message body", _canary("Outbound body "))
    status, sent, _ = await owner.request(
        "POST", f"{conversation}/messages", json={"type": "text", "text": outbound}
    )
    assert status in (201, 202), sent
    delivered = await flow_world.sent_count(team, 1)
    assert outbound in orjson.dumps(delivered).decode()  # it really went out
