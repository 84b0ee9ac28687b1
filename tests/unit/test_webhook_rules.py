"""Outbound webhooks without I/O: the retry schedule, the target rules per environment, the
payload catalog, and who sees the "endpoint disabled" notice on the live stream."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from broadcast.integrations import catalog, retries, targets
from gateway.stream_hub import may_receive
from majlis.events import make_envelope
from majlis.events.chatflow import LeadCaptured
from majlis.events.inbox import ContactMerged, MessageStatusChanged
from majlis.settings import Settings

DAY = 86_400.0


def test_the_schedule_without_jitter() -> None:
    delays = [retries.next_delay_s(attempt, 0.0, rng=lambda: 1.0) for attempt in range(1, 8)]
    assert delays == [5, 300, 1800, 7200, 18_000, 36_000, 50_400]
    # After the schedule, the last step repeats until the first attempt is a day old.
    assert retries.next_delay_s(8, DAY - 1, rng=lambda: 1.0) == 50_400
    assert retries.next_delay_s(8, DAY, rng=lambda: 1.0) is None
    assert retries.next_delay_s(retries.MAX_ATTEMPTS, 0.0) is None


def test_full_jitter_and_the_day_it_covers() -> None:
    for attempt in range(1, 8):
        step = retries.SCHEDULE_S[attempt - 1]
        assert retries.next_delay_s(attempt, 0.0, rng=lambda: 0.0) == 0.0
        assert retries.next_delay_s(attempt, 0.0, rng=lambda: 0.5) == step / 2
    # Whatever the jitter, a message is never given up before a day has passed.
    elapsed, attempt = 0.0, 1
    while (delay := retries.next_delay_s(attempt, elapsed, rng=lambda: 0.3)) is not None:
        elapsed += delay
        attempt += 1
    assert elapsed >= DAY


def test_scale_and_retry_after() -> None:
    assert retries.next_delay_s(2, 0.0, scale=0.001, rng=lambda: 1.0) == pytest.approx(0.3)
    assert retries.next_delay_s(1, 0.0, retry_after=120, rng=lambda: 0.0) == 120
    assert retries.retry_after_s("7200", 3600) == 3600
    assert retries.retry_after_s("Wed, 21 Oct 2026 07:28:00 GMT", 3600) is None
    assert retries.retry_after_s(None, 3600) is None


@pytest.mark.parametrize(
    ("status", "retried"),
    [(400, False), (401, False), (404, False), (410, False), (408, True), (429, True),
     (500, True), (502, True), (503, True), (302, False), (200, False)],
)  # fmt: skip
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert retries.is_retryable(status) is retried


def _settings(env: str, allow_loopback: bool) -> Settings:
    return Settings(env=env, outbound_allow_loopback=allow_loopback)  # type: ignore[arg-type]


def test_production_needs_https_and_never_loopback() -> None:
    prod = _settings("prod", allow_loopback=True)  # the flag is ignored in production
    assert targets.static_problems("https://crm.example.com/hooks", prod) == []
    assert targets.static_problems("http://crm.example.com/hooks", prod) == [
        "the scheme must be https"
    ]
    for url in ("https://127.0.0.1/", "https://[::1]/", "https://2130706433/", "https://0177.1/"):
        assert targets.static_problems(url, prod), url
    dev = _settings("dev", allow_loopback=True)
    assert targets.static_problems("http://127.0.0.1:8000/", dev) == []
    assert targets.static_problems("http://[::1]:8000/", dev) == []
    assert targets.static_problems("http://10.0.0.1/", dev)
    strict = _settings("test", allow_loopback=False)
    assert targets.static_problems("http://127.0.0.1:8000/", strict)


async def test_names_are_resolved_at_creation() -> None:
    prod = _settings("prod", allow_loopback=False)
    assert await targets.problems("https://localhost/hooks", prod) == [
        "the host name resolves to an address that is not public"
    ]


def test_catalog_payloads_hold_ids_not_content() -> None:
    tenant_id = uuid.uuid4()
    status = MessageStatusChanged(
        message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), status="read"
    )
    kind, data = catalog.to_webhook(make_envelope(status, tenant_id=tenant_id)) or ("", {})
    assert kind == "message.status"
    assert data["status"] == "read"
    sending = status.model_copy(update={"status": "sending"})
    assert catalog.to_webhook(make_envelope(sending, tenant_id=tenant_id)) is None
    merged = ContactMerged(source_id=uuid.uuid4(), target_id=uuid.uuid4())
    kind, data = catalog.to_webhook(make_envelope(merged, tenant_id=tenant_id)) or ("", {})
    assert kind == "contact.changed"
    assert data == {
        "contact_id": str(merged.source_id),
        "change": "merged",
        "merged_into": str(merged.target_id),
    }
    lead = LeadCaptured(
        lead_id=uuid.uuid4(), contact_id=uuid.uuid4(), stage="new", source="ai", is_new=True
    )
    kind, data = catalog.to_webhook(make_envelope(lead, tenant_id=tenant_id)) or ("", {})
    assert kind == "lead.captured"
    assert set(data) == {"lead_id", "contact_id", "conversation_id", "stage", "source", "is_new"}
    stamp = datetime(2026, 1, 2, tzinfo=UTC).isoformat()
    assert catalog.body("lead.captured", stamp, {"a": 1}).startswith(b'{"type":"lead.captured"')
    assert set(catalog.EVENT_TYPES) >= {"message.received", "template.status", "contact.changed"}


def test_only_owners_and_admins_see_a_disabled_endpoint() -> None:
    assert may_receive("broadcast.webhook.disabled", "owner")
    assert may_receive("broadcast.webhook.disabled", "admin")
    assert not may_receive("broadcast.webhook.disabled", "agent")
    assert not may_receive("broadcast.webhook.disabled", "viewer")


def test_the_fan_outs_opening_statement_inlines_only_catalogue_names() -> None:
    from broadcast.integrations.consumers import any_subscribed

    for event_type in catalog.EVENT_TYPES:
        statement = any_subscribed(event_type)
        assert f"'{event_type}' = ANY (event_types)" in statement
        assert ";" not in statement
    for bad in ("message.received'; DROP TABLE outbox --", "webhook.test", "", "MESSAGE.SENT"):
        with pytest.raises(ValueError, match="not a webhook event type"):
            any_subscribed(bad)
