"""Campaigns: the request bodies, the state machine, the schedule and parameter rendering.

A campaign sends one approved template to an audience. Each template variable is filled per
recipient from a contact field (name, phone, email, a custom attribute) or a fixed text, with
a fallback when the recipient has no value; a recipient with neither is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, model_validator

from broadcast.templates import (
    LANGUAGE_PATTERN,
    TemplateParameterError,
    check_parameters,
    variables,
)
from majlis.http import ProblemError, RequestModel

AUDIENCE_FIELD = "campaigns.audience"
PARAMETERS_FIELD = "campaigns.parameters"
RECIPIENT_PHONE_FIELD = "campaign_recipients.phone"
RECIPIENT_PARAMETERS_FIELD = "campaign_recipients.parameters"
DEFAULT_TIMEZONE = "Asia/Dubai"
State = Literal["draft", "scheduled", "running", "paused", "completed", "cancelled"]
Action = Literal["start", "pause", "resume", "cancel"]

# Which states each action leaves from; anything else is a 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    "start": frozenset({"draft"}),
    "pause": frozenset({"running"}),
    "resume": frozenset({"paused"}),
    "cancel": frozenset({"scheduled", "running", "paused"}),
}
FUNNEL = ("queued", "sent", "delivered", "read", "replied")

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ParameterSource(RequestModel):
    """Where one template variable's value comes from, and the fallback if it is empty."""

    source: Literal["name", "phone", "email", "attribute", "text"]
    key: AttributeKey | None = None
    text: Short | None = None
    fallback: Short | None = None

    @model_validator(mode="after")
    def _complete(self) -> ParameterSource:
        if (self.source == "attribute") != (self.key is not None):
            raise ValueError("key is required for an attribute source, and only for it")
        if (self.source == "text") != (self.text is not None):
            raise ValueError("text is required for a text source, and only for it")
        return self


class ButtonParameter(ParameterSource):
    """The variable of a URL button, by the button's index in the template."""

    index: int = Field(ge=0, le=9)


class ParameterMapping(RequestModel):
    """Values for the template's header, body and URL-button variables, in order."""

    header: list[ParameterSource] = Field(default_factory=list, max_length=1)
    body: list[ParameterSource] = Field(default_factory=list, max_length=100)
    buttons: list[ButtonParameter] = Field(default_factory=list, max_length=10)


class Audience(RequestModel):
    """Who receives it: contacts by tags and attributes, explicit contact ids, or a CSV.

    `source` "contacts": every contact matching the tags (any or all) and the attribute
    equalities (no filter: every contact). "contact_ids": exactly those. "csv": the rows
    uploaded to `PUT /api/v1/campaigns/{id}/audience.csv`. `only_opted_in` keeps only contacts
    that opted in to marketing; opted-out contacts are always skipped.
    """

    source: Literal["contacts", "contact_ids", "csv"] = "contacts"
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    tags_match: Literal["any", "all"] = "any"
    attributes: dict[AttributeKey, str | int | float | bool] = Field(
        default_factory=dict, max_length=20
    )
    contact_ids: list[UUID] = Field(default_factory=list, max_length=100_000)
    only_opted_in: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Audience:
        if self.source == "contact_ids" and not self.contact_ids:
            raise ValueError("contact_ids is required for the contact_ids source")
        if self.source != "contact_ids" and self.contact_ids:
            raise ValueError("contact_ids is only for the contact_ids source")
        return self


class CreateCampaign(RequestModel):
    """POST /api/v1/campaigns."""

    name: Name
    number_id: UUID
    template_id: UUID
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)] | None = None
    parameters: ParameterMapping = Field(default_factory=ParameterMapping)
    audience: Audience = Field(default_factory=Audience)
    scheduled_at: datetime | None = None


class UpdateCampaign(RequestModel):
    """PATCH /api/v1/campaigns/{id} (drafts only): the fields given are replaced."""

    name: Name | None = None
    number_id: UUID | None = None
    template_id: UUID | None = None
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)] | None = None
    parameters: ParameterMapping | None = None
    audience: Audience | None = None
    scheduled_at: datetime | None = None
    clear_schedule: bool = False


