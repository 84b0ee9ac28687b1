"""Forwarding ``/api/v1/<resource>/...`` to the service that owns the resource.

The gateway authenticates, checks CSRF and limits first (edge middleware); the back end then
verifies the access token itself (zero trust). API-key calls are forwarded with a 60-second
access token minted for the key, carrying its scopes, so back ends see one kind of credential.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from gateway.context import CONTEXT, GatewayContext
from gateway.routes import ALL_ROLES, CLIENT_IP, RouteSpec
from majlis.http.auth import IDENTITY, Identity, bearer_token
from majlis.http.middlewares import REQUEST_ID, REQUEST_ID_HEADER
from majlis.http.problems import ProblemError
from majlis.http.tokens import Role
from majlis.logging import get_logger

log = get_logger(__name__)
PROXY_PATH = "/api/v1/{resource}/{rest:.*}"
PROXY_ROOT = "/api/v1/{resource}"
# resource -> (service, API-key scope family)
PROXY_TABLE: dict[str, tuple[str, str]] = {
    "conversations": ("inbox", "conversations"),
    "contacts": ("inbox", "contacts"),
    "messages": ("inbox", "messages"),
    "media": ("inbox", "conversations"),
    "labels": ("inbox", "conversations"),
    "canned-responses": ("inbox", "conversations"),
    "assignment-policies": ("inbox", "conversations"),
    "teams": ("inbox", "conversations"),
    "contact-attributes": ("inbox", "contacts"),
    "flows": ("chatflow", "flows"),
    "chatbots": ("chatflow", "flows"),
    "leads": ("chatflow", "leads"),
    "companion": ("chatflow", "flows"),
    "knowledge": ("chatflow", "flows"),
    "ai": ("chatflow", "flows"),
    "templates": ("broadcast", "templates"),
    "campaigns": ("broadcast", "campaigns"),
    "analytics": ("broadcast", "analytics"),
    "audit": ("audit", "audit"),
    "webhooks": ("broadcast", "webhooks"),
}
_FORWARD_REQUEST = (
    "Content-Type",
    "Accept",
    "Accept-Language",
    "If-None-Match",
    "If-Match",
    "Idempotency-Key",
)
_DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "set-cookie",
        "server",
        "date",
        "proxy-authenticate",
        "upgrade",
    }
)
API_KEY_FORWARD_TTL = 60
# Uploads are streamed to the back end (never held whole here) up to settings.max_upload_bytes;
# every other body is read, up to settings.max_body_bytes.
UPLOAD_PATHS = re.compile(r"^/api/v1/(contacts/import|media)$")
_UPLOAD_CHUNK = 64 * 1024


class _UploadTooLarge(Exception):
    """A streamed upload went past the limit (the back end sees a truncated body)."""


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "The upload is too large", detail=f"Uploads are limited to {limit} bytes."
    )


async def _streamed(request: web.Request, limit: int) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in request.content.iter_chunked(_UPLOAD_CHUNK):
        sent += len(chunk)
        if sent > limit:
            raise _UploadTooLarge
        yield chunk


def _body(request: web.Request, limit: int) -> AsyncIterator[bytes] | None:
    """The request body as a bounded stream (uploads), or None to read it whole."""
    if not UPLOAD_PATHS.match(request.path) or not request.can_read_body:
        return None
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    return _streamed(request, limit)


# Resources whose changes the back ends reserve to owners and admins (templates, campaigns,
# flows and their AI pieces, and the inbox's tenant-wide settings: labels, assignment
# policies, the attribute schema, canned responses, teams), or that only they read (audit,
# webhooks): a key holding the scope the edge checked acts there as an admin ("by scope" in
# the README's table). Everything else forwards a key as an agent, so what the README keeps
# for people (contact deletion, erasure, CSV and data-subject exports) stays refused to keys.
_KEY_ADMIN_RESOURCES = frozenset(
    {
        "templates",
        "campaigns",
        "flows",
        "chatbots",
        "knowledge",
        "ai",
        "labels",
        "assignment-policies",
        "contact-attributes",
        "canned-responses",
        "teams",
        "audit",
        "webhooks",
    }
)
_ADMIN_READS = frozenset({"audit", "webhooks"})
# Families a key reaches with one scope whatever the method. Webhooks follow the general
# rule (webhooks:read to read, webhooks:write to change), as issue 9's contract names them.
_ONE_SCOPE = {"messages": "messages:send"}


def proxy_scope(family: str, method: str) -> str:
    """The API-key scope a call of `method` on a proxied resource family needs."""
    if family in _ONE_SCOPE:
        return _ONE_SCOPE[family]
    if family in ("analytics", "leads", "audit"):
        return f"{family}:read"
    return f"{family}:{'read' if method in ('GET', 'HEAD') else 'write'}"


def proxy_spec(request: web.Request) -> RouteSpec | None:
    """The protections of a proxied call: any role; API keys need the family's scope."""
    entry = PROXY_TABLE.get(request.match_info.get("resource", ""))
    if entry is None:
        return None
    return RouteSpec(
        request.method,
        PROXY_PATH,
        forward,
        "proxied",
        auth="any",
        roles=ALL_ROLES,
        scope=proxy_scope(entry[1], request.method),
    )


