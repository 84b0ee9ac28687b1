"""The answers of the gateway's own routes, as documented in the OpenAPI document
(``RouteSpec.response``): they describe the dicts the views build; keep them in step."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, RootModel

Role = Literal["owner", "admin", "agent", "viewer"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]  # HH:MM
# [start, end]: a two-item list rather than a tuple, whose `prefixItems` schemathesis 4.32
# turns into array-form `items` in answers' schemas and then refuses as invalid.
Range = Annotated[list[Clock], Field(min_length=2, max_length=2)]
# Placeholders in the examples: nothing that could pass for a real token or secret.
_TOKEN_EXAMPLE = "eyJ<header>.eyJ<claims>.<signature>"  # noqa: S105  (a placeholder)
_INVITE_TOKEN_EXAMPLE = "<tenant id hex>.<invite id hex>.<secret, shown once>"  # noqa: S105  (a placeholder)


class MeUserOut(BaseModel):
    """The signed-in user."""

    id: UUID
    email: str
    name: str
    role: Role
    two_factor: bool = Field(description="Two-factor sign-in is on")
    recovery_codes_left: int | None = Field(
        description="Unused recovery codes (null while two-factor sign-in is off)"
    )
    two_factor_setup_required: bool = Field(
        description="The business requires two-factor sign-in and this sign-in can only set it up"
    )


class MeTenantOut(BaseModel):
    """The user's business and its plan."""

    id: UUID
    name: str
    plan: str


class UserOut(BaseModel):
    """A member of the team (inactive: deactivated, cannot sign in)."""

    id: UUID
    email: str
    name: str
    role: Role
    is_active: bool
    two_factor: bool = Field(description="Two-factor sign-in is on")
    created_at: datetime


class UsersOut(BaseModel):
    """Everyone on the team."""

    users: list[UserOut]


class MeOut(BaseModel):
    """Who am I: user, role and business."""

    user: MeUserOut
    tenant: MeTenantOut


class ApiKeyOut(BaseModel):
    """An API key: never its secret, only a hint of it."""

    id: UUID
    name: str
    hint: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None


class ApiKeysOut(BaseModel):
    """The live API keys, oldest first."""

    api_keys: list[ApiKeyOut]


class CreatedApiKeyOut(BaseModel):
    """A new API key with its secret (`key`), shown this once."""

    id: UUID
    name: str
    scopes: list[str]
    key: str
    hint: str
    created_at: datetime


class NumberRestriction(BaseModel):
    """A restriction Meta put on the number's account: which sends it holds, until when
    (null: Meta gave no end; resume sending once Meta lifted it)."""

    kind: Literal["campaigns", "replies"]
    until: datetime | None


class NumberOut(BaseModel):
    """A WhatsApp number (never its token), with Meta's quality rating and messaging limit
    as last read or reported (quality_event: the last quality update event; account_event:
    the last account update of its WhatsApp Business Account, e.g. ACCOUNT_RESTRICTION)."""

    id: UUID
    phone_number_id: str
    waba_id: str
    display_number: str
    status: Literal["pending", "active", "disabled"]
    created_at: datetime
    updated_at: datetime
    quality_rating: str | None
    messaging_tier: str
    quality_event: str | None
    quality_updated_at: datetime | None
    account_event: str | None
    account_updated_at: datetime | None
    sending_paused: (
        Literal["token-invalid", "account-disabled", "account-locked", "policy-block"] | None
    ) = Field(
        description="Why sends to this number are held rather than sent: Meta refused its"
        " token (replace it) or blocked its account (resume once Meta lifted the block)."
    )
    sending_paused_at: datetime | None
    restrictions: list[NumberRestriction]
    send_rate: int = Field(
        description="Messages per second sent from this number at most: Meta's default 80 or"
        " the rate configured for it, and 20 at most once it is shared with the WhatsApp"
        " Business app (Meta's fixed limit for coexistence numbers)."
    )
    shared_with_business_app_since: datetime | None = Field(
        description="Since when the number is known to be shared with the WhatsApp Business"
        " app (coexistence): its first echo, address-book or history webhook."
    )


class NumbersOut(BaseModel):
    """The business's numbers, oldest first."""

    numbers: list[NumberOut]


class PlanDescriptionOut(BaseModel):
    """A plan: its features and the limit of each countable resource."""

    name: str
    title: str
    features: list[str]
    limits: dict[str, int]


class PlanOut(BaseModel):
    """The plan and how much of each limit is used (null: not countable yet)."""

    plan: PlanDescriptionOut
    usage: dict[str, int | None]


class TokenOut(BaseModel):
    """A new access token (an RS256 JWT for `Authorization: Bearer`, verified with the keys of
    /.well-known/jwks.json). The refresh token and the CSRF token are never in the body: they
    come as the `__Host-majlis_refresh` (HttpOnly) and `__Host-majlis_csrf` cookies."""

    access_token: str = Field(examples=[_TOKEN_EXAMPLE])
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the access token expires", examples=[900])


class TwoFactorSetupOut(BaseModel):
    """A new authenticator secret, not active until confirmed with a code from the app
    (POST /api/v1/auth/two-factor/enable) within 15 minutes. Shown this once."""

    secret: str = Field(description="Base32, for typing into the app by hand")
    otpauth_uri: str = Field(description="The Key Uri the app reads")
    qr_code: str = Field(description="The URI as a QR code: an SVG data URI")
    expires_in: int = Field(description="Seconds left to confirm it", examples=[900])


