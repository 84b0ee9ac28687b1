"""structlog set-up: JSON lines, context from contextvars, and a redaction processor.

Redaction works twice: by key (anything named like a secret, a phone number or a message body
is replaced whatever its value) and by value (strings that look like a JWT, a bearer or Meta
token, or a phone number are masked even under an innocent key). It runs last before rendering,
so nothing a caller binds can slip past it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

_SENSITIVE_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|private|credential"
    r"|signature|phone|msisdn|wa_id|^from$|^to$|body|text|caption|message_body|content|email"
    r"|^key$|_key$|dsn|^url$|_url$|^notes?$|_notes?$)",
    re.IGNORECASE,
)
# Keys whose values are ours (ids, counts, kinds, times): neither key nor value is redacted.
_SAFE_KEYS = frozenset(
    {
        "level",
        "timestamp",
        "logger",
        "service",
        "request_id",
        "event_id",
        "tenant_id",
        "correlation_id",
        "causation_id",
        "key_id",
        "routing_key",
        "token_type",
        "content_type",
        "phone_number_id",
        "body_bytes",
        "text_length",
        "message_type",
    }
)
_VALUE_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bEAA[A-Za-z0-9]{10,}"),  # Meta access tokens
    # Phone numbers: international form with separators, or a bare run of 9-15 digits.
    re.compile(r"(?:\+|\b00)\d[\d\s().-]{6,}\d"),
    re.compile(r"(?<![\w-])\d{9,15}(?![\w-])"),
    re.compile(r"(?<![\w-])0\d{1,2}[\s.-]\d{3}[\s.-]?\d{4}(?![\w-])"),  # local: 050 123 4567
)


_ID_VALUE = re.compile(r"[0-9a-fA-F-]{1,64}")
_DIGIT = re.compile(r"\d")
# What every value pattern needs: a digit (the phone forms), or the literal start of a JWT, a
# bearer or a Meta token. A string with none of them (most: event names, consumer names,
# outcomes) cannot match any pattern and skips the six substitutions.
_TOKEN_MARKS = ("eyJ", "EAA")


def _mask_text(value: str) -> str:
    if (
        _DIGIT.search(value) is None
        and not any(mark in value for mark in _TOKEN_MARKS)
        and "bearer" not in value.lower()
    ):
        return value
    for pattern in _VALUE_PATTERNS:
        value = pattern.sub(REDACTED, value)
    return value


# Whether a key names something sensitive, per key: log lines reuse a small set of keys.
_sensitive_keys: dict[str, bool] = {}
_KEY_CACHE_SIZE = 4096


def _is_sensitive_key(key: str) -> bool:
    known = _sensitive_keys.get(key)
    if known is None:
        known = _SENSITIVE_KEY.search(key) is not None
        if len(_sensitive_keys) >= _KEY_CACHE_SIZE:
            _sensitive_keys.clear()  # keys built from data: never let the cache grow unbounded
        _sensitive_keys[key] = known
    return known


# Values that cannot hold text: what most log fields are (counts, durations, flags).
_PLAIN = frozenset({int, float, bool, type(None)})


def redact_value(key: str, value: Any) -> Any:
    """Redact one logged value, recursing into mappings and sequences."""
    if key in _SAFE_KEYS:
        return value
    # The message itself is never dropped, but anything in it that looks sensitive is masked.
    if key != "event" and _is_sensitive_key(key):
        return REDACTED
    if type(value) in _PLAIN:  # exact types: a subclass may render as anything
        return value
    if key.endswith("_id") and isinstance(value, str) and _ID_VALUE.fullmatch(value):
        return value
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last line of defence before a log line is written."""
    for key in list(event_dict):
        event_dict[key] = redact_value(key, event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


class _LineLogger:
    """Writes each rendered line to the current sys.stdout in one write call.

    `print` writes the line and its newline separately, and an unbuffered stdout (as in the
    container, PYTHONUNBUFFERED) passes each on at once: worker processes sharing one stdout
    then interleaved two lines into one. One write per line keeps lines whole (a write to a
    file opened for appending is atomic, as is one of up to PIPE_BUF bytes to a pipe).
    """

    def msg(self, message: str) -> None:
        """Write one line."""
        stream = sys.stdout
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _line_logger(*_args: Any) -> _LineLogger:
    return _LineLogger()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to the current sys.stdout, like structlog's lines."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record to sys.stdout as it is now."""
        self.stream = sys.stdout  # not setStream(): it would flush the old, maybe closed, one
        super().emit(record)


def _json_line(event_dict: Any, **kwargs: Any) -> str:
    """One log line as compact JSON (orjson: a fraction of the json module's cost per line).

    Keys that are not strings are written as strings; anything orjson does not know goes
    through structlog's fallback (its repr), as with the json module.
    """
    return orjson.dumps(
        event_dict, default=kwargs.get("default"), option=orjson.OPT_NON_STR_KEYS
    ).decode()


def configure_logging(level: str = "info", fmt: str = "json", service: str | None = None) -> None:
    """Configure structlog and the stdlib root logger once, in main()."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Each line goes, in one write call, to whatever sys.stdout is when it is written, so
        # a stream swapped out (a test's capture, a redirected stdout) is never written after
        # it was closed.
        logger_factory=_line_logger,
        cache_logger_on_first_use=False,
    )
    # Libraries that log through stdlib go through the same redaction and renderer.
    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors()[:-1],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    structlog.contextvars.clear_contextvars()
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind per-request or per-message context with contextvars."""
    return structlog.get_logger(name)


def bind(**values: Any) -> None:
    """Bind values to every log line of the current task (request id, tenant id, event id)."""
    structlog.contextvars.bind_contextvars(**values)


def scrubbed(values: MutableMapping[str, Any]) -> dict[str, Any]:
    """A redacted copy of a mapping, for the rare place that must echo input back."""
    return {k: redact_value(k, v) for k, v in values.items()}
