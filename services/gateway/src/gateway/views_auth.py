"""Accounts and sessions: register, login (with the second factor where it is on), refresh,
logout, password change, me, JWKS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiohttp import web

from gateway import audit, repository
from gateway import two_factor_repository as factors
from gateway.context import CONTEXT, GatewayContext, as_caller
from gateway.cookies import REFRESH_COOKIE, clear_session_cookies, set_session_cookies
from gateway.csrf import CSRF_COOKIE, check_csrf, make_csrf_token
from gateway.devices import describe
from gateway.keys import keyed_hash
from gateway.models import LoginBody, PasswordChangeBody, RegisterBody, TwoFactorLoginBody
from gateway.passwords import hash_password, needs_rehash, password_problems, verify_password
from gateway.response_models import JwksOut, MeOut, RegisteredOut, TokenOut
from gateway.routes import CLIENT_IP, route
from gateway.sessions import (
    RefreshCookie,
    parse_refresh_cookie,
    revoke_session,
    rotate,
    sign_out_everywhere,
)
from gateway.sessions import start_session as new_session
from gateway.two_factor import verify_code
from majlis.db import claim_login_email, tenant_transaction, user_for_login
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.http.tokens import Role
from majlis.logging import get_logger

log = get_logger(__name__)
_BAD_CREDENTIALS = ProblemError(401, "Incorrect email or password", slug="invalid-credentials")


def _now() -> datetime:
    return datetime.now(UTC)


def _weak(problems: list[str]) -> ProblemError:
    return ProblemError(
        422,
        "The password is not acceptable",
        slug="weak-password",
        errors=[{"field": "password", "message": p} for p in problems],
    )


async def _token_response(
    ctx: GatewayContext,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    session_id: uuid.UUID,
    status: int = 200,
    body: dict[str, object] | None = None,
    setup_only: bool = False,
) -> web.Response:
    iat = await ctx.revocations.earliest_iat(user_id)
    token, claims = ctx.signer.issue(
        user_id=user_id,
        tenant_id=tenant_id,
        role=role,
        session_id=session_id,
        now=iat,
        setup_only=setup_only,
    )
    payload: dict[str, object] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": claims.expires_at - int(_now().timestamp()),
    }
    payload.update(body or {})
    response = web.json_response(payload, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _session_cookies(
    ctx: GatewayContext, response: web.Response, cookie: RefreshCookie, session_id: uuid.UUID
) -> None:
    set_session_cookies(
        response,
        cookie,
        make_csrf_token(ctx.keys.csrf, session_id),
        int(ctx.refresh_lifetime.total_seconds()),
    )


async def open_session(
    ctx: GatewayContext, conn: repository.Conn, user: repository.UserRow, request: web.Request
) -> tuple[uuid.UUID, RefreshCookie]:
    """A new sign-in (refresh family) for a user whose credentials were just checked, with the
    address and a short description of the device it came from."""
    return await new_session(
        conn,
        ctx.keys,
        tenant_id=user.tenant_id,
        user_id=user.id,
        now=_now(),
        lifetime=ctx.refresh_lifetime,
        client_ip=request[CLIENT_IP],
        device=describe(request.headers.get("User-Agent")),
    )


async def signed_in(
    ctx: GatewayContext,
    user: repository.UserRow,
    session_id: uuid.UUID,
    cookie: RefreshCookie,
    *,
    setup_only: bool,
    body: dict[str, object] | None = None,
) -> web.Response:
    """The access token in the body (with `body`'s fields), the refresh and CSRF cookies beside
    it. `setup_only`: the token may only set up two-factor sign-in (repository.
    two_factor_setup_due, asked in the transaction that opened the session)."""
    response = await _token_response(
        ctx,
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=user.role,
        session_id=session_id,
        body=body,
        setup_only=setup_only,
    )
    _session_cookies(ctx, response, cookie, session_id)
    return response


@route(
    "POST",
    "/api/v1/auth/register",
    "Create a business and its owner",
    auth="public",
    rate="register",
    body=RegisterBody,
    response=RegisteredOut,
    tag="auth",
    responses={201: "Created", 409: "Registration not possible with these details"},
)
async def register(request: web.Request) -> web.Response:
    """Create a tenant on the starter plan and its owner."""
    ctx = request.app[CONTEXT]
    body = await parse_json(request, RegisterBody)
    problems = password_problems(
        body.password, context=(body.email.split("@")[0], body.business_name)
    )
    if problems:
        raise _weak(problems)
    # Hash first: a taken address then costs the same time as a free one.
    password_hash = await hash_password(body.password)
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with tenant_transaction(ctx.pool, tenant_id, "system") as conn:
        await repository.insert_tenant(conn, tenant_id, body.business_name)
        await repository.insert_user(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            email=body.email,
            name=body.name,
            role="owner",
            password_hash=password_hash,
        )
        if not await claim_login_email(conn, body.email, user_id):
            # Unavoidable: the address cannot sign in twice. Said generically, rate-limited
            # per IP (3 an hour), and rolled back so nothing of the attempt remains.
            raise ProblemError(
                409, "Registration is not possible with these details", slug="registration-conflict"
            )
        await audit.record(
            conn,
            tenant_id,
            "auth.registered",
            actor_type="user",
            actor_id=user_id,
            target_type="tenant",
            target_id=tenant_id,
            ip=request[CLIENT_IP],
        )
    log.info("auth.registered", tenant_id=str(tenant_id))
    return web.json_response({"tenant_id": str(tenant_id), "user_id": str(user_id)}, status=201)


@route(
    "POST",
    "/api/v1/auth/login",
    "Sign in with email and password",
    auth="public",
    rate="login",
    body=LoginBody,
    response=TokenOut,
    tag="auth",
    responses={
        200: "Access token; refresh and CSRF cookies set",
        401: "Wrong credentials",
        429: "Too many attempts or account locked",
    },
)
async def login(request: web.Request) -> web.Response:
    """Verify credentials (same answer and work for unknown emails), then start a session."""
    ctx = request.app[CONTEXT]
    ip = request[CLIENT_IP]
    body = await parse_json(request, LoginBody)
    account_key = keyed_hash(ctx.keys.account, body.email).hex()
    lock = await ctx.login_guard.check(account_key)
    if lock.locked:
        raise _locked(lock.retry_after)
    found = await user_for_login(ctx.pool, body.email)
    user = None
    if found is not None:
        async with tenant_transaction(ctx.pool, found[0], "system") as conn:
            user = await repository.get_user(conn, found[1])
    stored = user.password_hash if user is not None and user.is_active else None
    if not await verify_password(stored, body.password) or user is None:
        state = await ctx.login_guard.record_failure(account_key)
        if found is not None:
            async with tenant_transaction(ctx.pool, found[0], "system") as conn:
                await audit.record(
                    conn,
                    found[0],
                    "auth.login.failed",
                    outcome="failure",
                    actor_type="anonymous",
                    target_type="user",
                    target_id=found[1],
                    ip=ip,
                )
                if state.just_locked:
                    await audit.record(
                        conn,
                        found[0],
                        "auth.account.locked",
                        actor_type="system",
                        target_type="user",
                        target_id=found[1],
                        ip=ip,
                        details={"lock_seconds": state.retry_after},
                    )
        raise _BAD_CREDENTIALS
    if stored is not None and needs_rehash(stored):
        # The password is right: its hash is brought up to date before any second factor.
        new_hash = await hash_password(body.password)
        async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
            await repository.upgrade_password_hash(conn, user.id, stored, new_hash)
    second: str | None = None
    if user.two_factor_enabled_at is not None:
        if body.code is None:
            # Not a failure: the client asks for the code next and sends it with the token,
            # without the password and without spending another of the IP's login attempts.
            token = await ctx.challenges.open(user.tenant_id, user.id)
            raise ProblemError(
                401,
                "Enter the code from your authenticator app, or a recovery code",
                slug="two-factor-required",
                two_factor_token=token,
            )
        second = await _second_factor(ctx, request, user, account_key, body.code)
    return await _finish_sign_in(ctx, request, user, account_key, second)


async def _finish_sign_in(
    ctx: GatewayContext,
    request: web.Request,
    user: repository.UserRow,
    account_key: str,
    second: str | None,
) -> web.Response:
    """Every check passed: clear the failure count, open the session, audit, answer."""
    await ctx.login_guard.record_success(account_key)
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        session_id, cookie = await open_session(ctx, conn, user, request)
        setup_only = await repository.two_factor_setup_due(conn, user.id)
        await audit.record(
            conn,
            user.tenant_id,
            "auth.login.succeeded",
            actor_type="user",
            actor_id=user.id,
            target_type="session",
            target_id=session_id,
            ip=request[CLIENT_IP],
            details=None if second is None else {"second_factor": second},
        )
    return await signed_in(ctx, user, session_id, cookie, setup_only=setup_only)


async def _second_factor(
    ctx: GatewayContext,
    request: web.Request,
    user: repository.UserRow,
    account_key: str,
    code: str,
    challenge: str | None = None,
) -> str:
    """Spend the code of a user with two-factor sign-in on, or refuse: a wrong or used code
    counts towards the account's lockout like a wrong password (and against the challenge)."""
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        method = await verify_code(conn, ctx.cipher, ctx.keys.recovery_codes, user, code)
    if method is not None:
        return method
    if challenge is not None:
        await ctx.challenges.fail(challenge)
    state = await ctx.login_guard.record_failure(account_key)
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        await audit.record(
            conn,
            user.tenant_id,
            "auth.two_factor.failed",
            outcome="failure",
            actor_type="anonymous",
            target_type="user",
            target_id=user.id,
            ip=request[CLIENT_IP],
        )
        if state.just_locked:
            await audit.record(
                conn,
                user.tenant_id,
                "auth.account.locked",
                actor_type="system",
                target_type="user",
                target_id=user.id,
                ip=request[CLIENT_IP],
                details={"lock_seconds": state.retry_after},
            )
    raise ProblemError(401, "The code is not correct", slug="invalid-two-factor-code")


def _locked(retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        "Too many failed sign-ins; try again later",
        slug="account-locked",
        headers={"Retry-After": str(retry_after)},
    )


@route(
    "POST",
    "/api/v1/auth/login/two-factor",
    "Finish signing in with the second factor",
    auth="public",
    rate="two_factor",
    body=TwoFactorLoginBody,
    response=TokenOut,
    tag="auth",
    responses={
        200: "Access token; refresh and CSRF cookies set",
        401: "Wrong code (invalid-two-factor-code), or the sign-in expired (two-factor-expired)",
        429: "Too many attempts or account locked",
    },
)
async def login_two_factor(request: web.Request) -> web.Response:
    """The token of a sign-in whose password was right (the two-factor-required answer of
    /api/v1/auth/login) and a code from the app or a recovery code; lasts 5 minutes, 5 tries."""
    ctx = request.app[CONTEXT]
    body = await parse_json(request, TwoFactorLoginBody)
    expired = ProblemError(401, "This sign-in expired; sign in again", slug="two-factor-expired")
    challenge = await ctx.challenges.get(body.two_factor_token)
    if challenge is None:
        raise expired
    async with tenant_transaction(ctx.pool, challenge.tenant_id, "system") as conn:
        user = await repository.get_user(conn, challenge.user_id)
    if user is None or not user.is_active or user.two_factor_enabled_at is None:
        await ctx.challenges.close(body.two_factor_token)
        raise expired
    account_key = keyed_hash(ctx.keys.account, user.email).hex()
    lock = await ctx.login_guard.check(account_key)
    if lock.locked:
        raise _locked(lock.retry_after)
    second = await _second_factor(
        ctx, request, user, account_key, body.code, challenge=body.two_factor_token
    )
    await ctx.challenges.close(body.two_factor_token)
    return await _finish_sign_in(ctx, request, user, account_key, second)


@route(
    "POST",
    "/api/v1/auth/refresh",
    "Rotate the refresh token, get a new access token",
    auth="public",
    rate="refresh",
    response=TokenOut,
    tag="auth",
    responses={
        200: "New access token; rotated refresh cookie",
        401: "Invalid session",
        403: "CSRF check failed",
    },
)
async def refresh(request: web.Request) -> web.Response:
    """Refresh cookie + CSRF header → a new access token and a rotated refresh token."""
    ctx = request.app[CONTEXT]
    cookie = parse_refresh_cookie(request.cookies.get(REFRESH_COOKIE))
    if cookie is None:
        raise ProblemError(401, "No valid session", slug="invalid-session")
    now = _now()
    async with tenant_transaction(ctx.pool, cookie.tenant_id, "system") as conn:
        rotation = await rotate(
            conn, ctx.keys, cookie, now=now, grace=ctx.refresh_grace, client_ip=request[CLIENT_IP]
        )
        if rotation.session_id is not None:
            # Bound to the session the presented token belongs to; checked before we commit.
            check_csrf(request, ctx.keys.csrf, rotation.session_id)
        if rotation.outcome == "reuse":
            await audit.record(
                conn,
                cookie.tenant_id,
                "auth.refresh.reuse_detected",
                outcome="failure",
                actor_type="anonymous",
                target_type="session",
                target_id=rotation.session_id,
                ip=request[CLIENT_IP],
            )
        user = (
            await repository.get_user(conn, rotation.user_id)
            if rotation.user_id is not None
            else None
        )
        setup_only = user is not None and await repository.two_factor_setup_due(conn, user.id)
    if rotation.outcome == "reuse" and rotation.session_id is not None:
        await ctx.revocations.revoke_session(rotation.session_id)
        log.warning("auth.refresh.reuse_detected", session_id=str(rotation.session_id))
    if rotation.outcome not in ("rotated", "grace") or user is None or not user.is_active:
        raise ProblemError(401, "No valid session", slug="invalid-session")
    assert rotation.cookie is not None
    assert rotation.session_id is not None
    response = await _token_response(
        ctx,
        tenant_id=cookie.tenant_id,
        user_id=user.id,
        role=user.role,
        session_id=rotation.session_id,
        setup_only=setup_only,
    )
    # The CSRF token is bound to the session, which rotation keeps: the cookie stays valid.
    set_session_cookies(
        response,
        rotation.cookie,
        request.cookies.get(CSRF_COOKIE, ""),
        int(ctx.refresh_lifetime.total_seconds()),
    )
    return response


@route(
    "POST",
    "/api/v1/auth/logout",
    "Sign out: revoke this session and its access token",
    setup_only=True,
    tag="auth",
    responses={204: "Signed out"},
)
async def logout(request: web.Request) -> web.Response:
    """Revoke the refresh family and deny-list the access token until it would expire."""
    ctx = request.app[CONTEXT]
    identity = request[IDENTITY]
    claims = identity.claims
    assert claims is not None
    await ctx.revocations.deny(claims)
    if claims.session_id is not None:
        await ctx.revocations.revoke_session(claims.session_id)
        async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
            await revoke_session(conn, claims.session_id, "logout")
            await audit.by_caller(
                conn,
                request,
                "auth.logout",
                target_type="session",
                target_id=claims.session_id,
            )
    response = web.Response(status=204)
    clear_session_cookies(response)
    return response


@route(
    "POST",
    "/api/v1/auth/password",
    "Change your password; signs out every other session",
    body=PasswordChangeBody,
    response=TokenOut,
    setup_only=True,
    tag="auth",
    responses={
        200: "New tokens for this session",
        401: "Current password wrong",
        422: "New password not acceptable",
    },
)
async def change_password(request: web.Request) -> web.Response:
    """Verify the current password, store the new one, and invalidate every session."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, PasswordChangeBody)
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        user = await repository.get_user(conn, identity.principal_id)
    if user is None or not await verify_password(user.password_hash, body.current_password):
        raise ProblemError(401, "The current password is not correct", slug="invalid-credentials")
    problems = password_problems(body.new_password, context=(user.email.split("@")[0],))
    if problems:
        raise _weak(problems)
    new_hash = await hash_password(body.new_password)
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        await repository.set_password_hash(conn, user.id, new_hash)
        revoked = await sign_out_everywhere(conn, ctx.revocations, user.id, "password_changed")
        session_id, cookie = await open_session(ctx, conn, user, request)
        setup_only = await repository.two_factor_setup_due(conn, user.id)
        await audit.record(
            conn,
            user.tenant_id,
            "auth.password.changed",
            actor_type="user",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=request[CLIENT_IP],
            details={"sessions_revoked": len(revoked)},
        )
    return await signed_in(ctx, user, session_id, cookie, setup_only=setup_only)


@route(
    "GET",
    "/api/v1/me",
    "The signed-in user and their business",
    response=MeOut,
    setup_only=True,
    tag="auth",
    responses={200: "Profile"},
)
async def me(request: web.Request) -> web.Response:
    """Who am I: user, role and tenant."""
    ctx = request.app[CONTEXT]
    identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        user = await repository.get_user(conn, identity.principal_id)
        tenant = await repository.get_tenant(conn, identity.tenant_id)
    if user is None or tenant is None:
        raise ProblemError(404, "Not found")
    codes_left = None
    if user.two_factor_enabled_at is not None:
        # Recovery codes are readable in the auth flows' role only (migration 0030).
        async with tenant_transaction(ctx.pool, user.tenant_id, "system", readonly=True) as conn:
            codes_left = await factors.recovery_codes_left(conn, user.id)
    return web.json_response(
        {
            "user": {
                "id": str(user.id),
                "email": user.email,
                "name": user.name,
                "role": user.role,
                "two_factor": user.two_factor_enabled_at is not None,
                "recovery_codes_left": codes_left,
                "two_factor_setup_required": bool(
                    identity.claims is not None and identity.claims.setup_only
                ),
            },
            "tenant": {"id": str(tenant["id"]), "name": tenant["name"], "plan": tenant["plan"]},
        }
    )


@route(
    "GET",
    "/.well-known/jwks.json",
    "Public keys that verify access tokens",
    auth="public",
    rate="public",
    response=JwksOut,
    tag="auth",
    responses={200: "JSON Web Key Set"},
)
async def jwks(request: web.Request) -> web.Response:
    """The JWKS of every key that may still verify a live token."""
    response = web.json_response(request.app[CONTEXT].verifier.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
