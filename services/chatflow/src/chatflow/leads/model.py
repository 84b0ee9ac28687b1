"""A lead's data and the lead itself, as the extractor, the repository and the views see them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from majlis.crypto import FieldCipher

DATA_FIELD = "leads.data"
Stage = Literal["new", "qualified", "won", "lost"]
Source = Literal["flow", "ai", "manual", "api"]
# Stage moves forward only; won and lost are final (a returning customer is a new deal).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"qualified", "lost"}),
    "qualified": frozenset({"won", "lost"}),
    "won": frozenset(),
    "lost": frozenset(),
}
FIELDS = ("name", "email", "phone", "company", "interest", "budget_amount", "budget_currency",
          "timeline")  # fmt: skip


class LeadData(BaseModel):
    """What is known about the customer; None where nothing is known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    interest: str | None = None
    budget_amount: Decimal | None = None
    budget_currency: str | None = None
    timeline: str | None = None

    def merged(self, newer: LeadData) -> LeadData:
        """These values, overridden by every value `newer` knows."""
        known = {k: v for k, v in newer.model_dump().items() if v not in (None, "")}
        # Amount and currency travel together: a new amount never keeps an old currency.
        if "budget_amount" in known and "budget_currency" not in known:
            known["budget_currency"] = None
        return self.model_copy(update=known)

    def public(self) -> dict[str, Any]:
        """The data as the API shows it (budget as an object)."""
        budget = None
        if self.budget_amount is not None:
            budget = {"amount": _number(self.budget_amount), "currency": self.budget_currency}
        return {"name": self.name, "email": self.email, "phone": self.phone,
                "company": self.company, "interest": self.interest, "budget": budget,
                "timeline": self.timeline}  # fmt: skip

    def seal(self, cipher: FieldCipher, tenant_id: UUID) -> bytes:
        """The data encrypted for the tenant."""
        return cipher.encrypt(self.model_dump_json(), tenant_id=tenant_id, field=DATA_FIELD)

    @classmethod
    def open(cls, cipher: FieldCipher, tenant_id: UUID, sealed: bytes) -> LeadData:
        """Decrypt stored data."""
        text = cipher.decrypt_text(sealed, tenant_id=tenant_id, field=DATA_FIELD)
        return cls.model_validate(json.loads(text))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True, slots=True)
class Lead:
    """A lead: one per contact."""

    id: UUID
    contact_id: UUID
    conversation_id: UUID | None
    stage: Stage
    source: Source
    data: LeadData
    created_at: datetime
    updated_at: datetime
    is_new: bool = False

    def public(self) -> dict[str, Any]:
        """The lead as the API shows it."""
        return {
            "id": str(self.id),
            "contact_id": str(self.contact_id),
            "conversation_id": str(self.conversation_id) if self.conversation_id else None,
            "stage": self.stage,
            "source": self.source,
            **self.data.public(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
