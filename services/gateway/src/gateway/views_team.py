"""The team: invites (a single-use, expiring link), users, role changes, deactivation."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from aiohttp import web

from gateway import audit, repository
from gateway.context import CONTEXT, as_caller
from gateway.keys import b64url, keyed_hash
from gateway.models import AcceptInviteBody, InviteBody, RoleChangeBody
from gateway.passwords import hash_password, password_problems
from gateway.response_models import (
    CreatedInviteOut,
    InvitesOut,
    JoinedOut,
    SessionsEndedOut,
    UserOut,
    UsersOut,
)
from gateway.routes import CLIENT_IP, MANAGERS, route
from gateway.sessions import sign_out_everywhere
from majlis.db import claim_login_email, tenant_transaction
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.plans import Limit, check_limit

_INVITE = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
_NOT_FOUND = ProblemError(404, "Not found")


def user_json(user: repository.UserRow) -> dict[str, object]:
    """A member as the team routes answer (UserOut)."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "two_factor": user.two_factor_enabled_at is not None,
        "created_at": user.created_at.isoformat(),
    }


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise _NOT_FOUND from None


@route(
    "POST",
    "/api/v1/team/invites",
    "Invite someone to the team",
    roles=MANAGERS,
    body=InviteBody,
    response=CreatedInviteOut,
    tag="team",
    responses={
        201: "Invite with its single-use link",
        403: "The plan's team member limit is reached (plan-limit-reached)",
    },
)
async def create_invite(request: web.Request) -> web.Response:
    """Owners and admins invite; only an owner may invite another owner."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, InviteBody)
    if body.role == "owner" and identity.role != "owner":
        raise ProblemError(403, "Only an owner can invite an owner", slug="forbidden")
    invite_id, secret = uuid.uuid4(), b64url(secrets.token_bytes(32))
    expires = datetime.now(UTC) + timedelta(hours=ctx.settings.invite_ttl_hours)
    async with as_caller(ctx, identity) as conn:
        taken = await conn.fetchval("SELECT 1 FROM users WHERE email = $1", body.email)
        if taken:
            raise ProblemError(409, "This person is already on the team", slug="already-member")
        await check_limit(conn, identity.tenant_id, Limit.TEAM_MEMBERS)
        await conn.execute(
            "INSERT INTO invites (tenant_id, id, email, role, token_hash, invited_by, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            identity.tenant_id,
            invite_id,
            body.email,
            body.role,
            keyed_hash(ctx.keys.invite, secret),
            identity.principal_id,
            expires,
        )
        await audit.by_caller(
            conn,
            request,
            "team.invited",
            target_type="invite",
            target_id=invite_id,
            details={"role": body.role},
        )
    token = f"{identity.tenant_id.hex}.{invite_id.hex}.{secret}"
    # The token travels in the fragment, which browsers never send to a server or a log.
    link = f"{ctx.settings.public_base_url}/invite#token={token}"
    return web.json_response(
        {
            "id": str(invite_id),
            "email": body.email,
            "role": body.role,
            "expires_at": expires.isoformat(),
            "token": token,
            "invite_url": link,
        },
        status=201,
    )


@route(
    "GET",
    "/api/v1/team/invites",
    "Pending invites",
    roles=MANAGERS,
    response=InvitesOut,
    tag="team",
    responses={200: "Invites"},
)
async def list_invites(request: web.Request) -> web.Response:
    """Invites not yet accepted, revoked or expired."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        rows = await conn.fetch(
            "SELECT id, email, role, created_at, expires_at FROM invites WHERE accepted_at IS NULL"
            " AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at"
        )
    return web.json_response(
        {
            "invites": [
                {
                    "id": str(r["id"]),
                    "email": r["email"],
                    "role": r["role"],
                    "created_at": r["created_at"].isoformat(),
                    "expires_at": r["expires_at"].isoformat(),
                }
                for r in rows
            ]
        }
    )


