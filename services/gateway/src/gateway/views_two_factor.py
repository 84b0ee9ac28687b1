"""Two-factor sign-in: set up an authenticator app, turn it on or off, replace recovery codes,
and a manager's reset of a member who lost their phone.

Every change to the second factor asks for the password again (ASVS 7.5.1; wrong passwords
count towards the account's sign-in lockout) and, except for setting it up, for a code; turning
it on or off signs out every other session and access token of the user and gives this one new
tokens (security.md §11.18). The secret and the recovery codes are written and read only in
tenant transactions of role 'system' (migration 0030).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from aiohttp import web

from gateway import audit, repository
from gateway import two_factor_repository as factors
from gateway.context import CONTEXT, GatewayContext, as_caller
from gateway.keys import keyed_hash
from gateway.models import (
    SecuritySettingsBody,
    TwoFactorConfirmBody,
    TwoFactorEnableBody,
    TwoFactorSetupBody,
)
from gateway.passwords import verify_password
from gateway.response_models import (
    RecoveryCodesOut,
    SecuritySettingsOut,
    TokenOut,
    TwoFactorEnabledOut,
    TwoFactorSetupOut,
    UserOut,
)
from gateway.routes import MANAGERS, route
from gateway.sessions import sign_out_everywhere
from gateway.two_factor import (
    SECRET_FIELD,
    matching_step,
    new_recovery_codes,
    new_secret,
    otpauth_uri,
    qr_code,
    recovery_hash,
    verify_code,
)
from gateway.views_auth import open_session, signed_in
from gateway.views_team import member_for_update, path_user_id, user_json
from majlis.crypto import DecryptionError
from majlis.db import tenant_transaction
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.logging import get_logger

log = get_logger(__name__)

SETUP_LIFETIME = timedelta(minutes=15)
_WRONG_PASSWORD = ProblemError(401, "The password is not correct", slug="invalid-credentials")
_WRONG_CODE = ProblemError(401, "The code is not correct", slug="invalid-two-factor-code")
_IS_OFF = ProblemError(409, "Two-factor sign-in is not on", slug="two-factor-off")


async def _reauthenticated(
    ctx: GatewayContext, identity: Identity, password: str
) -> repository.UserRow:
    """The signed-in user, once their password is checked again (under the sign-in lockout)."""
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        user = await repository.get_user(conn, identity.principal_id)
    account_key = keyed_hash(ctx.keys.account, user.email if user else "").hex()
    lock = await ctx.login_guard.check(account_key)
    if lock.locked:
        raise ProblemError(
            429,
            "Too many failed attempts; try again later",
            slug="account-locked",
            headers={"Retry-After": str(lock.retry_after)},
        )
    stored = user.password_hash if user is not None and user.is_active else None
    if not await verify_password(stored, password) or user is None:
        await ctx.login_guard.record_failure(account_key)
        raise _WRONG_PASSWORD
    return user


async def _failed_code(ctx: GatewayContext, request: web.Request, user: repository.UserRow) -> None:
    """A wrong second factor: counted towards the lockout and audited."""
    await ctx.login_guard.record_failure(keyed_hash(ctx.keys.account, user.email).hex())
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        await audit.by_caller(
            conn, request, "auth.two_factor.failed", target_type="user", target_id=user.id
        )


def _code_hashes(ctx: GatewayContext, user_id: UUID, codes: list[str]) -> list[bytes]:
    return [
        recovery_hash(ctx.keys.recovery_codes, user_id, code.replace("-", "")) for code in codes
    ]


@route(
    "POST",
    "/api/v1/auth/two-factor/setup",
    "Start setting up an authenticator app",
    body=TwoFactorSetupBody,
    response=TwoFactorSetupOut,
    setup_only=True,
    tag="auth",
    responses={
        200: "A new secret to scan; confirm it with a code to turn two-factor sign-in on",
        401: "Password wrong",
        409: "Two-factor sign-in is on already (two-factor-on)",
        429: "Too many failed attempts",
    },
)
async def setup(request: web.Request) -> web.Response:
    """A new secret, kept unconfirmed for 15 minutes; another setup replaces it."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, TwoFactorSetupBody)
    user = await _reauthenticated(ctx, identity, body.password)
    if user.two_factor_enabled_at is not None:
        raise ProblemError(409, "Two-factor sign-in is on already", slug="two-factor-on")
    secret = new_secret()
    sealed = ctx.cipher.encrypt(secret, tenant_id=user.tenant_id, field=SECRET_FIELD)
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        expires_at = datetime.now(UTC) + SETUP_LIFETIME
        if not await factors.start_setup(conn, user.tenant_id, user.id, sealed, expires_at):
            raise ProblemError(409, "Two-factor sign-in is on already", slug="two-factor-on")
    uri = otpauth_uri(secret, user.email)
    response = web.json_response(
        {
            "secret": secret,
            "otpauth_uri": uri,
            "qr_code": qr_code(uri),
            "expires_in": int(SETUP_LIFETIME.total_seconds()),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "POST",
    "/api/v1/auth/two-factor/enable",
    "Turn two-factor sign-in on with a code from the app",
    body=TwoFactorEnableBody,
    response=TwoFactorEnabledOut,
    setup_only=True,
    tag="auth",
    responses={
        200: "On; other sessions signed out; new tokens and the recovery codes, shown once",
        409: "No setup waiting, or it expired (two-factor-setup-missing)",
        422: "The code is not the app's current one (invalid-two-factor-code)",
    },
)
async def enable(request: web.Request) -> web.Response:
    """The code proves the app holds the secret; then the recovery codes are made."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, TwoFactorEnableBody)
    codes = new_recovery_codes()
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        user = await repository.get_user_for_update(conn, identity.principal_id)
        factor = await factors.get(conn, identity.principal_id)
        if (
            user is None
            or factor is None
            or factor.enabled_at is not None
            or factor.setup_expires_at is None
            or factor.setup_expires_at <= datetime.now(UTC)
        ):
            raise ProblemError(
                409,
                "No two-factor setup is waiting; start again",
                slug="two-factor-setup-missing",
            )
        try:
            secret = ctx.cipher.decrypt_text(
                factor.secret_enc, tenant_id=user.tenant_id, field=SECRET_FIELD
            )
        except DecryptionError:
            log.error("auth.two_factor.undecryptable", user_id=str(user.id))
            raise ProblemError(
                409, "Start the two-factor setup again", slug="two-factor-setup-missing"
            ) from None
        step = matching_step(secret, body.code, after=0)
        if step is None or not await factors.enable(conn, user.id, step):
            raise ProblemError(
                422,
                "The code is not correct; enter the app's current code",
                slug="invalid-two-factor-code",
                errors=[{"field": "code", "message": "not the app's current code"}],
            )
        await factors.replace_recovery_codes(
            conn, user.tenant_id, user.id, _code_hashes(ctx, user.id, codes)
        )
        revoked = await sign_out_everywhere(conn, ctx.revocations, user.id, "two_factor_changed")
        session_id, cookie = await open_session(ctx, conn, user, request)
        await audit.by_caller(
            conn,
            request,
            "auth.two_factor.enabled",
            target_type="user",
            target_id=user.id,
            details={"sessions_revoked": len(revoked)},
        )
    log.info("auth.two_factor.enabled", user_id=str(user.id))
    # Two-factor sign-in is on now: the new tokens open everything again.
    return await signed_in(
        ctx, user, session_id, cookie, setup_only=False, body={"recovery_codes": codes}
    )


@route(
    "POST",
    "/api/v1/auth/two-factor/disable",
    "Turn two-factor sign-in off",
    body=TwoFactorConfirmBody,
    response=TokenOut,
    tag="auth",
    responses={
        200: "Off; other sessions signed out; new tokens for this one",
        401: "Password or code wrong",
        409: "Not on (two-factor-off), or the business requires it"
        " (two-factor-required-by-business)",
        429: "Too many failed attempts",
    },
)
async def disable(request: web.Request) -> web.Response:
    """Password and a code (from the app, or a recovery code) turn it off."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, TwoFactorConfirmBody)
    user = await _reauthenticated(ctx, identity, body.password)
    if user.two_factor_enabled_at is None:
        raise _IS_OFF
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        if await repository.tenant_requires_two_factor(conn, user.tenant_id):
            raise ProblemError(
                409,
                "Your business requires two-factor sign-in; it cannot be turned off",
                slug="two-factor-required-by-business",
            )
        method = await verify_code(conn, ctx.cipher, ctx.keys.recovery_codes, user, body.code)
        if method is not None:
            await factors.remove(conn, user.id)
            revoked = await sign_out_everywhere(
                conn, ctx.revocations, user.id, "two_factor_changed"
            )
            session = await open_session(ctx, conn, user, request)
            await audit.by_caller(
                conn,
                request,
                "auth.two_factor.disabled",
                target_type="user",
                target_id=user.id,
                details={"sessions_revoked": len(revoked), "with": method},
            )
    if method is None:
        await _failed_code(ctx, request, user)
        raise _WRONG_CODE
    return await signed_in(ctx, user, *session, setup_only=False)


@route(
    "POST",
    "/api/v1/auth/two-factor/recovery-codes",
    "Replace your recovery codes",
    body=TwoFactorConfirmBody,
    response=RecoveryCodesOut,
    tag="auth",
    responses={
        200: "New codes, shown once; the old ones no longer work",
        401: "Password or code wrong",
        409: "Two-factor sign-in is not on (two-factor-off)",
        429: "Too many failed attempts",
    },
)
async def replace_recovery_codes(request: web.Request) -> web.Response:
    """Password and a code make a new set of ten."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, TwoFactorConfirmBody)
    user = await _reauthenticated(ctx, identity, body.password)
    if user.two_factor_enabled_at is None:
        raise _IS_OFF
    codes = new_recovery_codes()
    async with tenant_transaction(ctx.pool, user.tenant_id, "system") as conn:
        method = await verify_code(conn, ctx.cipher, ctx.keys.recovery_codes, user, body.code)
        if method is not None:
            await factors.replace_recovery_codes(
                conn, user.tenant_id, user.id, _code_hashes(ctx, user.id, codes)
            )
            await audit.by_caller(
                conn,
                request,
                "auth.two_factor.recovery_codes_replaced",
                target_type="user",
                target_id=user.id,
                details={"with": method},
            )
    if method is None:
        await _failed_code(ctx, request, user)
        raise _WRONG_CODE
    response = web.json_response({"recovery_codes": codes})
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "DELETE",
    "/api/v1/users/{user_id}/two-factor",
    "Reset a member's two-factor sign-in",
    roles=MANAGERS,
    response=UserOut,
    tag="team",
    responses={
        200: "Off for that member, who is signed out everywhere",
        403: "Your own (turn it off in your settings) or an owner's as an admin",
        404: "No such user",
        409: "Two-factor sign-in is not on for that member (two-factor-off)",
    },
)
async def reset(request: web.Request) -> web.Response:
    """For a member who lost their phone and codes: they sign in with their password again,
    and are signed out everywhere now, in case the phone was stolen."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    if path_user_id(request) == identity.principal_id:
        raise ProblemError(
            403,
            "Turn your own two-factor sign-in off in your security settings",
            slug="forbidden",
        )
    # As the system: the second factors are the system's alone (RLS), never a caller's.
    async with tenant_transaction(ctx.pool, identity.tenant_id, "system") as conn:
        target = await member_for_update(request, conn, identity)
        if not await factors.remove(conn, target.id):
            raise _IS_OFF
        revoked = await sign_out_everywhere(conn, ctx.revocations, target.id, "two_factor_changed")
        await audit.by_caller(
            conn,
            request,
            "team.two_factor.reset",
            target_type="user",
            target_id=target.id,
            details={"sessions_revoked": len(revoked)},
        )
        updated = await repository.get_user(conn, target.id)
    assert updated is not None
    return web.json_response(user_json(updated))


SECURITY_PATH = "/api/v1/settings/security"


async def _security(conn: repository.Conn, tenant_id: UUID) -> dict[str, object]:
    without = await conn.fetchval(
        "SELECT count(*) FROM users WHERE is_active AND two_factor_enabled_at IS NULL"
    )
    return {
        "require_two_factor": await repository.tenant_requires_two_factor(conn, tenant_id),
        "members_without_two_factor": without,
    }


@route(
    "GET",
    SECURITY_PATH,
    "The business's sign-in policy",
    roles=MANAGERS,
    response=SecuritySettingsOut,
    tag="settings",
    responses={200: "Whether two-factor sign-in is required, and who lacks it"},
)
async def get_security(request: web.Request) -> web.Response:
    """Owners and admins see the policy and how many members would be held to set it up."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        return web.json_response(await _security(conn, identity.tenant_id))


@route(
    "PUT",
    SECURITY_PATH,
    "Require two-factor sign-in of everyone, or stop requiring it",
    roles=frozenset({"owner"}),
    body=SecuritySettingsBody,
    response=SecuritySettingsOut,
    tag="settings",
    responses={
        200: "The policy as it is now",
        409: "Turn on your own two-factor sign-in first (two-factor-off)",
    },
)
async def put_security(request: web.Request) -> web.Response:
    """Owners only. Requiring it ends the access tokens of every member without it at once:
    their next token (a refresh, a sign-in) opens only the set-up."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, SecuritySettingsBody)
    held: list[UUID] = []
    async with as_caller(ctx, identity) as conn:
        # One policy change at a time per business (the tenant row is the lock).
        current = await conn.fetchval(
            "SELECT require_two_factor FROM tenants WHERE id = $1 FOR UPDATE", identity.tenant_id
        )
        if body.require_two_factor and current is not True:
            caller = await repository.get_user(conn, identity.principal_id)
            if caller is None or caller.two_factor_enabled_at is None:
                raise ProblemError(
                    409, "Turn on your own two-factor sign-in first", slug="two-factor-off"
                )
            rows = await conn.fetch(
                "SELECT id FROM users WHERE is_active AND two_factor_enabled_at IS NULL"
            )
            held = [row["id"] for row in rows]
        if body.require_two_factor != current:
            await conn.execute(
                "UPDATE tenants SET require_two_factor = $2, updated_at = now() WHERE id = $1",
                identity.tenant_id,
                body.require_two_factor,
            )
            await audit.by_caller(
                conn,
                request,
                "settings.security.changed",
                target_type="tenant",
                target_id=identity.tenant_id,
                details={"require_two_factor": body.require_two_factor},
            )
        answer = await _security(conn, identity.tenant_id)
    # After the commit: a token issued from here on already sees the policy, so none slips
    # between these revocations and the change.
    for user_id in held:
        await ctx.revocations.revoke_user_tokens(user_id)
    return web.json_response(answer)
