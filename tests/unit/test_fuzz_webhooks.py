"""Fuzzing the webhook edge's pure functions with hypothesis (the bulk of `make fuzz`).

Inputs: captured Meta webhooks mutated at random, webhooks built from Meta's shapes with
garbage in random places, plain JSON garbage, damaged and random bytes. Properties: only the
documented errors escape (orjson.JSONDecodeError for bytes that are not JSON, which the view
answers with 400, and WebhookShapeError for JSON that is not an envelope); every item becomes
an envelope that crosses the wire and decodes into its typed event; the signature check never
raises and accepts exactly the HMAC of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from hypothesis import assume, example, given
from hypothesis import strategies as st

from majlis.events import decode_event, envelope_bytes, parse_envelope
from majlis.testing.fuzzing import (
    FANOUT,
    byte_mutants,
    count,
    fixture_documents,
    json_bytes,
    mutants,
    webhook_bodies,
)
from majlis.testing.fuzzing import webhook_documents as documents_of
from webhook_ingest.envelopes import envelope_for
from webhook_ingest.parsing import (
    ParsedWebhook,
    WebhookShapeError,
    label,
    parse_webhook,
)
from webhook_ingest.signatures import SignatureProblem, signature_problem

FIXTURES = fixture_documents(Path(__file__).resolve().parents[1] / "fixtures" / "webhooks")
TENANT = UUID("00000000-0000-4000-8000-00000000f022")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRET = "fuzz-app-secret"


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _parse_body(body: bytes) -> ParsedWebhook | None:
    """What the view does after the signature check; None for the two documented refusals."""
    try:
        return parse_webhook(orjson.loads(body))
    except (orjson.JSONDecodeError, WebhookShapeError):
        return None


def _check_items(parsed: ParsedWebhook) -> None:
    for kind, _outcome in parsed.skipped:
        assert kind == label(kind)  # metrics labels stay bounded
    for item in parsed.items:
        envelope = envelope_for(item, TENANT, NOW)
        assert envelope_for(item, TENANT, NOW).id == envelope.id  # redelivery dedupes
        wire = envelope_bytes(envelope)
        event = decode_event(parse_envelope(wire))
        assert event.routing_key == envelope.type


@given(documents_of(FIXTURES), st.randoms(use_true_random=False))
def test_parser_only_refuses_non_envelopes_and_every_item_becomes_an_event(
    document: Any, rnd: random.Random
) -> None:
    bodies = [json_bytes(d) for d in (document, *mutants(document, rnd))]
    tested = [body for body in bodies if body is not None]
    assume(tested)
    count("webhook parser (documents)", len(tested))
    for body in tested:
        parsed = _parse_body(body)
        if parsed is not None:
            _check_items(parsed)


@given(webhook_bodies(FIXTURES), st.randoms(use_true_random=False))
@example(b"", random.Random(0))
@example(b"\xff\xfe", random.Random(0))
@example(
    b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages"}]}]}',
    random.Random(0),
)
def test_parser_takes_any_bytes(body: bytes, rnd: random.Random) -> None:
    bodies = [body, *byte_mutants(body, rnd)]
    count("webhook parser (raw bytes)", len(bodies))
    for each in bodies:
        parsed = _parse_body(each)
        if parsed is not None:
            _check_items(parsed)


def test_every_captured_fixture_still_parses_into_items() -> None:
    for document in FIXTURES:
        parsed = parse_webhook(document)
        _check_items(parsed)


_HEADERS = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68).map(
        lambda h: "sha256=" + h
    ),
    st.sampled_from(["sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 64 + "\n"]),
)


@given(
    body=st.binary(max_size=300),
    header=_HEADERS,
    secret=st.text(max_size=40),
    rnd=st.randoms(use_true_random=False),
)
def test_signature_check_never_raises_and_accepts_only_the_hmac(
    body: bytes, header: str | None, secret: str, rnd: random.Random
) -> None:
    count("webhook signature check", FANOUT)
    # The mutants of a valid signature's body never verify under it.
    signature = _sign(body)
    for tampered in byte_mutants(body, rnd):
        if tampered != body:
            assert signature_problem(tampered, signature, SECRET) is SignatureProblem.MISMATCH
    problem = signature_problem(body, header, secret)
    if problem is None:
        assert secret
        assert header is not None
        assert header.lower() == _sign(body, secret)
    assert signature_problem(body, _sign(body), SECRET) is None
    if secret != SECRET and secret:
        try:
            wrong = _sign(body, secret)
        except UnicodeEncodeError:
            return
        assert signature_problem(body, wrong, SECRET) is SignatureProblem.MISMATCH


@given(
    body=st.binary(min_size=1, max_size=300), at=st.integers(min_value=0), flip=st.integers(1, 255)
)
def test_one_changed_byte_breaks_the_signature(body: bytes, at: int, flip: int) -> None:
    at %= len(body)
    tampered = body[:at] + bytes([body[at] ^ flip]) + body[at + 1 :]
    assert signature_problem(tampered, _sign(body), SECRET) is SignatureProblem.MISMATCH
