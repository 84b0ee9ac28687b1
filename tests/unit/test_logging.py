"""Secrets, phone numbers and message bodies never reach a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from majlis.http import RequestModel, create_base_app, parse_json
from majlis.logging import configure_logging, get_logger
from majlis.settings import ServiceName, Settings

TOKEN = "EAAGm0PX4ZCpsBAKZAZBxyz1234567890abcdef"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
PASSWORD = "correct horse battery staple 42!"
PHONE = "+971 50 123 4567"
BODY = "مرحبا، أريد حجز موعد"


class Login(RequestModel):
    email: str
    password: str
    phone: str
    note: str


async def _handler(request: web.Request) -> web.Response:
    body = await parse_json(request, Login)
    log = get_logger("test")
    # A careless handler that logs everything it has, under innocent and obvious keys alike.
    log.info(
        "login.attempt",
        password=body.password,
        phone=body.phone,
        note=body.note,
        detail=f"user sent {body.phone} with token {TOKEN}",
        extra={"authorization": JWT},
    )
    log.info("free text mentions 00971501234567 and Bearer abcdefghijklmnop and " + JWT)
    logging.getLogger("stdlib").warning("stdlib says %s and %s", PHONE, TOKEN)
    return web.json_response({"ok": True})


@pytest.fixture
def logging_configured(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Configure logging as main() does, onto this test's captured stdout (capsys first), and
    undo it after: later tests must not print into a capture that pytest has closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("debug", "json", service="test")
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("logging_configured")
async def test_sensitive_values_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    app = create_base_app(Settings(), ServiceName.GATEWAY)
    app.router.add_post("/login", _handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(
            "/login",
            json={"email": "a@b.co", "password": PASSWORD, "phone": PHONE, "note": BODY},
            headers={"Authorization": f"Bearer {JWT}"},
        )
        assert response.status == 200
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line["event"] == "login.attempt" for line in lines)
    assert any(line["event"] == "http.request" for line in lines)
    for secret in (
        TOKEN,
        JWT,
        PASSWORD,
        PHONE,
        "501234567",
        "00971501234567",
        BODY,
        "abcdefghijklmnop",
    ):
        assert secret not in output, secret


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("access_token", "anything"),
        ("message_body", "hello"),
        ("wa_id", "971501234567"),
        ("text", "hi there"),
        ("anything", "call me on 050 123 4567"),
        ("anything", "0501234567"),
    ],
)
def test_redaction_by_key_and_by_value(key: str, value: str) -> None:
    from majlis.logging import REDACTED, redact_value

    result: Any = redact_value(key, value)
    assert result != value
    assert REDACTED in result


def test_ids_and_times_are_kept() -> None:
    from majlis.logging import redact_value

    assert redact_value("tenant_id", "1b4e28ba-2fa1-11d2-883f-0016d3cca427") == (
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )
    assert redact_value("timestamp", "2026-11-28T01:09:44.123Z") == "2026-11-28T01:09:44.123Z"
    assert redact_value("phone_number_id", "106540352242922") == "106540352242922"


def _mask_in_full(value: str) -> str:
    from majlis.logging import _VALUE_PATTERNS, REDACTED

    for pattern in _VALUE_PATTERNS:
        value = pattern.sub(REDACTED, value)
    return value


@pytest.mark.parametrize(
    "value",
    [
        "bus.message.handled",
        "broadcast.analytics",
        BODY,
        "رقمي ٠٥٠١٢٣٤٥٦٧",  # Arabic-Indic digits are digits to the patterns too
        "Authorization: BEARER abcdefgh12345",
        "bearer abcdefghijk",
        TOKEN,
        "EAAabcdefghijklmn",
        JWT,
        "call +971-50-123-4567 now",
        "",
    ],
)
def test_the_fast_path_masks_exactly_what_every_pattern_would(value: str) -> None:
    from majlis.logging import _mask_text

    assert _mask_text(value) == _mask_in_full(value)


@given(st.text(alphabet=st.sampled_from("aBeEyJrR0159\u0660\u0665 +-.()_/=\u212a"), max_size=40))
def test_the_fast_path_never_skips_a_match(value: str) -> None:
    from majlis.logging import _mask_text

    assert _mask_text(value) == _mask_in_full(value)


@given(st.text(max_size=60))
def test_the_fast_path_on_any_text(value: str) -> None:
    from majlis.logging import _mask_text

    assert _mask_text(value) == _mask_in_full(value)


def test_key_verdicts_are_cached_but_bounded() -> None:
    from majlis import logging as majlis_logging

    for index in range(majlis_logging._KEY_CACHE_SIZE + 10):
        majlis_logging.redact_value(f"field_{index}", "x")
    assert len(majlis_logging._sensitive_keys) <= majlis_logging._KEY_CACHE_SIZE
    assert majlis_logging.redact_value("x_token", "abc") == majlis_logging.REDACTED
    assert majlis_logging.redact_value("x_token", "abc") == majlis_logging.REDACTED


def test_each_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes sharing a stdout (the ingest's workers) must never interleave two lines."""
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    monkeypatch.setattr("sys.stdout", Recorder())
    configure_logging("info", "json", service="webhook-ingest")
    get_logger("t").info("bus.message.handled", outcome="ok")
    get_logger("t").warning("bus.message.handled", outcome="retried")
    assert len(writes) == 2
    assert all(w.endswith("}\n") and w.count("\n") == 1 for w in writes)
    assert json.loads(writes[1])["outcome"] == "retried"


def test_numbers_and_flags_pass_but_not_under_a_sensitive_key() -> None:
    """Plain numbers, flags and None are kept as they are (the fast path), except under a key
    that names something sensitive: an OTP or a phone number as an int is still a secret."""
    from majlis.logging import REDACTED, redact_value

    for value in (3, 2.5, True, None, 971501234567):
        assert redact_value("count", value) == value
    for key in ("otp_code_token", "phone", "pin_password"):
        assert redact_value(key, 123456) == REDACTED

    # A subclass of int may render as anything: it takes the careful path.
    class Loud(int):
        def __str__(self) -> str:
            return "call +971 50 123 4567"

    assert redact_value("count", Loud(3)) == Loud(3)


@pytest.mark.usefixtures("logging_configured")
async def test_a_line_is_compact_json_and_a_handler_adds_to_the_request_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from majlis.http.middlewares import LOG_FIELDS

    async def counted(request: web.Request) -> web.Response:
        request[LOG_FIELDS] = {"items": 3, "published": 2}
        return web.json_response({})

    app = create_base_app(Settings(), ServiceName.WEBHOOK_INGEST)
    app.router.add_post("/counted", counted)
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/counted")).status == 200
    get_logger("test").info("odd values", by_number={1: "a"}, thing=object(), n=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    parsed = [json.loads(line) for line in lines]
    [request_line] = [p for p in parsed if p["event"] == "http.request"]
    assert (request_line["items"], request_line["published"], request_line["status"]) == (3, 2, 200)
    [odd] = [p for p in parsed if p["event"] == "odd values"]
    assert odd["by_number"] == {"1": "a"}
    assert odd["thing"].startswith("<object object at")
    assert odd["n"] == 2
