"""The contacts API's answers, as documented in the OpenAPI document (``majlis.http.responds``).

They describe the dicts ``inbox.contacts.contact_json`` and the views build; keep them in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from inbox.contacts import Marketing


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