class SecuritySettingsOut(BaseModel):
    """The business's sign-in policy."""

    require_two_factor: bool = Field(
        description="Everyone must use two-factor sign-in; members without it can only set it up"
    )
    members_without_two_factor: int = Field(
        description="Active members who have not set it up", examples=[2]
    )


class SessionOut(BaseModel):
    """One sign-in of yours that still works."""

    id: UUID
    created_at: datetime
    last_used_at: datetime = Field(description="When it last renewed its access token")
    expires_at: datetime
    ip: str | None = Field(description="The address it was last used from")
    device: str | None = Field(description='Browser and system, e.g. "Chrome on Windows"')
    current: bool = Field(description="The sign-in making this request")


class SessionsOut(BaseModel):
    """Where you are signed in, the most recently used first."""

    sessions: list[SessionOut]


class SessionsEndedOut(BaseModel):
    """How many other sign-ins were ended."""

    ended: int


class RecoveryCodesOut(BaseModel):
    """New single-use recovery codes, shown this once: the old ones no longer work."""

    recovery_codes: list[str] = Field(examples=[["abcde-fghjk", "mnpqr-stuvw"]])


class TwoFactorEnabledOut(TokenOut):
    """Two-factor sign-in is on; every other session was signed out, this one has new tokens
    (and cookies). The recovery codes are shown this once."""

    recovery_codes: list[str] = Field(examples=[["abcde-fghjk", "mnpqr-stuvw"]])


class RegisteredOut(BaseModel):
    """The new business (tenant) and its owner; sign in to get a token."""

    tenant_id: UUID
    user_id: UUID


class JwkOut(BaseModel):
    """An RSA public key (RFC 7517, 7518): its modulus and exponent, never a private part."""

    kty: Literal["RSA"]
    kid: str = Field(description="The key id an access token's header names", examples=["j1"])
    alg: Literal["RS256"]
    use: Literal["sig"]
    key_ops: list[Literal["verify"]]
    n: str = Field(description="The modulus, base64url", examples=["0vx7agoebGcQSuuPiLJXZptN9..."])
    e: str = Field(description="The public exponent, base64url", examples=["AQAB"])


class JwksOut(BaseModel):
    """A JSON Web Key Set: every key that may still verify a live access token."""

    keys: list[JwkOut]


class StoreOut(BaseModel):
    """A data store: its host and port (never credentials; null when the configured address
    names several hosts or a socket) and the region it runs in."""

    name: Literal["postgresql", "redis", "rabbitmq"]
    host: str | None
    port: int | None
    region: str


class EgressOut(BaseModel):
    """The platform's own outbound calls: the allow-list and what it refused (null: the
    count is unavailable right now)."""

    allowed_hosts: list[str] = Field(description='"host" (any port) or "host:port" entries')
    tenant_targets: str = Field(description="How URLs tenants choose are guarded instead")
    refused_total: int | None
    refused_by_host: dict[str, int] | None


class EncryptionAtRestOut(BaseModel):
    """How fields are encrypted at rest (the key id is an identifier, not key material)."""

    field_encryption: Literal["AES-256-GCM"]
    active_key_id: str
    blind_index: Literal["HMAC-SHA256"]
    keys_from: str


class ResidencyOut(BaseModel):
    """Where the platform keeps data and which outside hosts it may call."""

    data_region: str
    stores: list[StoreOut]
    egress: EgressOut
    encryption_at_rest: EncryptionAtRestOut


class MyPresenceOut(BaseModel):
    """Your status as now set."""

    user_id: UUID
    status: Literal["online", "away", "offline"]


class AgentPresenceOut(BaseModel):
    """A user who is online or away."""

    user_id: UUID
    status: Literal["online", "away"]


class AgentPresencesOut(RootModel[list[AgentPresenceOut]]):
    """The users online (first) or away now; everyone else is offline."""


class ConversationPresenceOut(BaseModel):
    """A user viewing or typing in the conversation."""

    user_id: UUID
    state: Literal["viewing", "typing"]


class ConversationPresencesOut(RootModel[list[ConversationPresenceOut]]):
    """Who views or types in the conversation now (someone typing is listed as viewing too);
    empty for an unknown conversation."""


class BusinessHoursOut(BaseModel):
    """The time zone and business hours analytics measure working time in."""

    timezone: str = Field(description="An IANA time zone")
    weekly: dict[Day, list[Range]] = Field(
        description='Per weekday, ["HH:MM", "HH:MM"] ranges in local time ("24:00" ends a '
        "day); a day not listed has no hours"
    )
    holidays: list[date] = Field(description="Days with no working time at all")
    is_default: bool = Field(description="Never set: 24/7 in the business's time zone")


class InviteOut(BaseModel):
    """A pending invite (not accepted, revoked or expired)."""

    id: UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InvitesOut(BaseModel):
    """The pending invites, oldest first."""

    invites: list[InviteOut]


class CreatedInviteOut(BaseModel):
    """A new invite with its single-use token, shown this once."""

    id: UUID
    email: str
    role: Role
    expires_at: datetime
    token: str = Field(
        description="Accepted once at /api/v1/auth/invites/accept", examples=[_INVITE_TOKEN_EXAMPLE]
    )
    invite_url: str = Field(
        description="The link to send: the token travels in the fragment, never to a server",
        examples=[f"https://app.example.com/invite#token={_INVITE_TOKEN_EXAMPLE}"],
    )


class JoinedOut(BaseModel):
    """The new user and the business (tenant) they joined; sign in to get a token."""

    tenant_id: UUID
    user_id: UUID