def invalid(field: str, message: str, code: str) -> ProblemError:
    """A 422 problem naming one field."""
    return ProblemError(
        422,
        "The campaign is not valid",
        slug="invalid-campaign",
        errors=[{"field": field, "message": message, "code": code}],
    )


def tenant_zone(name: str | None) -> ZoneInfo:
    """The tenant's time zone; the default if the stored name is not a zone we know."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def schedule_utc(value: datetime, zone: ZoneInfo, now: datetime) -> datetime:
    """A schedule in UTC: a local time (no offset) is read in the tenant's time zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    utc = aware.astimezone(UTC)
    if utc <= now:
        raise invalid("scheduled_at", "The schedule must be in the future", "past")
    return utc


def render_check(template: Sequence[Mapping[str, Any]], mapping: ParameterMapping) -> None:
    """422 unless the mapping fills the template's variables exactly (count and kind)."""
    kinds = {str(c.get("type", "")).upper(): c for c in template}
    header = kinds.get("HEADER")
    if header is not None and str(header.get("format", "TEXT")).upper() != "TEXT":
        raise invalid("template_id", "Templates with a media header are not supported", "media")
    sample = components(mapping, lambda _source: "x")
    try:
        check_parameters(template, sample)
    except TemplateParameterError as error:
        raise ProblemError(
            422,
            "The parameters do not fit the template",
            slug="invalid-parameters",
            errors=[
                {"field": "parameters", "message": message, "code": "parameters"}
                for message in error.errors
            ],
        ) from None


def body_variable_count(template: Sequence[Mapping[str, Any]]) -> int:
    """How many variables the template's body has."""
    for component in template:
        if str(component.get("type", "")).upper() == "BODY":
            return len(set(variables(str(component.get("text", ""))) or []))
    return 0


def components(mapping: ParameterMapping, value_of: Any) -> list[dict[str, Any]]:
    """The Cloud API send components, each variable's text from `value_of(source)`."""

    def text(source: ParameterSource) -> dict[str, Any]:
        return {"type": "text", "text": value_of(source)}

    out: list[dict[str, Any]] = []
    if mapping.header:
        out.append({"type": "header", "parameters": [text(s) for s in mapping.header]})
    if mapping.body:
        out.append({"type": "body", "parameters": [text(s) for s in mapping.body]})
    for button in mapping.buttons:
        out.append(
            {
                "type": "button",
                "sub_type": "url",
                "index": str(button.index),
                "parameters": [text(button)],
            }
        )
    return out


class MissingValue(ValueError):
    """A variable has no value for this recipient and no fallback."""


def resolve(source: ParameterSource, fields: Mapping[str, Any]) -> str:
    """One variable's value for one recipient (their fields), else the fallback."""
    if source.source == "text":
        value: Any = source.text
    elif source.source == "attribute":
        value = (fields.get("attributes") or {}).get(source.key or "")
    else:
        value = fields.get(source.source)
    rendered = "" if value is None else str(value).strip()
    if isinstance(value, bool):
        rendered = "yes" if value else "no"
    if not rendered:
        if source.fallback is None:
            raise MissingValue(source.source)
        rendered = source.fallback
    # Meta refuses newlines, tabs and runs of spaces in a variable (error 132018).
    return " ".join(rendered.split())[:1024]


def render(mapping: ParameterMapping, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The send components for one recipient; MissingValue if a variable stays empty."""
    return components(mapping, lambda source: resolve(source, fields))


def funnel(counts: Mapping[str, int]) -> dict[str, int]:
    """Cumulative funnel from per-state counts: reaching 'read' also counts as delivered."""
    reached = {state: counts.get(state, 0) for state in FUNNEL}
    out: dict[str, int] = {}
    running = 0
    for state in reversed(FUNNEL):
        running += reached[state]
        out[state] = running
    out["queued"] += counts.get("failed", 0)
    out["failed"] = counts.get("failed", 0)
    out["skipped"] = counts.get("skipped", 0)
    out["pending"] = counts.get("pending", 0)
    out["in_flight"] = counts.get("queued", 0)
    return out
