"""Where you are signed in: list your own sign-ins (refresh families) and end any other one.

Ending a sign-in revokes its refresh family and every access token it holds, at once, on every
replica (the session entry in Redis). Another user's or another tenant's sign-in is unknown
(404); the current one is ended by signing out (POST /api/v1/auth/logout).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from gateway import audit
from gateway.context import CONTEXT
from gateway.response_models import SessionsEndedOut, SessionsOut
from gateway.routes import route
from gateway.sessions import live_sessions, revoke_user_session
from majlis.db import tenant_transaction
from majlis.http import ProblemError
from majlis.http.auth import IDENTITY, Identity

_NOT_FOUND = ProblemError(404, "No such sign-in")


def _identity(request: web.Request) -> tuple[Identity, UUID | None]:
    identity: Identity = request[IDENTITY]
    claims = identity.claims
    return identity, None if claims is None else claims.session_id


@route(
    "GET",
    "/api/v1/auth/sessions",
    "Where you are signed in",
    response=SessionsOut,
    tag="auth",
    responses={200: "Your sign-ins that still work"},
)
async def list_sessions(request: web.Request) -> web.Response:
    """Your live sign-ins: when and from where, on what device, and which one is this."""
    ctx = request.app[CONTEXT]
    identity, current = _identity(request)
    # Sessions are the auth flows' rows: read in their role, only the caller's own.
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system", readonly=True) as conn:
        found = await live_sessions(conn, identity.principal_id, datetime.now(UTC))
    return web.json_response(
        {
            "sessions": [
                {
                    "id": str(s.id),
                    "created_at": s.created_at.isoformat(),
                    "last_used_at": s.last_used_at.isoformat(),
                    "expires_at": s.expires_at.isoformat(),
                    "ip": s.client_ip,
                    "device": s.device,
                    "current": s.id == current,
                }
                for s in found
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


@route(
    "DELETE",
    "/api/v1/auth/sessions/{session_id}",
    "End one of your other sign-ins",
    tag="auth",
    responses={
        204: "Ended: its refresh token and access tokens no longer work",
        404: "No such sign-in of yours",
        409: "This is the current sign-in: sign out instead (current-session)",
    },
)
async def end_session(request: web.Request) -> web.Response:
    """A sign-in you do not recognise, or a computer you forgot to sign out of."""
    ctx = request.app[CONTEXT]
    identity, current = _identity(request)
    try:
        session_id = UUID(request.match_info["session_id"])
    except ValueError:
        raise _NOT_FOUND from None
    if session_id == current:
        raise ProblemError(
            409, "This is the sign-in you are using: sign out instead", slug="current-session"
        )
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        if not await revoke_user_session(
            conn, identity.principal_id, session_id, "signed_out_remotely"
        ):
            raise _NOT_FOUND
        # Redis first: if it cannot record the revocation, nothing commits.
        await ctx.revocations.revoke_session(session_id)
        await audit.by_caller(
            conn, request, "auth.session.ended", target_type="session", target_id=session_id
        )
    return web.Response(status=204)


@route(
    "POST",
    "/api/v1/auth/sessions/end-others",
    "Sign out everywhere else",
    response=SessionsEndedOut,
    tag="auth",
    responses={200: "Every other sign-in of yours ended; this one goes on"},
)
async def end_other_sessions(request: web.Request) -> web.Response:
    """Every sign-in of yours but this one ends now."""
    ctx = request.app[CONTEXT]
    identity, current = _identity(request)
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        others = [
            s.id
            for s in await live_sessions(conn, identity.principal_id, datetime.now(UTC))
            if s.id != current
        ]
        for session_id in others:
            await revoke_user_session(
                conn, identity.principal_id, session_id, "signed_out_remotely"
            )
            await ctx.revocations.revoke_session(session_id)
        if others:
            await audit.by_caller(
                conn,
                request,
                "auth.sessions.ended_others",
                target_type="user",
                target_id=identity.principal_id,
                details={"ended": len(others)},
            )
    return web.json_response({"ended": len(others)})
