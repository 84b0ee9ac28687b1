"""The conversations API's answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``inbox.conversation_list.item_json``,
``message_json`` and ``inbox.replies.message_json``; keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

Status = Literal["open", "pending", "snoozed", "resolved"]
Direction = Literal["inbound", "outbound", "note"]
SenderKind = Literal["customer", "user", "api_key", "bot", "campaign", "system", "business_app"]


class ConversationContactOut(BaseModel):
    """The conversation's contact, decrypted (null where unknown or unreadable)."""

    id: UUID
    name: str | None
    phone: str | None


class ConversationOut(BaseModel):
    """A conversation as a list item (labels: label ids, in the order they were added)."""

    id: UUID
    status: Status
    controller: Literal["bot", "human"]
    assigned_user_id: UUID | None
    number_id: UUID
    contact: ConversationContactOut
    last_message_at: datetime | None
    last_customer_message_at: datetime | None
    unread_count: int = Field(ge=0)
    team_id: UUID | None
    labels: list[UUID]
    snoozed_until: datetime | None
    window_open: bool
    window_closes_at: datetime | None = Field(
        description="While the customer service window is open: when it closes (24 hours after"
        " the customer's last message), after which only templates may be sent; else null."
    )
    created_at: datetime


class StatusCountsOut(BaseModel):
    """Conversations per status (the tenant's, whatever the filters)."""

    open: int
    pending: int
    snoozed: int
    resolved: int


class ConversationPageOut(BaseModel):
    """A page of conversations, newest activity first, with the counts per status."""

    items: list[ConversationOut]
    next_cursor: str | None
    counts: StatusCountsOut


class LabelDetailOut(BaseModel):
    """A label of the conversation in full."""

    id: UUID
    name: str
    color: str = Field(pattern=r"^#[0-9a-f]{6}$")


class ConversationDetailOut(ConversationOut):
    """One conversation: the list item and its labels in full."""

    labels_detail: list[LabelDetailOut]


class MediaOut(BaseModel):
    """A message's file (fetched through GET /api/v1/media/{id} once stored)."""

    id: UUID
    status: Literal["pending", "stored", "failed"]
    mime_type: str
    file_size: int | None


class MessageOut(BaseModel):
    """A message of a conversation; body: its JSON content decrypted, or text, or null."""

    id: UUID
    seq: int
    direction: Direction
    type: str
    status: str
    body: Any
    sender_kind: SenderKind
    sender_user_id: UUID | None
    error_code: int | None
    error_title: str | None
    created_at: datetime
    wamid: str | None
    media: MediaOut | None


class MessagePageOut(BaseModel):
    """A page of messages, newest first; next_cursor: the seq to pass as `before`."""

    items: list[MessageOut]
    next_cursor: str | None


class SentMessageOut(BaseModel):
    """The stored reply or note (a retry with the same Idempotency-Key answers the first)."""

    id: UUID
    conversation_id: UUID
    direction: Direction
    type: str
    status: str
    sender_kind: SenderKind
    sender_user_id: UUID | None
    seq: int
    created_at: datetime
    body: Any
    error_code: int | None
    error_title: str | None
    mentions: list[UUID] = Field(default=[], description="Notes only: the people mentioned")
