"""API keys and WhatsApp numbers: shown once / never shown, stored as hash / ciphertext,
role-gated, and invisible across tenants."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from majlis.crypto import FieldCipher, KeyRing
from majlis.db import tenant_for_waba_id, tenant_transaction
from majlis.testing.browser import GatewayUnderTest

TOKEN = "EAAGm0PX4ZCpsBAKZAZBsimulatortoken0123456789"


async def _connect(
    owner: Any,
    display: str,
    phone_number_id: str | None = None,
    waba_id: str = "102290129340398",
    token: str = TOKEN,
) -> tuple[int, Any]:
    """POST /api/v1/numbers as `owner`: (status, answer)."""
    body = {
        "phone_number_id": phone_number_id or str(uuid.uuid4().int)[:15],
        "waba_id": waba_id,
        "display_number": display,
        "access_token": token,
    }
    status, answer, _ = await owner.request("POST", "/api/v1/numbers", json=body)
    return status, answer


async def test_api_key_is_shown_once_and_stored_as_a_hash(
    gateway: GatewayUnderTest, admin_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    status, created, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "CRM sync", "scopes": ["contacts:read"]}
    )
    assert status == 201
    key = created["key"]
    assert key.startswith("mjk_")
    _, listing, _ = await owner.request("GET", "/api/v1/api-keys")
    assert key not in str(listing)
    assert listing["api_keys"][0]["hint"] == created["hint"]
    dump = await admin_pool.fetch("SELECT * FROM api_keys WHERE tenant_id = $1", tenant_id)
    assert key.split("_", 3)[3].encode() not in b"".join(bytes(str(dict(r)), "utf-8") for r in dump)


async def test_api_key_authenticates_only_within_its_scopes(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    _, created, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "bot", "scopes": ["contacts:read"]}
    )
    client = gateway.browser()
    client.token = created["key"]
    # Management endpoints are for people, not keys.
    assert (await client.request("GET", "/api/v1/me"))[0] == 403
    assert (await client.request("GET", "/api/v1/api-keys"))[0] == 403
    # A proxied read in scope passes the edge (the back end is not running: 502), a write
    # out of scope does not; no CSRF is asked of API keys.
    assert (await client.request("GET", "/api/v1/contacts/x"))[0] in (502, 504)
    status, body, _ = await client.request("POST", "/api/v1/contacts/x", json={})
    assert status == 403
    assert body["required_scope"] == "contacts:write"
    assert (await owner.request("DELETE", f"/api/v1/api-keys/{created['id']}"))[0] == 204
    assert (await client.request("GET", "/api/v1/contacts/x"))[0] == 401
    forged = created["key"][:-3] + "abc"
    client.token = forged
    assert (await client.request("GET", "/api/v1/contacts/x"))[0] == 401


async def test_unknown_scopes_are_refused(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    status, body, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "x", "scopes": ["everything"]}
    )
    assert status == 422
    assert "contacts:read" in body["allowed_scopes"]


async def test_number_token_is_checked_encrypted_and_never_returned(
    gateway: GatewayUnderTest, admin_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    phone_number_id = str(uuid.uuid4().int)[:15]
    body = {
        "phone_number_id": phone_number_id,
        "waba_id": "102290129340398",
        "display_number": "+971 4 123 4567",
        "access_token": TOKEN,
    }
    status, created, _ = await owner.request("POST", "/api/v1/numbers", json=body)
    assert status == 201, created
    assert TOKEN not in str(created)
    _, listing, _ = await owner.request("GET", "/api/v1/numbers")
    assert TOKEN not in str(listing)
    assert listing["numbers"][0]["phone_number_id"] == phone_number_id
    raw = await admin_pool.fetchval(
        "SELECT access_token_enc FROM whatsapp_numbers WHERE tenant_id = $1", tenant_id
    )
    assert TOKEN.encode() not in raw
    assert raw[0] == 1
    cipher = FieldCipher(KeyRing.from_settings(gateway.settings))
    assert (
        cipher.decrypt_text(raw, tenant_id=tenant_id, field="whatsapp_numbers.access_token")
        == TOKEN
    )
    # The same number twice in one tenant is a conflict.
    assert (await owner.request("POST", "/api/v1/numbers", json=body))[0] == 409


async def test_number_with_a_token_meta_refuses_is_not_stored(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    status, body, _ = await owner.request(
        "POST",
        "/api/v1/numbers",
        json={
            "phone_number_id": "123456789",
            "waba_id": "987654321",
            "display_number": "+971",
            "access_token": "not-a-meta-token-at-all",
        },
    )
    assert status == 422
    assert body["type"].endswith("/token-rejected")
    async with tenant_transaction(db_pool, tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM whatsapp_numbers") == 0


async def test_numbers_update_and_cross_tenant_access(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, tenant_b = await gateway.owner()
    _, number, _ = await owner_b.request(
        "POST",
        "/api/v1/numbers",
        json={
            "phone_number_id": str(uuid.uuid4().int)[:15],
            "waba_id": "5",
            "display_number": "+971 50",
            "access_token": TOKEN,
        },
    )
    path = f"/api/v1/numbers/{number['id']}"
    async with tenant_transaction(db_pool, tenant_b) as conn:
        before = await conn.fetchrow("SELECT * FROM whatsapp_numbers")
    assert (await owner_a.request("PATCH", path, json={"status": "disabled"}))[0] == 404
    assert (await owner_a.request("DELETE", path))[0] == 404
    _, listing, _ = await owner_a.request("GET", "/api/v1/numbers")
    assert listing["numbers"] == []
    async with tenant_transaction(db_pool, tenant_b) as conn:
        assert await conn.fetchrow("SELECT * FROM whatsapp_numbers") == before
    status, updated, _ = await owner_b.request("PATCH", path, json={"status": "disabled"})
    assert (status, updated["status"]) == (200, "disabled")
    assert (await owner_b.request("PATCH", path, json={"access_token": "bad-token-xyz"}))[0] == 422
    assert (await owner_b.request("DELETE", path))[0] == 204
    assert (await owner_b.request("DELETE", path))[0] == 404


async def test_cross_tenant_api_keys(gateway: GatewayUnderTest) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, _ = await gateway.owner()
    _, key_b, _ = await owner_b.request(
        "POST", "/api/v1/api-keys", json={"name": "b", "scopes": ["contacts:read"]}
    )
    assert (await owner_a.request("DELETE", f"/api/v1/api-keys/{key_b['id']}"))[0] == 404
    _, listing, _ = await owner_a.request("GET", "/api/v1/api-keys")
    assert listing["api_keys"] == []
    _, listing_b, _ = await owner_b.request("GET", "/api/v1/api-keys")
    assert [k["id"] for k in listing_b["api_keys"]] == [key_b["id"]]


@pytest.mark.parametrize("token", ["EAA\nX-Injected: 1", "EAAtoken\x00nul", "EAAtoken-\u00e9"])
async def test_a_token_that_cannot_be_a_header_is_422_not_500(
    gateway: GatewayUnderTest, token: str
) -> None:
    """Regression (schemathesis): the token went into the Graph API call's Authorization header
    and the HTTP client's header-injection guard raised: a 500."""
    owner, _, _ = await gateway.owner()
    body = {"phone_number_id": "123456789", "waba_id": "987654321",
            "display_number": "+971", "access_token": token}  # fmt: skip
    status, problem, _ = await owner.request("POST", "/api/v1/numbers", json=body)
    assert status == 422, problem
    assert problem["errors"][0]["field"] == "access_token"


