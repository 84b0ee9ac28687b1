"""Webhook parsing, signatures, event ids and tenant caching: no services needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from inbox.content import (
    address_book_identity,
    media_ref,
    message_content,
    message_type,
    recipient_identity,
    sender_identity,
)
from inbox.media import sha256_matches
from inbox.statuses import pending_status_of
from majlis.events import decode_event
from majlis.events.webhook_ingest import (
    ContactSyncReceived,
    EchoReceived,
    HistoryReceived,
    MessageReceived,
    StatusReceived,
)
from majlis.settings import Settings
from webhook_ingest.envelopes import envelope_for, event_id
from webhook_ingest.parsing import ItemKind, WebhookShapeError, parse_webhook
from webhook_ingest.routing import TenantCache, TenantRouter
from webhook_ingest.signatures import AppSecrets, SignatureProblem, signature_problem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
M, S = ItemKind.MESSAGE, ItemKind.STATUS
# Shortly after the fixtures were "sent" (their timestamps are of 2025-09-11).
RECEIVED = datetime(2025, 9, 11, 15, 0, tzinfo=UTC)

# Every fixture: the items it must yield (by kind) and what must be skipped, (label, reason).
EXPECTED: dict[str, tuple[dict[ItemKind, int], dict[tuple[str, str], int]]] = {
    "message__text": ({M: 1}, {}),
    "message__text_reply": ({M: 1}, {}),
    "message__text_forwarded": ({M: 1}, {}),
    "message__text_referral": ({M: 1}, {}),
    "message__image": ({M: 1}, {}),
    "message__audio_voice": ({M: 1}, {}),
    "message__video": ({M: 1}, {}),
    "message__document": ({M: 1}, {}),
    "message__sticker": ({M: 1}, {}),
    "message__location": ({M: 1}, {}),
    "message__contacts": ({M: 1}, {}),
    "message__interactive_button_reply": ({M: 1}, {}),
    "message__interactive_list_reply": ({M: 1}, {}),
    "message__button": ({M: 1}, {}),
    "message__reaction": ({M: 1}, {}),
    "message__order": ({M: 1}, {}),
    "message__system": ({M: 1}, {}),
    "message__unsupported": ({M: 1}, {}),
    "message__bsuid_only": ({M: 1}, {}),
    "echo__text": ({ItemKind.ECHO: 1}, {}),
    "contact_sync__add": ({ItemKind.CONTACT_SYNC: 1}, {}),
    "history__threads": ({ItemKind.HISTORY: 2}, {}),
    "status__sent": ({S: 1}, {}),
    "status__delivered": ({S: 1}, {}),
    "status__read": ({S: 1}, {}),
    "status__played": ({S: 1}, {}),
    "status__failed": ({S: 1}, {}),
    "template_status__rejected": ({ItemKind.TEMPLATE_STATUS: 1}, {}),
    "template_status__approved": ({ItemKind.TEMPLATE_STATUS: 1}, {}),
    "phone_quality__throughput_upgrade": ({ItemKind.PHONE_QUALITY: 1}, {}),
    "account__restriction": ({ItemKind.ACCOUNT: 1}, {}),
    "account__partner_app_uninstalled": ({ItemKind.ACCOUNT: 1}, {}),
    "unknown__user_preferences": ({}, {("user_preferences", "unknown_kind"): 1}),
    "errors__media_download_failed": ({}, {("messages", "value_errors"): 1}),
    "batch__multi_entry": ({M: 5, S: 4}, {}),
}


def load(name: str) -> dict[str, Any]:
    """A fixture, decoded."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def test_every_fixture_is_covered() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_into_its_items(name: str) -> None:
    kinds, skipped = EXPECTED[name]
    parsed = parse_webhook(load(name))
    assert Counter(item.kind for item in parsed.items) == Counter(kinds)
    assert dict(parsed.skipped) == skipped
    for item in parsed.items:
        if item.routes_by_number:
            assert item.phone_number_id
        assert item.waba_id


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("message__")))
def test_every_message_type_yields_content_and_a_sender(name: str) -> None:
    [item] = parse_webhook(load(name)).items
    message = item.data
    content = message_content(message)
    assert "from" not in content
    assert "id" not in content
    assert message_type(message) == message["type"]
    identity = sender_identity(message, item.contact, "AE")
    assert identity is not None
    if name == "message__bsuid_only":
        assert identity.phone is None
        assert identity.bsuid == "AE.13491208655302741918"
        assert identity.name == "Layla"
    else:
        assert identity.phone is not None
        assert identity.phone.startswith("+")
    has_media = message["type"] in {"image", "audio", "video", "document", "sticker"}
    assert (media_ref(message) is not None) is has_media


