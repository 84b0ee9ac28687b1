"""Middlewares every service runs: request id + log context, problem details, metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram

from majlis.http.problems import ProblemError, from_problem_error, problem_response
from majlis.logging import get_logger

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
# What a handler adds to its request's canonical log line: counts and kinds, never content, and
# none of the line's own keys (method, path, status, duration_ms).
LOG_FIELDS: web.RequestKey[dict[str, Any]] = web.RequestKey("log_fields", dict)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _request_id(request: web.Request) -> str:
    # A caller's id is kept only if it is harmless to log; otherwise we make our own.
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to logs and the response; one canonical log line per request, with
    what the handler put in `request[LOG_FIELDS]`."""
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **request.get(LOG_FIELDS, {}),
            )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a problem document; never a stack trace, never HTML."""
    request_id = request.get(REQUEST_ID)
    try:
        return await handler(request)
    except ProblemError as error:
        response = from_problem_error(error, instance=request.path)
    except (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        # PostgreSQL cannot store NUL (U+0000) in text or jsonb. Only the request can have
        # brought it (encrypted fields hold it fine, so it is not refused up front): bad input.
        response = problem_response(
            422,
            "The request holds a character that cannot be stored (NUL)",
            slug="unstorable-character",
            instance=request.path,
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() in {"allow", "retry-after"}}
        response = problem_response(
            error.status, error.reason, instance=request.path, headers=headers
        )
    except Exception:
        log.exception("http.unhandled_error", path=request.path)
        response = problem_response(
            500, "Internal server error", instance=request.path, request_id=request_id
        )
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def metrics_middleware(registry: CollectorRegistry, service: str) -> Middleware:
    """Prometheus request counter and latency histogram, labelled by route template."""
    requests = Counter(
        "majlis_http_requests_total",
        "HTTP requests",
        ["service", "method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "majlis_http_request_duration_seconds",
        "HTTP request latency",
        ["service", "route"],
        registry=registry,
    )

    # labels() validates and looks the child up under a lock on every call; the children of
    # the few (method, route, status) a service sees are kept here instead. Bounded: routes
    # are templates (or "unmatched"), methods are the standard ones (any other counts as
    # "other": a client choosing methods must not grow the metrics without end).
    counted: dict[tuple[str, str, int], Counter] = {}
    timed: dict[str, Histogram] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            method = request.method if request.method in _METHODS else "other"
            key = (method, route, status)
            counter = counted.get(key)
            if counter is None:
                counter = counted[key] = requests.labels(service, method, route, str(status))
            counter.inc()
            histogram = timed.get(route)
            if histogram is None:
                histogram = timed[route] = latency.labels(service, route)
            histogram.observe(time.perf_counter() - started)

    return middleware
