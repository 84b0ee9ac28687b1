"""The templates, campaigns and webhooks APIs' answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``views_templates._public``,
``views_campaigns.public``, ``campaign_lifecycle.preview`` and ``integrations.views``
(``public_endpoint``, ``public_delivery``); keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from broadcast.campaigns import Audience, ParameterMapping


class TemplateOut(BaseModel):
    """A message template (status as Meta last reported it: PENDING, APPROVED, REJECTED...)."""

    id: UUID
    number_id: UUID
    waba_id: str
    name: str
    language: str
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    status: str
    reason: str | None
    meta_template_id: str | None
    created_at: datetime
    updated_at: datetime


class TemplateDetailOut(TemplateOut):
    """A template with its components (as submitted to Meta)."""

    components: list[dict[str, Any]]


CampaignState = Literal["draft", "scheduled", "running", "paused", "completed", "cancelled"]


class CampaignOut(BaseModel):
    """A campaign (no audience members, no parameter values); times in UTC, and the schedule
    in the tenant's time zone too."""

    id: UUID
    name: str
    number_id: UUID
    template_id: UUID
    language: str
    state: CampaignState
    timezone: str
    scheduled_at: datetime | None
    scheduled_at_local: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    reachable_today: int | None
    next_feed_at: datetime | None
    skipped_by_reason: dict[str, int]
    created_at: datetime
    updated_at: datetime


class FunnelOut(BaseModel):
    """Recipients per step, cumulative (a read message counts as delivered and sent too)."""

    queued: int
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int
    skipped: int
    pending: int
    in_flight: int


class CampaignProgressOut(CampaignOut):
    """A campaign and its funnel."""

    progress: FunnelOut


class FailureReasonOut(BaseModel):
    """Failed recipients of one Meta error code and title."""

    code: int | None
    title: str | None
    count: int


class AudienceOut(Audience):
    """The audience definition, and how many rows its CSV upload has."""

    csv_rows: int


class CampaignDetailOut(CampaignProgressOut):
    """A campaign with its funnel, failure reasons, parameter mapping and audience."""

    failed_by_reason: list[FailureReasonOut]
    parameters: ParameterMapping
    audience: AudienceOut


class AudiencePreviewOut(BaseModel):
    """How many the audience reaches now and how many it skips, by reason."""

    total: int
    reachable: int
    skipped: int
    skipped_by_reason: dict[str, int]


class AudienceUploadOut(BaseModel):
    """How many rows the uploaded CSV has."""

    rows: int


class WebhookEndpointOut(BaseModel):
    """An outbound webhook endpoint (never its secret); disabled_reason: why it was turned off."""

    id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointSecretOut(WebhookEndpointOut):
    """An endpoint and its signing secret, shown this once (on create and rotate)."""

    secret: str


class WebhookDeliveryOut(BaseModel):
    """One line of an endpoint's delivery log (next_attempt_at: only while pending)."""

    id: UUID
    endpoint_id: UUID
    event_type: str
    state: Literal["pending", "succeeded", "failed"]
    attempt: int
    status_code: int | None
    latency_ms: int | None
    error_class: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime


class WebhookTestOut(BaseModel):
    """The test event's delivery (follow it in the delivery log)."""

    delivery_id: UUID


class WebhookEventTypesOut(BaseModel):
    """The event types an endpoint may subscribe to, and the test event's type."""

    items: list[str]
    test_event: str
