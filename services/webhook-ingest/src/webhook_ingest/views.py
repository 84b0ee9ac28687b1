"""The two doors Meta uses: the subscription handshake (GET) and event notifications (POST).

POST order matters: size limit, then the signature over the raw bytes, and only then any
parsing. The answer is 200 only once the broker confirmed every event, so a broker outage
makes Meta retry instead of losing messages.

A body that verifies but is not JSON, or not a webhook envelope, gets a 400 problem: only a
holder of the app secret can produce it, Meta never sends it, and a loud answer surfaces the
bug. A well-formed envelope of another product (`object` other than WhatsApp) and unknown
change fields get 200 and are counted: Meta may add fields at any time, and a non-200 would
only make it retry for a week.
"""

from __future__ import annotations

from typing import NoReturn
from uuid import UUID

import asyncpg
import orjson
from aiohttp import web

from majlis.events import Envelope
from majlis.http import ProblemError
from majlis.http.middlewares import LOG_FIELDS
from majlis.http.resources import PUBLISHER
from majlis.logging import get_logger
from majlis.messaging import PublishError
from webhook_ingest.deps import INGEST, IngestDeps
from webhook_ingest.envelopes import envelope_for
from webhook_ingest.parsing import ParsedWebhook, WebhookShapeError, parse_webhook
from webhook_ingest.signatures import SIGNATURE_HEADER, signature_problem

log = get_logger(__name__)

_READ_CHUNK = 64 * 1024
_MAX_CHALLENGE = 256
_RETRY_AFTER = {"Retry-After": "5"}
_ACCEPTED = b'{"status": "accepted"}'


async def verify_subscription(request: web.Request) -> web.Response:
    """Meta's handshake: echo hub.challenge when mode and verify token match; else 403."""
    deps = request.app[INGEST]
    app_id = request.match_info.get("app_id")
    if app_id is not None and deps.secrets.for_app(app_id) is None:
        raise ProblemError(403, "Verification failed")
    query = request.query
    if query.get("hub.mode") != "subscribe" or not deps.is_verify_token(
        query.get("hub.verify_token", "")
    ):
        log.warning("webhook.handshake_rejected")
        raise ProblemError(403, "Verification failed")
    challenge = query.get("hub.challenge", "")
    if not challenge or len(challenge) > _MAX_CHALLENGE or not challenge.isprintable():
        raise ProblemError(400, "hub.challenge is missing or malformed")
    log.info("webhook.handshake_accepted")
    # Echoed verbatim, as text that no browser will sniff into something else.
    return web.Response(
        text=challenge, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


async def receive_webhook(request: web.Request) -> web.Response:
    """Verify, split, route and publish one webhook POST; 200 only after broker confirms."""
    deps = request.app[INGEST]
    secret = _secret_for(request, deps)
    body = await _read_body(request, deps)
    problem = signature_problem(body, request.headers.get(SIGNATURE_HEADER), secret)
    if problem is not None:
        deps.metrics.rejected.labels(problem.value).inc()
        log.warning("webhook.signature_rejected", reason=problem.value, body_bytes=len(body))
        raise ProblemError(403, "Invalid webhook signature", slug="invalid-signature")
    parsed = _parse(body, deps)
    envelopes = await _route(parsed, deps)
    if envelopes:
        try:
            await request.app[PUBLISHER].publish_many(envelopes)
        except PublishError as exc:
            deps.metrics.rejected.labels("broker_unavailable").inc()
            log.warning("webhook.publish_failed", error_type=type(exc).__name__)
            raise ProblemError(
                503, "Events could not be queued; retry later", headers=_RETRY_AFTER
            ) from None
    for envelope in envelopes:
        deps.metrics.published(envelope.type.split(".")[1]).inc()
    # On the request's one log line (http.request), not a line of its own.
    request[LOG_FIELDS] = {
        "items": len(parsed.items),
        "published": len(envelopes),
        "skipped": sum(parsed.skipped.values()),
    }
    return web.Response(body=_ACCEPTED, content_type="application/json")


def _secret_for(request: web.Request, deps: IngestDeps) -> str:
    app_id = request.match_info.get("app_id")
    if app_id is None:
        return deps.secrets.default()
    secret = deps.secrets.for_app(app_id)
    if secret is None:
        deps.metrics.rejected.labels("unknown_app").inc()
        log.warning("webhook.unknown_app")
        raise ProblemError(403, "Unknown app", slug="invalid-signature")
    return secret


async def _read_body(request: web.Request, deps: IngestDeps) -> bytes:
    """The raw body, refusing more than the limit without buffering it (413)."""
    limit = deps.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        _too_large(deps)
    body = bytearray()
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            _too_large(deps)
    return bytes(body)


def _too_large(deps: IngestDeps) -> NoReturn:
    deps.metrics.rejected.labels("too_large").inc()
    log.warning("webhook.too_large", limit=deps.max_body_bytes)
    raise ProblemError(413, "Webhook body too large")


def _parse(body: bytes, deps: IngestDeps) -> ParsedWebhook:
    try:
        parsed = parse_webhook(orjson.loads(body))
    except orjson.JSONDecodeError:
        reason = "bad_json"
    except WebhookShapeError:
        reason = "bad_envelope"
    else:
        for (kind, outcome), count in parsed.skipped.items():
            deps.metrics.items.labels(kind, outcome).inc(count)
            log.info("webhook.item_skipped", kind=kind, outcome=outcome, count=count)
        return parsed
    deps.metrics.rejected.labels(reason).inc()
    log.warning("webhook.bad_body", reason=reason, body_bytes=len(body))
    raise ProblemError(400, "Webhook body is not a WhatsApp webhook envelope")


async def _route(parsed: ParsedWebhook, deps: IngestDeps) -> list[Envelope]:
    """Envelopes for items of known tenants; unknown numbers are logged and counted only."""
    received_at = deps.clock()
    envelopes: list[Envelope] = []
    unrouted: set[tuple[str, str, bool]] = set()
    for item in parsed.items:
        try:
            tenant_id: UUID | None = await deps.router.tenant_for(item)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("webhook.routing_failed", error_type=type(exc).__name__)
            raise ProblemError(
                503, "Tenant lookup unavailable; retry later", headers=_RETRY_AFTER
            ) from None
        if tenant_id is None:
            deps.metrics.items.labels(item.kind.value, "unrouted").inc()
            meta_id = item.phone_number_id or item.waba_id
            unrouted.add((item.kind.value, meta_id, item.routes_by_number))
            continue
        envelopes.append(envelope_for(item, tenant_id, received_at))
    for kind, meta_id, by_number in sorted(unrouted):
        # Meta's ids of the business number / account only: never a customer's number.
        if by_number:
            log.warning("webhook.unrouted", kind=kind, phone_number_id=meta_id)
        else:
            log.warning("webhook.unrouted", kind=kind, waba_id=meta_id)
    return envelopes


def add_routes(app: web.Application) -> None:
    """Mount the webhook routes (the platform app's URL and one per tenant-owned app)."""
    app.router.add_get("/webhooks/whatsapp", verify_subscription)
    app.router.add_post("/webhooks/whatsapp", receive_webhook)
    # Any app id matches the route; one without a configured secret is refused (403).
    app.router.add_get("/webhooks/whatsapp/{app_id}", verify_subscription)
    app.router.add_post("/webhooks/whatsapp/{app_id}", receive_webhook)