def test_batch_keeps_every_sender_contact_and_number() -> None:
    parsed = parse_webhook(load("batch__multi_entry"))
    messages = [i for i in parsed.items if i.kind is M]
    for item in messages:
        assert item.contact is not None
        assert item.contact["wa_id"] == item.data["from"]
    assert {i.phone_number_id for i in parsed.items} == {"220000000000002", "220000000000009"}


def test_system_message_has_no_contact() -> None:
    [item] = parse_webhook(load("message__system")).items
    assert item.contact is None


@pytest.mark.parametrize(
    "document",
    [[], "text", {"object": "whatsapp_business_account"}, {"entry": {}}, None, 3],
)
def test_non_envelopes_are_shape_errors(document: object) -> None:
    with pytest.raises(WebhookShapeError):
        parse_webhook(document)


def test_other_products_and_malformed_items_are_counted_not_raised() -> None:
    assert parse_webhook({"object": "page", "entry": []}).skipped == {("page", "unknown_object"): 1}
    document = load("batch__multi_entry")
    changes = document["entry"][0]["changes"]
    changes[0]["value"]["messages"].append({"type": "text"})  # no wamid
    changes[1]["value"]["statuses"].append({"id": "wamid.x"})  # no status
    changes.append({"field": "messages", "value": {"messages": [{"id": "wamid.y"}]}})  # no number
    changes.append({"field": "Weird Field!", "value": {}})
    document["entry"].append("not an entry")
    parsed = parse_webhook(document)
    assert Counter(i.kind for i in parsed.items) == Counter({M: 5, S: 4})
    assert dict(parsed.skipped) == {
        ("message", "malformed"): 1,
        ("status", "malformed"): 1,
        ("messages", "malformed"): 1,
        ("other", "unknown_kind"): 1,
        ("entry", "malformed"): 1,
    }


def test_unknown_fields_are_kept_in_the_item() -> None:
    document = load("message__text")
    document["entry"][0]["changes"][0]["value"]["messages"][0]["brand_new_field"] = {"x": 1}
    [item] = parse_webhook(document).items
    assert item.data["brand_new_field"] == {"x": 1}


def test_event_ids_are_deterministic_per_tenant_and_item() -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    items = parse_webhook(load("batch__multi_entry")).items
    first = [event_id(i, tenant) for i in items]
    again = [event_id(i, tenant) for i in parse_webhook(load("batch__multi_entry")).items]
    assert first == again
    assert len(set(first)) == len(first)
    assert not set(first) & {event_id(i, other) for i in items}
    [template] = parse_webhook(load("template_status__rejected")).items
    assert event_id(template, tenant) == event_id(template, tenant)


def test_envelopes_decode_to_typed_events() -> None:
    tenant = uuid.uuid4()
    [message] = parse_webhook(load("message__image")).items
    envelope = envelope_for(message, tenant, RECEIVED)
    event = decode_event(envelope)
    assert isinstance(event, MessageReceived)
    assert envelope.tenant_id == tenant
    assert envelope.id == envelope.correlation_id == event_id(message, tenant)
    assert event.message == message.data
    assert event.contact == message.contact
    assert event.received_at == RECEIVED
    [status] = parse_webhook(load("status__failed")).items
    decoded = decode_event(envelope_for(status, tenant, RECEIVED))
    assert isinstance(decoded, StatusReceived)
    assert decoded.status["errors"][0]["code"] == 131026