@route(
    "DELETE",
    "/api/v1/team/invites/{invite_id}",
    "Revoke an invite",
    roles=MANAGERS,
    tag="team",
    responses={204: "Revoked", 404: "No such pending invite"},
)
async def revoke_invite(request: web.Request) -> web.Response:
    """The link stops working at once."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    invite_id = _uuid(request.match_info["invite_id"])
    async with as_caller(ctx, identity) as conn:
        status = await conn.execute(
            "UPDATE invites SET revoked_at = now() WHERE id = $1 AND accepted_at IS NULL"
            " AND revoked_at IS NULL",
            invite_id,
        )
        if status == "UPDATE 0":
            raise _NOT_FOUND
        await audit.by_caller(
            conn,
            request,
            "team.invite.revoked",
            target_type="invite",
            target_id=invite_id,
        )
    return web.Response(status=204)


@route(
    "POST",
    "/api/v1/auth/invites/accept",
    "Join a team with an invite link",
    auth="public",
    rate="accept",
    body=AcceptInviteBody,
    response=JoinedOut,
    tag="team",
    responses={201: "Account created", 404: "Invalid or expired invite"},
)
async def accept_invite(request: web.Request) -> web.Response:
    """Create the invited user; the invite works once."""
    ctx = request.app[CONTEXT]
    body = await parse_json(request, AcceptInviteBody)
    match = _INVITE.match(body.token)
    if not match:
        raise ProblemError(404, "This invite is not valid", slug="invalid-invite")
    tenant_id, invite_id, secret = UUID(match.group(1)), UUID(match.group(2)), match.group(3)
    async with tenant_transaction(ctx.pool, tenant_id, "system") as conn:
        row = await conn.fetchrow(
            "SELECT email, role, token_hash FROM invites WHERE id = $1 AND accepted_at IS NULL"
            " AND revoked_at IS NULL AND expires_at > now() FOR UPDATE",
            invite_id,
        )
        if row is None or not hmac.compare_digest(
            row["token_hash"], keyed_hash(ctx.keys.invite, secret)
        ):
            raise ProblemError(404, "This invite is not valid", slug="invalid-invite")
        problems = password_problems(body.password, context=(row["email"].split("@")[0],))
        if problems:
            raise ProblemError(
                422,
                "The password is not acceptable",
                slug="weak-password",
                errors=[{"field": "password", "message": p} for p in problems],
            )
        user_id = uuid.uuid4()
        await repository.insert_user(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            email=row["email"],
            name=body.name,
            role=row["role"],
            password_hash=await hash_password(body.password),
        )
        if not await claim_login_email(conn, row["email"], user_id):
            raise ProblemError(
                409, "This email address cannot join with this invite", slug="registration-conflict"
            )
        await conn.execute("UPDATE invites SET accepted_at = now() WHERE id = $1", invite_id)
        await audit.record(
            conn,
            tenant_id,
            "team.invite.accepted",
            actor_type="user",
            actor_id=user_id,
            target_type="invite",
            target_id=invite_id,
            ip=request[CLIENT_IP],
            details={"role": row["role"]},
        )
    return web.json_response({"tenant_id": str(tenant_id), "user_id": str(user_id)}, status=201)


@route(
    "GET",
    "/api/v1/users",
    "The team",
    response=UsersOut,
    tag="team",
    responses={200: "Users"},
)
async def list_users(request: web.Request) -> web.Response:
    """Everyone on the team (agents need it to hand over conversations)."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        users = await repository.list_users(conn)
    return web.json_response({"users": [user_json(u) for u in users]})


def path_user_id(request: web.Request) -> UUID:
    """The user id in the path; 404 when it is not a UUID (no such user)."""
    return _uuid(request.match_info["user_id"])


async def member_for_update(
    request: web.Request, conn: repository.Conn, identity: Identity
) -> repository.UserRow:
    """The member the path names, locked; 404 if not in the tenant, 403 for an owner when
    the caller is not one (only owners act on owners)."""
    target = await repository.get_user_for_update(conn, path_user_id(request))
    if target is None:
        raise _NOT_FOUND
    if target.role == "owner" and identity.role != "owner":
        raise ProblemError(403, "Only an owner can change an owner", slug="forbidden")
    return target


