"""The flows and leads APIs' answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``views_flows.flow_json``, the publish
and versions views, ``leads.model.Lead.public``, the run, log and log-summary views of
``views_runs`` and the dry run's answer (``dry_run.play``); keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from chatflow.leads.model import Source, Stage


class FlowOut(BaseModel):
    """A flow: its settings, triggers and draft document; the published version, if any."""

    id: UUID
    name: str
    number_id: UUID | None
    priority: int
    triggers: list[dict[str, Any]]
    document: dict[str, Any]
    published_version_id: UUID | None
    created_at: datetime
    updated_at: datetime


class FlowVersionOut(BaseModel):
    """A published version (immutable)."""

    id: UUID
    flow_id: UUID
    version: int
    created_at: datetime


class FlowVersionItemOut(BaseModel):
    """A published version with its document and who published it (null: an API key)."""

    id: UUID
    version: int
    document: dict[str, Any]
    published_by: UUID | None
    created_at: datetime


class FlowVersionsOut(BaseModel):
    """Every published version of a flow, newest first."""

    items: list[FlowVersionItemOut]


class BudgetOut(BaseModel):
    """A budget: the amount and its currency (null when not known)."""

    amount: int | float
    currency: str | None


class LeadOut(BaseModel):
    """A lead (one per contact) and what is known about the customer (null: not known)."""

    id: UUID
    contact_id: UUID
    conversation_id: UUID | None
    stage: Stage
    source: Source
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    interest: str | None
    budget: BudgetOut | None
    timeline: str | None
    created_at: datetime
    updated_at: datetime


# Runs and their logs --------------------------------------------------------------------------
SessionStatus = Literal["running", "waiting_input", "waiting_timer", "awaiting_external", "ended"]


class FlowRunOut(BaseModel):
    """A run started in the conversation: its session and where it stands now."""

    session_id: UUID
    status: SessionStatus
    node: str = Field(description="The node the run is at (or ended at)")


class FlowLogOut(BaseModel):
    """A node a run executed (its inputs and outputs stay encrypted, never answered)."""

    id: UUID
    session_id: UUID
    conversation_id: UUID
    version_id: UUID
    node_id: str
    node_type: str
    outcome: str = Field(
        description="The output it followed (a handle such as next, true, error) or what it"
        " did: wait_input, wait_timer, handoff, end, loop_stopped"
    )
    duration_ms: int = Field(ge=0)
    error: str | None = Field(description="Why it failed or did other than asked, in our words")
    created_at: datetime


class FlowNodeSummaryOut(BaseModel):
    """One node's logs counted: how often it was run, per outcome, and its newest error."""

    node_id: str
    node_type: str
    total: int = Field(ge=0)
    errors: int = Field(ge=0)
    outcomes: dict[str, int] = Field(description="How many runs had each outcome")
    last_error: str | None
    last_at: datetime = Field(description="When it last ran")


class FlowLogSummaryOut(BaseModel):
    """Every node the flow's runs logged (of one version, if asked), by node id."""

    nodes: list[FlowNodeSummaryOut]


# The dry run -----------------------------------------------------------------------------------
class DryRunStepOut(BaseModel):
    """A node the run passed through and what came of it."""

    node_id: str
    type: str = Field(description="The node's type")
    outcome: str = Field(description="As in the flow's logs (the output followed, or what it did)")
    note: str | None = Field(
        description="skipped_in_test for a node that was simulated, else an error or a note"
    )


class DryRunIgnoredOut(BaseModel):
    """A message that came after the run had ended: nothing ran."""

    node_id: None
    outcome: Literal["ignored"]
    note: str


class TagActionOut(BaseModel):
    """The contact would be tagged."""

    kind: Literal["tag"]
    tags: list[str]


class UpdateContactActionOut(BaseModel):
    """The contact would be updated; only the fields the node sets are present."""

    kind: Literal["update_contact"]
    name: str | SkipJsonSchema[None] = None
    email: str | SkipJsonSchema[None] = None
    attributes: dict[str, str] | SkipJsonSchema[None] = None


class HandoffActionOut(BaseModel):
    """The conversation would go to a person (a user and a team only when the node names them)."""

    kind: Literal["handoff"]
    assign: Literal["none", "policy", "user"]
    reason: str = Field(
        description="flow (a handoff node), ai_no_answer, loop_limit, error, team_gone,"
        " unhandled_invalid, unhandled_error"
    )
    user_id: str | SkipJsonSchema[None] = None
    team_id: str | SkipJsonSchema[None] = None


class SimulatedWaitOut(BaseModel):
    """A wait node: the run would pause this long (it went on at once)."""

    node_id: str
    kind: Literal["wait"]
    seconds: int


class SimulatedHttpOut(BaseModel):
    """An http_request node: the request it would make (credential-like headers masked as
    "•••"), not made; the variables its response would set stay unset."""

    node_id: str
    kind: Literal["http_request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    url: str
    headers: dict[str, str]
    body: str | None
    unset: list[str] = Field(description="The variables the response mapping would set")


class SimulatedAiAnswerOut(BaseModel):
    """An ai_answer node: the built-in answerer ran (provider builtin); a configured provider
    is named, not asked; none: no AI, a person answers."""

    node_id: str
    kind: Literal["ai_answer"]
    provider: Literal["builtin", "openai", "gemini", "none"] | None
    model: str | None


class SimulatedLeadCaptureOut(BaseModel):
    """An ai_lead_capture node: no lead is stored."""

    node_id: str
    kind: Literal["ai_lead_capture"]


DryRunAction = Annotated[
    TagActionOut | UpdateContactActionOut | HandoffActionOut, Field(discriminator="kind")
]
Simulated = Annotated[
    SimulatedWaitOut | SimulatedHttpOut | SimulatedAiAnswerOut | SimulatedLeadCaptureOut,
    Field(discriminator="kind"),
]


class DryRunTurnOut(BaseModel):
    """One message of the tester and what the bot did with it."""

    input: str
    replies: list[dict[str, Any]] = Field(
        description="The messages the bot would send, as WhatsApp message objects (type and"
        " its content: text, image, interactive...)"
    )
    actions: list[DryRunAction]
    trace: list[DryRunStepOut | DryRunIgnoredOut]
    simulated: list[Simulated] = Field(description="The nodes that reach outside, simulated")


class DryRunOut(BaseModel):
    """The draft played against the messages, without any effect: nothing was sent, stored,
    called or changed."""

    turns: list[DryRunTurnOut]
    status: Literal["waiting_input", "ended"]
    node: str = Field(description="The node the run is at (or ended at)")
    end_reason: str | None = Field(
        description="Why it ended (completed, handoff, error, loop_limit, ...); null: it waits"
    )
    variables: dict[str, str] = Field(description="The run's variables after the last message")