def test_echoes_of_the_business_app_are_items_of_their_own() -> None:
    """`smb_message_echoes` (coexistence): every echo of a change is an item routed by the
    number, addressed to the customer in `to`; malformed ones are counted, not raised."""
    document = load("echo__text")
    value = document["entry"][0]["changes"][0]["value"]
    second = {**value["message_echoes"][0], "id": "wamid.second", "to": "971509876543"}
    value["message_echoes"] += [second, {"to": "971501234567", "type": "text"}, "odd"]
    document["entry"][0]["changes"].append(
        {"field": "smb_message_echoes", "value": {"message_echoes": [second]}}  # no number
    )
    parsed = parse_webhook(document)
    assert [(i.kind, i.phone_number_id, i.data["id"]) for i in parsed.items] == [
        (ItemKind.ECHO, "220000000000002", value["message_echoes"][0]["id"]),
        (ItemKind.ECHO, "220000000000002", "wamid.second"),
    ]
    assert all(i.routes_by_number for i in parsed.items)
    assert dict(parsed.skipped) == {
        ("echo", "malformed"): 2,
        ("smb_message_echoes", "malformed"): 1,
    }
    tenant = uuid.uuid4()
    first = parsed.items[0]
    envelope = envelope_for(first, tenant, RECEIVED)
    event = decode_event(envelope)
    assert isinstance(event, EchoReceived)
    assert envelope.type == "webhook_ingest.echo.received"
    assert event.message == first.data
    # Not the id of an inbound message with the same wamid, and the same on a redelivery.
    [inbound] = parse_webhook(load("message__text")).items
    assert event_id(first, tenant) != event_id(
        type(inbound)(M, inbound.waba_id, first.data, inbound.phone_number_id), tenant
    )
    assert envelope_for(first, tenant, RECEIVED).id == envelope.id
    identity = recipient_identity(first.data, "AE")
    assert identity is not None
    assert (identity.phone, identity.bsuid, identity.name) == ("+971501234567", None, None)
    assert recipient_identity({"to": "not a number"}, "AE") is None
    by_bsuid = recipient_identity({"to_user_id": "AE.13491208655302741918"}, "AE")
    assert by_bsuid is not None
    assert by_bsuid.bsuid == "AE.13491208655302741918"


def test_address_book_contacts_of_the_business_app_are_items_of_their_own() -> None:
    """`smb_app_state_sync` (coexistence): each contact the business added, edited or removed
    in the app is an item routed by the number; other kinds of state and malformed items are
    counted, not raised. The event id is the same on a redelivery and differs per change."""
    document = load("contact_sync__add")
    value = document["entry"][0]["changes"][0]["value"]
    added = value["state_sync"][0]
    removed = {"type": "contact", "contact": {"phone_number": "971509876543"},
               "action": "remove", "metadata": {"timestamp": "1757600180"}}  # fmt: skip
    renamed = {**added, "contact": {**added["contact"], "full_name": "Sara M."}}
    value["state_sync"] += [
        removed,
        renamed,
        {"type": "label", "label": {"name": "VIP"}, "action": "add"},  # not a contact
        {"type": "contact", "contact": {"full_name": "No number"}, "action": "add"},
        {"type": "contact", "contact": {"phone_number": "971501234567"}, "action": "merge"},
        "odd",
    ]
    document["entry"][0]["changes"].append(
        {"field": "smb_app_state_sync", "value": {"state_sync": [added]}}  # no number
    )
    parsed = parse_webhook(document)
    assert [(i.kind, i.phone_number_id, i.data) for i in parsed.items] == [
        (ItemKind.CONTACT_SYNC, "220000000000002", added),
        (ItemKind.CONTACT_SYNC, "220000000000002", removed),
        (ItemKind.CONTACT_SYNC, "220000000000002", renamed),
    ]
    assert all(i.routes_by_number for i in parsed.items)
    assert dict(parsed.skipped) == {
        ("state_sync", "unknown_type"): 1,
        ("contact_sync", "malformed"): 3,
        ("smb_app_state_sync", "malformed"): 1,
    }
    tenant = uuid.uuid4()
    envelopes = [envelope_for(item, tenant, RECEIVED) for item in parsed.items]
    assert {e.type for e in envelopes} == {"webhook_ingest.contact_sync.received"}
    assert len({e.id for e in envelopes}) == 3
    assert envelope_for(parsed.items[0], tenant, RECEIVED).id == envelopes[0].id
    assert envelope_for(parsed.items[0], uuid.uuid4(), RECEIVED).id != envelopes[0].id
    event = decode_event(envelopes[0])
    assert isinstance(event, ContactSyncReceived)
    assert (event.phone_number_id, event.change) == ("220000000000002", added)
    identity = address_book_identity(added, "AE")
    assert identity is not None
    assert (identity.phone, identity.bsuid, identity.name) == (
        "+971501234567", None, "سارة المنصوري"
    )  # fmt: skip
    first_only = address_book_identity(
        {"contact": {"first_name": " Sara ", "phone_number": "971501234567"}}, "AE"
    )
    assert first_only is not None
    assert first_only.name == "Sara"
    by_number_only = address_book_identity(removed, "AE")
    assert by_number_only is not None
    assert (by_number_only.phone, by_number_only.name) == ("+971509876543", None)
    assert address_book_identity({"contact": {"phone_number": "call me"}}, "AE") is None


