"""`capture_lead`: extract what a conversation says about the customer and keep one lead each.

With a provider configured for the tenant, the model extracts through structured output (a
JSON schema) and the rule-based extractor fills what it left empty; without one, or when the
provider fails, the rule-based extractor alone (lead capture never hands off: it is not an
answer to the customer). The lead is created or updated (one per contact: the unique key
decides a race) with a `chatflow.lead.captured` event (ids only) in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import phonenumbers
from pydantic import ValidationError

from chatflow.ai.answerer import AiService
from chatflow.ai.service import current_service
from chatflow.leads import repository as repo
from chatflow.leads.extraction import extract
from chatflow.leads.model import Lead, LeadData, Source
from majlis.ai import complete, lead_schema
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.chatflow import LeadCaptured
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox

log = get_logger(__name__)
MAX_TEXTS, MAX_CHARS = 50, 20_000


class UnknownContact(LookupError):
    """The contact is not one of the tenant's."""


def lead_from_row(service: AiService, tenant_id: UUID, row: Any, *, is_new: bool = False) -> Lead:
    """A stored lead, decrypted."""
    return Lead(row["id"], row["contact_id"], row["conversation_id"], row["stage"],
                row["source"], LeadData.open(service.cipher, tenant_id, row["data_enc"]),
                row["created_at"], row["updated_at"], is_new)  # fmt: skip


def _clean_provider_data(raw: dict[str, Any], region: str) -> LeadData:
    """The model's answer, checked like user input (a model may invent formats)."""
    values = {k: v for k, v in raw.items() if k in LeadData.model_fields and v not in (None, "")}
    for key, value in list(values.items()):
        if isinstance(value, str):
            values[key] = value.strip()[:200]
    if "phone" in values:
        try:
            number = phonenumbers.parse(str(values["phone"]), region)
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        values["phone"] = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if valid else None
        )  # fmt: skip
    currency = str(values.get("budget_currency") or "").upper()
    values["budget_currency"] = currency if len(currency) == 3 and currency.isalpha() else None
    if values["budget_currency"] is None:
        values.pop("budget_amount", None)
    return LeadData.model_validate(values)


async def _provider_extract(service: AiService, tenant_id: UUID, texts: list[str]) -> LeadData:
    ai = await service.load_tenant_ai(tenant_id)
    config = service.provider_config(ai)
    if config is None:
        return LeadData()
    system = (
        "Extract sales-lead details that the customer stated about themselves in these"
        " WhatsApp messages (Arabic or English): name, email, phone, company, interest,"
        " budget_amount (a number), budget_currency (ISO 4217 code such as AED, SAR, USD),"
        " timeline. Use null for anything not stated. Never guess."
    )
    reply = await complete(service.session, config, system, "\n".join(texts),
                           schema=lead_schema(config.kind))  # fmt: skip
    if reply is None:
        return LeadData()
    try:
        parsed = json.loads(reply)
        if not isinstance(parsed, dict):
            raise TypeError("not an object")
        return _clean_provider_data(parsed, "AE")
    except (ValueError, TypeError, ValidationError):
        log.warning("lead.provider.unusable_reply", provider=config.kind)
        return LeadData()


async def capture_lead(
    tenant_id: UUID,
    contact_id: UUID,
    conversation_id: UUID | None,
    texts: list[str],
    *,
    source: Source = "ai",
    service: AiService | None = None,
) -> Lead:
    """Create or update the contact's lead from the customer's messages; raises UnknownContact."""
    service = service or current_service()
    texts = [t[:MAX_CHARS] for t in texts[-MAX_TEXTS:]]
    data = extract(texts).merged(await _provider_extract(service, tenant_id, texts))
    async with tenant_transaction(service.pool, tenant_id) as conn:
        try:
            row = await repo.insert(conn, uuid4(), contact_id, conversation_id, source,
                                    data.seal(service.cipher, tenant_id))  # fmt: skip
        except asyncpg.ForeignKeyViolationError:
            raise UnknownContact(str(contact_id)) from None
        is_new = row is not None
        if row is None:
            current = await repo.by_contact(conn, contact_id)
            if current is None:  # the contact (and its lead) was deleted meanwhile
                raise UnknownContact(str(contact_id))
            stored = LeadData.open(service.cipher, tenant_id, current["data_enc"])
            merged = stored.merged(data).seal(service.cipher, tenant_id)
            conversation = conversation_id or current["conversation_id"]
            row = await repo.update(conn, current["id"], current["stage"], conversation, merged)
        lead = lead_from_row(service, tenant_id, row, is_new=is_new)
        event = LeadCaptured(lead_id=lead.id, contact_id=contact_id,
                             conversation_id=lead.conversation_id, stage=lead.stage,
                             source=lead.source, is_new=is_new)  # fmt: skip
        await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))
    log.info("lead.captured", lead_id=str(lead.id), is_new=is_new)
    return lead
