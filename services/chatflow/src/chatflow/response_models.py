"""The flows and leads APIs' answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``views_flows.flow_json``, the publish
and versions views and ``leads.model.Lead.public``; keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

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