async def test_a_nul_in_a_stored_text_is_422_not_500(gateway: GatewayUnderTest) -> None:
    """Regression (schemathesis): PostgreSQL refuses NUL in text; the failed INSERT was a 500."""
    owner, _, _ = await gateway.owner()
    status, problem, _ = await owner.request(
        "POST", "/api/v1/team/invites", json={"email": "a\u0000b@example.com", "role": "agent"}
    )
    assert status == 422, problem
    assert problem["type"].endswith("/unstorable-character")


async def test_numbers_show_their_quality_rating_tier_and_last_quality_event(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    agent, _ = await gateway.member(owner, "agent")
    status, created = await _connect(owner, "+971 4 300 0000")
    assert status == 201, created
    # Read from Meta (the simulator's numbers are GREEN) when the token was checked.
    assert created["quality_rating"] == "GREEN"
    assert created["messaging_tier"] == "TIER_1K"
    assert (created["quality_event"], created["quality_updated_at"]) == (None, None)
    assert (created["account_event"], created["account_updated_at"]) == (None, None)
    # What the broadcast service records from a phone_number_quality_update webhook.
    async with tenant_transaction(db_pool, tenant_id) as conn:
        await conn.execute(
            "UPDATE whatsapp_numbers SET messaging_tier = 'TIER_10K', quality_event = 'FLAGGED',"
            " quality_updated_at = now(), account_event = 'DISABLED_UPDATE',"
            " account_updated_at = now() WHERE id = $1",
            uuid.UUID(created["id"]),
        )
    status, listing, _ = await agent.request("GET", "/api/v1/numbers")
    assert status == 200, listing
    (shown,) = listing["numbers"]
    assert (shown["messaging_tier"], shown["quality_event"]) == ("TIER_10K", "FLAGGED")
    assert shown["quality_updated_at"] is not None
    assert shown["account_event"] == "DISABLED_UPDATE"
    assert shown["account_updated_at"] is not None
    assert TOKEN not in str(listing)


async def test_a_number_whose_sends_are_held_says_why_and_a_manager_resumes_it(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    """Sends held by Meta's block on the account (migration 0026) or a refused token show on
    the number; an owner or admin resumes a block (not a refused token: only a new token ends
    that); agents cannot, and another tenant sees nothing."""
    owner, _, tenant_id = await gateway.owner()
    admin, _ = await gateway.member(owner, "admin")
    agent, _ = await gateway.member(owner, "agent")
    stranger, _, _ = await gateway.owner()
    status, created = await _connect(owner, "+971 4 300 0001")
    assert status == 201, created
    assert (created["sending_paused"], created["sending_paused_at"]) == (None, None)
    number_id, path = uuid.UUID(created["id"]), f"/api/v1/numbers/{created['id']}"

    async def held(how: str) -> None:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute(
                f"UPDATE whatsapp_numbers SET {how} WHERE id = $1",  # noqa: S608  # the test's own
                number_id,
            )

    # What the dispatcher records when Meta answers 131031 (account locked).
    await held("sending_blocked_at = now(), sending_blocked_reason = 'account-locked'")
    (shown,) = (await agent.request("GET", "/api/v1/numbers"))[1]["numbers"]
    assert shown["sending_paused"] == "account-locked"
    assert shown["sending_paused_at"] is not None

    # Only a manager resumes; only `true` means anything; another tenant finds no number.
    assert (await agent.request("PATCH", path, json={"resume_sending": True}))[0] == 403
    assert (await stranger.request("PATCH", path, json={"resume_sending": True}))[0] == 404
    for wrong in (False, "yes", None):
        status, problem, _ = await admin.request("PATCH", path, json={"resume_sending": wrong})
        assert status == (200 if wrong is None else 422), problem
    (shown,) = (await owner.request("GET", "/api/v1/numbers"))[1]["numbers"]
    assert shown["sending_paused"] == "account-locked"

    status, resumed, _ = await admin.request("PATCH", path, json={"resume_sending": True})
    assert status == 200, resumed
    assert (resumed["sending_paused"], resumed["sending_paused_at"]) == (None, None)
    async with tenant_transaction(db_pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT sending_blocked_at, sending_blocked_reason FROM whatsapp_numbers WHERE id = $1",
            number_id,
        )
    assert row is not None
    assert tuple(row) == (None, None)

    # Meta's restrictions in force (one with an end, one without), and one already expired.
    assert resumed["restrictions"] == []
    await held(
        "restricted_bulk_until = now() + interval '1 hour', restricted_replies_until = 'infinity'"
    )
    (shown,) = (await agent.request("GET", "/api/v1/numbers"))[1]["numbers"]
    assert [r["kind"] for r in shown["restrictions"]] == ["campaigns", "replies"]
    assert shown["restrictions"][0]["until"] is not None
    assert shown["restrictions"][1]["until"] is None
    assert shown["sending_paused"] is None
    await held("restricted_replies_until = now() - interval '1 minute'")
    (shown,) = (await agent.request("GET", "/api/v1/numbers"))[1]["numbers"]
    assert [r["kind"] for r in shown["restrictions"]] == ["campaigns"]
    status, resumed, _ = await owner.request("PATCH", path, json={"resume_sending": True})
    assert (status, resumed["restrictions"]) == (200, [])

    # A refused token is shown first and is not lifted by resuming.
    await held(
        "token_invalid_at = now(), sending_blocked_at = now(),"
        " sending_blocked_reason = 'policy-block'"
    )
    status, still, _ = await owner.request("PATCH", path, json={"resume_sending": True})
    assert (status, still["sending_paused"]) == (200, "token-invalid")
    status, renewed, _ = await owner.request("PATCH", path, json={"access_token": TOKEN + "x"})
    assert (status, renewed["sending_paused"]) == (200, None)


async def test_a_number_shows_its_send_rate_and_whether_the_business_app_shares_it(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    """The rate sends are paced at (Meta's 80, or the configured one) drops to 20 once the
    number is known to be shared with the WhatsApp Business app (migration 0035), and says
    since when; another tenant sees nothing."""
    owner, _, tenant_id = await gateway.owner()
    stranger, _, _ = await gateway.owner()
    status, created = await _connect(owner, "+971 4 300 0002")
    assert status == 201, created
    assert (created["send_rate"], created["shared_with_business_app_since"]) == (80, None)

    async def number_set(how: str) -> Any:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute(
                f"UPDATE whatsapp_numbers SET {how} WHERE id = $1",  # noqa: S608  # the test's own
                uuid.UUID(created["id"]),
            )
        return (await owner.request("GET", "/api/v1/numbers"))[1]["numbers"][0]

    shown = await number_set("send_rate_per_second = 200")
    assert (shown["send_rate"], shown["shared_with_business_app_since"]) == (200, None)
    # What the inbox records at the number's first echo, address-book or history webhook.
    shown = await number_set("coexistence_since = now()")
    assert shown["send_rate"] == 20
    assert shown["shared_with_business_app_since"] is not None
    assert (await stranger.request("GET", "/api/v1/numbers"))[1]["numbers"] == []


async def test_a_number_is_connected_only_under_the_account_meta_lists_it_in(
    gateway: GatewayUnderTest, graph_simulator: str, db_pool: Any
) -> None:
    """Webhooks about templates and the account carry only the WhatsApp Business Account's
    id and route to the one tenant with numbers in it: a tenant naming another business's
    account for its own number (to make that business's webhooks ambiguous, or its own) is
    refused, because Meta does not list the number there."""
    victim, _, victim_tenant = await gateway.owner()
    attacker, _, attacker_tenant = await gateway.owner()

    def meta_id() -> str:
        return str(uuid.uuid4().int)[:15]

    numbers = {
        "victim": (meta_id(), meta_id(), "EAAvictim" + uuid.uuid4().hex),
        "attacker": (meta_id(), meta_id(), "EAAattacker" + uuid.uuid4().hex),
    }
    async with aiohttp.ClientSession() as http:
        for pnid, waba_id, token in numbers.values():
            body = {"phone_number_id": pnid, "waba_id": waba_id, "token": token}
            async with http.post(f"{graph_simulator}/_sim/numbers", json=body) as answer:
                assert answer.status == 201, await answer.text()

    victim_pnid, victim_waba, victim_token = numbers["victim"]
    status, _ = await _connect(victim, "+971 4 300 0002", victim_pnid, victim_waba, victim_token)
    assert status == 201
    attacker_pnid, attacker_waba, attacker_token = numbers["attacker"]
    status, problem = await _connect(
        attacker, "+971 4 300 0003", attacker_pnid, victim_waba, attacker_token
    )
    assert status == 422, problem
    assert problem["type"].endswith("/waba-mismatch")
    assert (await attacker.request("GET", "/api/v1/numbers"))[1]["numbers"] == []
    assert await tenant_for_waba_id(db_pool, victim_waba) == victim_tenant

    assert (
        await _connect(attacker, "+971 4 300 0003", attacker_pnid, attacker_waba, attacker_token)
    )[0] == 201
    assert await tenant_for_waba_id(db_pool, attacker_waba) == attacker_tenant
    assert await tenant_for_waba_id(db_pool, victim_waba) == victim_tenant