@route(
    "PATCH",
    "/api/v1/users/{user_id}",
    "Change a user's role",
    roles=MANAGERS,
    body=RoleChangeBody,
    response=UserOut,
    tag="team",
    responses={
        200: "Updated user",
        404: "No such user",
        409: "Would leave the team without an owner",
    },
)
async def change_role(request: web.Request) -> web.Response:
    """Owners and admins change roles; admins never touch owners; one owner always remains."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, RoleChangeBody)
    if body.role == "owner" and identity.role != "owner":
        raise ProblemError(403, "Only an owner can make someone an owner", slug="forbidden")
    async with as_caller(ctx, identity) as conn:
        # Serialise owner changes of one tenant so two demotions cannot both pass the check.
        await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", identity.tenant_id)
        target = await member_for_update(request, conn, identity)
        if (
            target.role == "owner"
            and body.role != "owner"
            and target.is_active
            and await repository.count_active_owners(conn) <= 1
        ):
            raise ProblemError(409, "The last owner cannot be demoted", slug="last-owner")
        if body.role != target.role:
            await repository.set_role(conn, target.id, body.role)
            await audit.by_caller(
                conn,
                request,
                "team.role.changed",
                target_type="user",
                target_id=target.id,
                details={"from": target.role, "to": body.role},
            )
            # Tokens carry the role: end the old ones; the next refresh carries the new role.
            await ctx.revocations.revoke_user_tokens(target.id)
        updated = await repository.get_user(conn, target.id)
    assert updated is not None
    return web.json_response(user_json(updated))


@route(
    "POST",
    "/api/v1/users/{user_id}/deactivate",
    "Deactivate a user and end their sessions",
    roles=MANAGERS,
    response=UserOut,
    tag="team",
    responses={200: "Deactivated", 404: "No such user", 409: "The last owner cannot leave"},
)
async def deactivate(request: web.Request) -> web.Response:
    """The user can no longer sign in; every session and access token dies now."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity) as conn:
        await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", identity.tenant_id)
        target = await member_for_update(request, conn, identity)
        if (
            target.role == "owner"
            and target.is_active
            and await repository.count_active_owners(conn) <= 1
        ):
            raise ProblemError(409, "The last owner cannot leave", slug="last-owner")
        if target.is_active:
            await repository.deactivate_user(conn, target.id)
            revoked = await sign_out_everywhere(conn, ctx.revocations, target.id, "deactivated")
            await audit.by_caller(
                conn,
                request,
                "team.user.deactivated",
                target_type="user",
                target_id=target.id,
                details={"sessions_revoked": len(revoked)},
            )
        updated = await repository.get_user(conn, target.id)
    assert updated is not None
    return web.json_response(user_json(updated))


@route(
    "POST",
    "/api/v1/users/{user_id}/sign-out",
    "Sign a member out everywhere",
    roles=MANAGERS,
    response=SessionsEndedOut,
    tag="team",
    responses={
        200: "Every sign-in of the member ended; they can sign in again",
        403: "Yourself (use sign out everywhere else) or an owner as an admin",
        404: "No such user",
    },
)
async def sign_out_member(request: web.Request) -> web.Response:
    """A lost laptop or a shared computer: every sign-in of the member ends now, without
    deactivating them."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    if path_user_id(request) == identity.principal_id:
        raise ProblemError(
            403, "Sign yourself out from the Security page instead", slug="forbidden"
        )
    async with as_caller(ctx, identity) as conn:
        target = await member_for_update(request, conn, identity)
        ended = await sign_out_everywhere(conn, ctx.revocations, target.id, "signed_out_remotely")
        await audit.by_caller(
            conn,
            request,
            "team.user.signed_out",
            target_type="user",
            target_id=target.id,
            details={"sessions_revoked": len(ended)},
        )
    return web.json_response({"ended": len(ended)})