def _sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_check() -> None:
    body = (FIXTURES / "message__text.json").read_bytes()
    secret = "s3cret"
    assert signature_problem(body, _sign(body, secret), secret) is None
    assert (
        signature_problem(body, _sign(body, secret).upper().replace("SHA256", "sha256"), secret)
        is None
    )
    assert signature_problem(body, None, secret) is SignatureProblem.MISSING
    assert signature_problem(body, "", secret) is SignatureProblem.MISSING
    assert signature_problem(body, "sha1=abc", secret) is SignatureProblem.MALFORMED
    assert signature_problem(body, _sign(body, secret)[:-1], secret) is SignatureProblem.MALFORMED
    assert signature_problem(body, _sign(body, "other"), secret) is SignatureProblem.MISMATCH
    assert signature_problem(body + b" ", _sign(body, secret), secret) is SignatureProblem.MISMATCH
    # Without a configured secret nothing verifies, not even an HMAC under the empty key.
    assert signature_problem(body, _sign(body, ""), "") is SignatureProblem.MISMATCH


def test_app_secrets_by_app_id() -> None:
    settings = Settings(
        meta_app_secret=SecretStr("platform"),
        meta_app_secrets=SecretStr(" 1111:alpha , 2222:beta"),
    )
    secrets = AppSecrets.from_settings(settings)
    assert secrets.default() == "platform"
    assert secrets.for_app("1111") == "alpha"
    assert secrets.for_app("2222") == "beta"
    assert secrets.for_app("3333") is None
    assert "alpha" not in repr(secrets)
    for bad in ("Zq9Top", "abc:Zq9Top", "1111:Zq9Top,1111:Zq9Top", "1111:"):
        with pytest.raises(ValueError, match="entry #") as caught:
            AppSecrets.from_settings(Settings(meta_app_secrets=SecretStr(bad)))
        assert "Zq9Top" not in str(caught.value)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_expires_hits_and_misses_separately_and_stays_bounded() -> None:
    clock = FakeClock()
    cache = TenantCache(max_entries=3, positive_ttl=60, negative_ttl=10, clock=clock)
    tenant = uuid.uuid4()
    cache.put(("phone_number_id", "1"), tenant)
    cache.put(("phone_number_id", "2"), None)
    assert cache.get(("phone_number_id", "1")) == (True, tenant)
    assert cache.get(("phone_number_id", "2")) == (True, None)
    clock.now += 11
    assert cache.get(("phone_number_id", "2")) == (False, None)
    assert cache.get(("phone_number_id", "1")) == (True, tenant)
    clock.now += 50
    assert cache.get(("phone_number_id", "1")) == (False, None)
    for n in range(10):
        cache.put(("waba_id", str(n)), tenant)
    assert len(cache) == 3
    assert cache.get(("waba_id", "9")) == (True, tenant)
    assert cache.get(("waba_id", "0")) == (False, None)


async def test_router_caches_lookups_and_never_queries_non_ids() -> None:
    tenant = uuid.uuid4()
    calls: list[tuple[str, str]] = []

    async def by_number(value: str) -> uuid.UUID | None:
        calls.append(("number", value))
        return tenant if value == "220000000000002" else None

    async def by_waba(value: str) -> uuid.UUID | None:
        calls.append(("waba", value))
        return tenant

    router = TenantRouter(by_number, by_waba)
    items = parse_webhook(load("batch__multi_entry")).items
    results = [await router.tenant_for(item) for item in items]
    assert results.count(tenant) == 8
    assert results.count(None) == 1
    assert sorted(calls) == [("number", "220000000000002"), ("number", "220000000000009")]
    [account] = parse_webhook(load("account__restriction")).items
    assert await router.tenant_for(account) == tenant
    assert await router.resolve("phone_number_id", "12; DROP TABLE") is None
    assert ("waba", "310000000000001") in calls
    assert len(calls) == 3


