"""The contacts API's answers, as documented in the OpenAPI document (``majlis.http.responds``).

They describe the dicts ``inbox.contacts.contact_json``, the views, the CSV import
(``contacts_csv.Summary``) and the data-subject requests (``contacts_purge``) build; keep them
in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from inbox.contacts import Marketing
from inbox.conversation_answers import Direction, SenderKind, Status


class ConsentOut(BaseModel):
    """A contact's consent: marketing state, processing restriction, when it last changed."""

    marketing: Marketing
    processing_restricted: bool
    updated_at: datetime | None


class ContactOut(BaseModel):
    """A contact, decrypted for the caller's tenant (phone is null for a username-only one)."""

    id: UUID
    phone: str | None
    name: str | None
    email: str | None
    tags: list[str]
    attributes: dict[str, Any]
    consent: ConsentOut
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ContactTagsOut(BaseModel):
    """The contact's whole tag set after a replace."""

    id: UUID
    tags: list[str]


def _absent_when_unset(schema: dict[str, Any]) -> None:
    """A key the answer leaves out (never null) shows no default."""
    schema.pop("default", None)


class ImportedRowOut(BaseModel):
    """A row of the file that created or updated a contact."""

    row: int = Field(ge=1, description="The row's line number in the file")
    outcome: Literal["created", "updated"]
    contact_id: UUID


class NotImportedRowOut(BaseModel):
    """A row of the file that was not stored: invalid, or skipped (a deleted contact's phone
    number, or one added meanwhile: import again)."""

    row: int = Field(ge=1, description="The row's line number in the file")
    outcome: Literal["skipped", "invalid"]
    error: str = Field(description="Why; it never repeats the row's values")
    contact_id: UUID | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_absent_when_unset,
        description="Only for a row skipped because its phone number was added meanwhile",
    )


class ContactImportOut(BaseModel):
    """How a CSV import went: rows per outcome, and each data row's outcome (not in file
    order: an invalid row is reported as it is read, the others as their batch is written)."""

    created: int
    updated: int
    skipped: int
    invalid: int
    rows: list[ImportedRowOut | NotImportedRowOut]


class ContactErasedOut(BaseModel):
    """An erased contact and how many of its rows went with it (campaign_recipients: the rows
    of campaigns sent to the contact's number or to the contact, with the number and the
    rendered parameters;
    flow_logs: the bot's run logs of its conversations; webhook_deliveries: the outbound
    webhooks that carried their messages to the tenant's endpoints; sends_cancelled: messages
    to them that were still waiting to be sent, and now never will be)."""

    id: UUID
    erased: Literal[True]
    conversations: int
    messages: int
    media: int
    campaign_recipients: int
    flow_logs: int
    webhook_deliveries: int
    sends_cancelled: int


class ExportedContactOut(BaseModel):
    """The contact's own fields, decrypted (bsuid: its WhatsApp business-scoped user id)."""

    id: UUID
    phone: str | None
    bsuid: str | None
    name: str | None
    email: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ExportedConversationOut(BaseModel):
    """One of the contact's conversations."""

    id: UUID
    number_id: UUID
    status: Status
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    last_message_at: datetime | None


class ExportedMediaOut(BaseModel):
    """A message's file, described (the file itself: GET /api/v1/media/{id})."""

    id: UUID
    mime_type: str
    file_size: int | None
    sha256: str | None
    status: Literal["pending", "stored", "failed"]


class ExportedMessageOut(BaseModel):
    """One message of the contact's conversations; body: its JSON content decrypted, or text,
    or null."""

    id: UUID
    conversation_id: UUID
    direction: Direction
    type: str
    status: str
    sender_kind: SenderKind
    body: Any
    created_at: datetime
    updated_at: datetime
    media: ExportedMediaOut | None


class ExportedLeadOut(BaseModel):
    """The contact's lead (AI lead capture), its data decrypted."""

    id: UUID
    stage: Literal["new", "qualified", "won", "lost"]
    source: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ExportedCampaignOut(BaseModel):
    """A campaign sent to the contact's number: where its message got to, and when."""

    campaign_id: UUID
    name: str
    state: Literal["pending", "queued", "sent", "delivered", "read", "replied", "failed", "skipped"]
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    replied_at: datetime | None
    failed_at: datetime | None


class ContactDataExportOut(BaseModel):
    """Everything stored about a contact (a data-subject access request), deleted or not."""

    contact: ExportedContactOut
    tags: list[str]
    attributes: dict[str, Any] = Field(
        description="Every stored value, including those the current schema no longer shows"
    )
    consent: ConsentOut
    conversations: list[ExportedConversationOut]
    messages: list[ExportedMessageOut]
    campaigns: list[ExportedCampaignOut]
    lead: ExportedLeadOut | None
