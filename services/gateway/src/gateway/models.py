"""Request bodies of the gateway's own routes (unknown fields are rejected)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from majlis.http import RequestModel

_EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$"
Email = str


def _normalise_email(value: str) -> str:
    return value.strip().lower()


class RegisterBody(RequestModel):
    business_name: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    email: Email = Field(pattern=_EMAIL, max_length=320)
    password: str = Field(min_length=1, max_length=1024)

    _email = field_validator("email", mode="after")(_normalise_email)


# What someone types: the authenticator app's six digits ("123 456" too) or a recovery code.
TwoFactorCode = Field(min_length=1, max_length=32)


class LoginBody(RequestModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    code: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="With two-factor sign-in on: the authenticator app's code or a recovery code",
    )

    _email = field_validator("email", mode="after")(_normalise_email)


class SecuritySettingsBody(RequestModel):
    require_two_factor: bool


class TwoFactorLoginBody(RequestModel):
    two_factor_token: str = Field(
        min_length=1,
        max_length=100,
        description="From the two-factor-required answer of POST /api/v1/auth/login",
    )
    code: str = TwoFactorCode


class PasswordChangeBody(RequestModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TwoFactorSetupBody(RequestModel):
    password: str = Field(min_length=1, max_length=1024)


class TwoFactorEnableBody(RequestModel):
    code: str = TwoFactorCode


class TwoFactorConfirmBody(RequestModel):
    password: str = Field(min_length=1, max_length=1024)
    code: str = TwoFactorCode


class InviteBody(RequestModel):
    email: Email = Field(pattern=_EMAIL, max_length=320)
    role: Literal["owner", "admin", "agent", "viewer"]

    _email = field_validator("email", mode="after")(_normalise_email)


class AcceptInviteBody(RequestModel):
    token: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class RoleChangeBody(RequestModel):
    role: Literal["owner", "admin", "agent", "viewer"]


class ApiKeyBody(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)


# The token travels in an Authorization header to Meta: printable ASCII without spaces only.
# Anything else (a newline, a non-ASCII letter) is no Meta token, and the HTTP client would
# refuse to send it (header injection guard) -- bad input, a 422, never a 500.
ACCESS_TOKEN_PATTERN = r"^[!-~]{10,1024}$"  # noqa: S105  (a pattern, not a secret)


class NumberBody(RequestModel):
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    waba_id: str = Field(pattern=r"^[0-9]{1,32}$")
    display_number: str = Field(min_length=1, max_length=32)
    access_token: str = Field(min_length=10, max_length=1024, pattern=ACCESS_TOKEN_PATTERN)


class NumberPatchBody(RequestModel):
    display_number: str | None = Field(default=None, min_length=1, max_length=32)
    status: Literal["active", "disabled"] | None = None
    access_token: str | None = Field(
        default=None, min_length=10, max_length=1024, pattern=ACCESS_TOKEN_PATTERN
    )
    # Meta lifted its block or restrictions on the account (sending_paused account-disabled,
    # account-locked or policy-block; restrictions): send the held messages again.
    resume_sending: Literal[True] | None = None