def test_media_hash_check_accepts_hex_and_base64_and_refuses_a_mismatch() -> None:
    content = b"\x89PNG fake image"
    digest = hashlib.sha256(content).digest()
    assert sha256_matches(content, digest.hex())
    assert sha256_matches(content, base64.b64encode(digest).decode())
    assert not sha256_matches(content, hashlib.sha256(b"other").hexdigest())
    assert not sha256_matches(content, base64.b64encode(hashlib.sha256(b"x").digest()).decode())
    assert sha256_matches(content, "IMAGE_HASH")  # not a hash we can check: not held against it


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("status__sent", ("sent", None, None)),
        ("status__delivered", ("delivered", None, None)),
        ("status__read", ("read", None, None)),
        ("status__played", ("read", None, None)),
        ("status__failed", ("failed", 131026, "Message undeliverable")),
    ],
)
def test_status_items_map_to_our_statuses(
    name: str, expected: tuple[str, int | None, str | None]
) -> None:
    [item] = parse_webhook(load(name)).items
    status = pending_status_of(item.data, RECEIVED)
    assert status is not None
    assert (status.status, status.error_code, status.error_title) == expected
    assert status.status_at == datetime.fromtimestamp(int(item.data["timestamp"]), UTC)
    assert pending_status_of({**item.data, "status": "deleted"}, RECEIVED) is None


def test_the_business_apps_chat_history_is_an_item_per_thread() -> None:
    """`history` (coexistence): each thread of a chunk is an item routed by the number, with
    the chunk's metadata and the business's number; the full content of a history media
    message is an item of its own for its customer; a declined history and malformed threads
    are counted. Event ids repeat on a redelivery and differ per thread."""
    document = load("history__threads")
    change = document["entry"][0]["changes"][0]
    chunk = change["value"]["history"][0]
    first, second = chunk["threads"]
    chunk["threads"] += [{"id": "971500000000"}, {"messages": first["messages"]}, "odd"]
    media = {
        "from": "97143000000",
        "to": "971501234567",
        "id": first["messages"][1]["id"],
        "timestamp": "1757500015",
        "type": "image",
        "image": {"caption": "Menu", "mime_type": "image/jpeg", "id": "24230790383178626"},
    }
    from_customer = {**media, "id": "wamid.c", "from": "971509876543"}
    from_customer.pop("to")
    document["entry"][0]["changes"] += [
        {"field": "history", "value": {"metadata": change["value"]["metadata"],
                                       "messages": [media, from_customer, {"type": "text"}]}},
        {"field": "history", "value": {"metadata": change["value"]["metadata"],
                                       "history": [{"errors": [{"code": 2593109}]}]}},
        {"field": "history", "value": {"history": [chunk]}},  # no number
    ]  # fmt: skip
    parsed = parse_webhook(document)
    items = parsed.items
    assert [(i.kind, i.phone_number_id, i.data["thread"]["id"]) for i in items] == [
        (ItemKind.HISTORY, "220000000000002", "971501234567"),
        (ItemKind.HISTORY, "220000000000002", "971509876543"),
        (ItemKind.HISTORY, "220000000000002", "971501234567"),
        (ItemKind.HISTORY, "220000000000002", "971509876543"),
    ]
    assert items[0].data == {"thread": first, "chunk": chunk["metadata"], "business": "97143000000"}
    assert items[1].data["thread"] == second
    assert items[2].data == {
        "thread": {"id": "971501234567", "messages": [media]}, "chunk": {},
        "business": "97143000000",
    }  # fmt: skip
    assert all(i.routes_by_number for i in items)
    assert dict(parsed.skipped) == {
        ("history_thread", "malformed"): 3,
        ("history_message", "malformed"): 1,
        ("history", "declined"): 1,
        ("history", "malformed"): 1,
    }
    tenant = uuid.uuid4()
    envelopes = [envelope_for(item, tenant, RECEIVED) for item in items]
    assert {e.type for e in envelopes} == {"webhook_ingest.history.received"}
    assert len({e.id for e in envelopes}) == 4
    assert envelope_for(items[0], tenant, RECEIVED).id == envelopes[0].id
    event = decode_event(envelopes[0])
    assert isinstance(event, HistoryReceived)
    assert (event.thread, event.chunk, event.business) == (
        first, {"phase": 0, "chunk_order": 1, "progress": 55}, "97143000000"
    )  # fmt: skip