def _key_role(resource: str, method: str) -> Role:
    if resource in _KEY_ADMIN_RESOURCES and (
        resource in _ADMIN_READS or method not in ("GET", "HEAD")
    ):
        return "admin"
    return "agent"


def _upstream(ctx: GatewayContext, service: str) -> str:
    return {
        "inbox": ctx.settings.inbox_url,
        "chatflow": ctx.settings.chatflow_url,
        "broadcast": ctx.settings.broadcast_url,
        "audit": ctx.settings.audit_url,
    }[service]


def _credential(
    ctx: GatewayContext, request: web.Request, identity: Identity, resource: str
) -> str:
    if identity.kind == "api_key":
        token, _ = ctx.signer.issue(
            user_id=identity.principal_id,
            tenant_id=identity.tenant_id,
            role=_key_role(resource, request.method),
            ttl_seconds=API_KEY_FORWARD_TTL,
            scopes=tuple(sorted(identity.scopes)),
        )
        return token
    original = bearer_token(request)
    assert original is not None  # the edge middleware authenticated this very header
    return original


async def forward(request: web.Request) -> web.StreamResponse:
    """Send the request on with the caller's identity and request id; relay the answer."""
    ctx = request.app[CONTEXT]
    entry = PROXY_TABLE.get(request.match_info["resource"])
    if entry is None:
        raise ProblemError(404, "Not found")
    identity = request[IDENTITY]
    headers = CIMultiDict(
        (name, request.headers[name]) for name in _FORWARD_REQUEST if name in request.headers
    )
    headers["Authorization"] = (
        f"Bearer {_credential(ctx, request, identity, request.match_info['resource'])}"
    )
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    headers["X-Forwarded-For"] = request[CLIENT_IP]
    url = _upstream(ctx, entry[0]) + request.rel_url.path_qs
    limit = ctx.settings.max_upload_bytes
    body: bytes | AsyncIterator[bytes] | None = _body(request, limit)
    if body is None and request.can_read_body:
        body = await request.read()
    try:
        timeout = (
            aiohttp.ClientTimeout(total=ctx.settings.proxy_upload_timeout_seconds)
            if UPLOAD_PATHS.match(request.path)
            else ctx.http.timeout  # proxy_timeout_seconds
        )
        async with ctx.http.request(
            request.method,
            url,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=timeout,
        ) as upstream:
            payload = await upstream.read()
            response = web.Response(status=upstream.status, body=payload)
            for name, value in upstream.headers.items():
                if name.lower() not in _DROP_RESPONSE:
                    response.headers.add(name, value)
            return response
    except TimeoutError:
        log.warning("proxy.timeout", service=entry[0])
        raise ProblemError(
            504, "The service did not answer in time", slug="gateway-timeout"
        ) from None
    except _UploadTooLarge:
        raise _too_large(limit) from None
    except aiohttp.ClientError as error:
        if isinstance(error.__cause__, _UploadTooLarge) or isinstance(
            error.__context__, _UploadTooLarge
        ):
            raise _too_large(limit) from None
        log.warning("proxy.unreachable", service=entry[0], error=type(error).__name__)
        raise ProblemError(502, "The service is unavailable", slug="bad-gateway") from None
