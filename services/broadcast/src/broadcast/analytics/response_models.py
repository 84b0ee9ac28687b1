"""The analytics reports' answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``analytics.reports`` (each report's
``Range.echo()`` and what it adds); keep them in step."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from broadcast.response_models import CampaignState

_SECONDS = "Working seconds (business hours only, when the tenant set them), to 0.1 s"


class AnalyticsRangeOut(BaseModel):
    """The range a report covers: local dates of the tenant's time zone, both inclusive."""

    first: date = Field(alias="from", description="The first local day")
    last: date = Field(alias="to", description="The last local day")
    timezone: str = Field(description="The tenant's IANA time zone the days are local to")
    number_id: UUID | None = Field(description="The number the report is limited to, if any")


class VolumeCountsOut(BaseModel):
    """Conversations and messages counted over a day, or over the whole range."""

    conversations_opened: int = Field(description="Opened or reopened")
    conversations_resolved: int
    messages_in: int
    messages_out: int = Field(description="The inbox's outbound messages: people, bot, API")
    campaign_messages_out: int = Field(description="Campaign sends Meta accepted")


class VolumeDayOut(VolumeCountsOut):
    """One local day of one number."""

    day: date
    number_id: UUID | None = Field(description="Null for conversations of no known number")


class VolumesReportOut(AnalyticsRangeOut):
    """Conversations opened/resolved and messages in/out per local day and number."""

    items: list[VolumeDayOut] = Field(description="By day, then number; days with none left out")
    totals: VolumeCountsOut


class DurationStatsOut(BaseModel):
    """How long something took over the range (null median and p90 when nothing counted)."""

    count: int
    median_seconds: float | None = Field(description=_SECONDS)
    p90_seconds: float | None = Field(description=_SECONDS)


class ResponseTimesReportOut(AnalyticsRangeOut):
    """First response and resolution times of the cycles in the range."""

    first_response: DurationStatsOut
    resolution: DurationStatsOut = Field(description="Cycles only the bot owned are left out")


class AgentActivityOut(BaseModel):
    """One person's work over the range."""

    user_id: UUID = Field(description="The user, or the API key, that replied or resolved")
    conversations_handled: int = Field(description="Resolved while assigned to them")
    replies: int
    first_responses: int
    median_first_response_seconds: float | None = Field(description=_SECONDS)
    median_resolution_seconds: float | None = Field(description=_SECONDS)


class AgentsReportOut(AnalyticsRangeOut):
    """Per person: conversations handled, replies, median times; the busiest first."""

    items: list[AgentActivityOut]


class CampaignFunnelOut(BaseModel):
    """Recipients that reached each state at least (a read message was sent and delivered)."""

    queued: int
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int
    skipped: int


class CampaignDayOut(CampaignFunnelOut):
    """Recipients that entered each state on one local day."""

    day: date


class CampaignReportOut(BaseModel):
    """A campaign active (or created) in the range."""

    campaign_id: UUID
    name: str
    number_id: UUID
    state: CampaignState
    funnel: CampaignFunnelOut = Field(description="Over the campaign's whole life")
    daily: list[CampaignDayOut] = Field(description="Days of the range with any change")


class CampaignsReportOut(AnalyticsRangeOut):
    """Each campaign active in the range: its funnel, and what happened per local day."""

    items: list[CampaignReportOut]


class FlowNodeReportOut(BaseModel):
    """A node of a flow: runs that reached it, and runs that dropped off there."""

    node_id: str
    reached: int
    dropped: int


class FlowReportOut(BaseModel):
    """The runs of one flow started in the range."""

    flow_id: UUID
    name: str
    started: int
    completed: int = Field(description="Ended by design: the last node, or a hand-off node")
    dropped: int = Field(description="Ended otherwise: timeout, a takeover, an error, a limit")
    in_progress: int
    nodes: list[FlowNodeReportOut] = Field(description="By node id")


class FlowsReportOut(AnalyticsRangeOut):
    """Per flow: runs started in the range, completed, dropped, and per node."""

    items: list[FlowReportOut]


class LeadStageCountOut(BaseModel):
    """Leads now at a stage."""

    stage: Literal["new", "qualified", "won", "lost"]
    count: int


class LeadSourceCountOut(BaseModel):
    """Leads first captured from a source."""

    source: Literal["flow", "ai", "manual", "api"]
    count: int


class LeadsReportOut(AnalyticsRangeOut):
    """Leads first captured in the range, by current stage and by source (every stage and
    every source listed, zeros included)."""

    total: int
    by_stage: list[LeadStageCountOut]
    by_source: list[LeadSourceCountOut]
