"""The answers of the inbox's team tools, as documented in the OpenAPI document
(``majlis.http.responds``): labels, teams, canned responses, assignment policies, the contact
attribute schema and media uploads. They describe the dicts of ``labels.label_json``,
``teams.team_json``, ``canned._json``, ``assignment.policy_json``,
``contact_attributes.definition_json`` and ``media_upload.post_media``; keep them in step.

Nothing here imports a view module: the views import these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from inbox.assignment import Mode
from inbox.contacts_repository import AttributeType
from inbox.conversation_answers import LabelDetailOut


class LabelOut(LabelDetailOut):
    """A label of the team (colour: lower-case #rrggbb)."""

    created_at: datetime


class TeamOut(BaseModel):
    """A team of people who work conversations together."""

    id: UUID
    name: str
    description: str = Field(description="Empty when none was given")
    member_ids: list[UUID] = Field(
        description="The members' user ids, in the order they were added"
    )
    created_at: datetime
    updated_at: datetime


class CannedResponseOut(BaseModel):
    """A canned response: tenant-wide, or personal (seen and used by its owner alone)."""

    id: UUID
    shortcut: str
    content: str = Field(description="The text, with {{contact.name}}-style variables unfilled")
    scope: Literal["tenant", "personal"]
    owner_user_id: UUID | None = Field(description="The owner of a personal one; null: tenant")
    created_at: datetime
    updated_at: datetime


class RenderedCannedOut(BaseModel):
    """A canned response's text for one conversation, its variables filled in."""

    text: str


class AssignmentPolicyOut(BaseModel):
    """How a number's new conversations are assigned (manual when none was ever set)."""

    number_id: UUID
    mode: Mode
    agent_capacity: int | None = Field(
        description="Most active conversations an agent gets automatically; null: no limit"
    )
    updated_at: datetime | None = Field(description="Null while no policy was ever set")


class AttributeDefinitionOut(BaseModel):
    """A custom attribute of the tenant's contacts."""

    key: str
    label: str
    type: AttributeType
    options: list[str] | None = Field(description="A list attribute's options; null otherwise")
    created_at: datetime


class AttributeDefinitionsOut(BaseModel):
    """The tenant's contact attribute schema, by key."""

    items: list[AttributeDefinitionOut]


class UploadedMediaOut(BaseModel):
    """A file uploaded to Meta for a reply to send by its id (`meta_media_id`)."""

    id: UUID
    meta_media_id: str
    number_id: UUID
    mime_type: str = Field(description="The type sniffed from the file's bytes")
    message_type: Literal["image", "sticker", "audio", "video", "document"] = Field(
        description="The message type that sends this file"
    )
    file_size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
