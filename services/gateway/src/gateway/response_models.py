"""The answers of the gateway's own routes, as documented in the OpenAPI document
(``RouteSpec.response``): they describe the dicts the views build; keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel


class MeUserOut(BaseModel):
    """The signed-in user."""

    id: UUID
    email: str
    name: str
    role: Literal["owner", "admin", "agent", "viewer"]


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
    role: Literal["owner", "admin", "agent", "viewer"]
    is_active: bool
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


class NumberOut(BaseModel):
    """A WhatsApp number (never its token), with Meta's quality rating and messaging limit
    as last read or reported (quality_event: the last quality update event)."""

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
