"""The owner's AI companion: a personal number confirmed by a one-time code, and its answers.

An owner registers a personal WhatsApp number (`PUT /api/v1/companion`); a 6-digit code goes
to it from the business number through the dispatcher (a `send_message` command through the
outbox): with an APPROVED AUTHENTICATION template of that number's WABA when there is one
(delivered whenever, like any template), else as free text (delivered only if the owner wrote
to the business number in the last 24 hours: Meta refuses it otherwise, 131047). The code is
stored only as a keyed HMAC bound to the registration, expires after CODE_TTL, and allows
MAX_ATTEMPTS tries. Once verified, `companion_reply` answers messages from that number with
read-only figures of the tenant (today's conversations, open and unassigned counts, new
leads), through the tenant's provider or a built-in summary. History lives in Redis for 24
hours, encrypted, keyed by tenant and a hash of the number. Only owners reach any of it (in
the views and in row-level security).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from chatflow.ai.answerer import AiService
from majlis.ai import complete
from majlis.ai.text import Language, detect_language
from majlis.crypto import BlindIndexer, InvalidPhoneNumber
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.broadcast import SEND_PAYLOAD_FIELD, SendMessage
from majlis.messaging import add_to_outbox

PHONE_FIELD = "companion_numbers.phone"
CODE_FIELD = "companion_numbers.code"
HISTORY_FIELD = "companion.history"
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
HISTORY_TTL_SECONDS = 24 * 3600
HISTORY_TURNS = 20
TEXT_HINT = (
    "The code was sent as a free-form message: WhatsApp delivers it only if the owner's number"
    " messaged the business number in the last 24 hours. An approved Authentication template"
    " on the business number's WhatsApp Business Account removes that limit."
)


@dataclass(frozen=True, slots=True)
class CodeDelivery:
    """How a code went out: an authentication template (its name, language) or free text."""

    via: Literal["template", "text"]
    template: str | None = None
    language: str | None = None

    def public(self) -> dict[str, str]:
        """The `code_delivery` object of the API's answer."""
        if self.via == "template":
            return {"via": "template", "template": self.template or "",
                    "language": self.language or ""}  # fmt: skip
        return {"via": "text", "hint": TEXT_HINT}


def code_hash(indexer: BlindIndexer, tenant_id: UUID, row_id: UUID, code: str) -> bytes:
    """The keyed HMAC a code is stored and compared as (bound to its registration)."""
    return indexer.value(f"{row_id}:{code}", tenant_id=tenant_id, field=CODE_FIELD)


def new_code() -> str:
    """A uniformly random 6-digit code."""
    return f"{secrets.randbelow(10**6):06d}"


async def queue_text(conn: Any, service: AiService, tenant_id: UUID, number_id: UUID,
                     phone: str, text: str, message_id: UUID) -> None:  # fmt: skip
    """Ask the dispatcher (through the outbox, in this transaction) to send `text` to `phone`."""
    message = {"type": "text", "text": {"body": text}}
    await _queue(conn, service, tenant_id, number_id, phone, message, message_id)


async def _queue(conn: Any, service: AiService, tenant_id: UUID, number_id: UUID, phone: str,
                 message: dict[str, Any], message_id: UUID) -> None:  # fmt: skip
    payload = json.dumps({"to": phone, "message": message})
    sealed = service.cipher.encrypt(payload, tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD)
    command = SendMessage(message_id=message_id, number_id=number_id,
                          payload_enc=base64.b64encode(sealed).decode("ascii"))  # fmt: skip
    await add_to_outbox(conn, make_envelope(command, tenant_id=tenant_id))


async def authentication_template(
    conn: Any, number_id: UUID, language: str
) -> tuple[str, str] | None:
    """The APPROVED AUTHENTICATION template (name, language) of the number's WABA to use, if any.

    The choice is deterministic: first a template in `language` (the owner's dashboard
    language), then English, then Arabic, then any other; a regional variant (`en_US`) counts
    as its language; ties go to the exact code before a regional one (`en` before `en_GB`),
    then to the name, alphabetically.
    """
    rows = await conn.fetch(
        "SELECT t.name, t.language FROM templates t"
        " JOIN whatsapp_numbers n ON n.waba_id = t.waba_id"
        " WHERE n.id = $1 AND t.category = 'AUTHENTICATION' AND t.status = 'APPROVED'",
        number_id,
    )
    order = [language, "en", "ar"]

    def rank(row: Any) -> tuple[int, str, str]:
        base = row["language"].split("_")[0]
        return (order.index(base) if base in order else len(order), row["language"], row["name"])

    best = min(rows, key=rank, default=None)
    return (best["name"], best["language"]) if best is not None else None


async def queue_code(conn: Any, service: AiService, tenant_id: UUID, number_id: UUID,
                     phone: str, code: str, message_id: UUID, *,
                     language: str = "en") -> CodeDelivery:  # fmt: skip
    """Send the one-time code from the business number; how it went (template or free text).

    With an approved authentication template the code fills its body and its copy-code button
    (Meta's send shape); without one it goes as free text in English and Arabic.
    """
    template = await authentication_template(conn, number_id, language)
    if template is None:
        text = f"Majlis: your companion code is {code}. رمز التفعيل: {code}"
        await queue_text(conn, service, tenant_id, number_id, phone, text, message_id)
        return CodeDelivery("text")
    name, template_language = template
    parameters = [{"type": "text", "text": code}]
    message = {
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": template_language},
            "components": [
                {"type": "body", "parameters": parameters},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": parameters},
            ],
        },
    }
    await _queue(conn, service, tenant_id, number_id, phone, message, message_id)
    return CodeDelivery("template", name, template_language)


def verify(stored: bytes | None, candidate: bytes) -> bool:
    """Constant-time comparison of code hashes."""
    return stored is not None and hmac.compare_digest(stored, candidate)


def history_key(prefix: str, tenant_id: UUID, phone_bidx: bytes) -> str:
    """The Redis key of an owner's history: tenant and a hash of the number, never the number."""
    return f"{prefix}companion:{tenant_id}:{hashlib.sha256(phone_bidx).hexdigest()[:32]}"


async def business_figures(service: AiService, tenant_id: UUID) -> dict[str, int]:
    """Today's read-only figures of the tenant (UTC day)."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with tenant_transaction(service.pool, tenant_id, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE created_at >= $1) AS conversations_today,"
            " count(*) FILTER (WHERE status = 'open') AS open,"
            " count(*) FILTER (WHERE status = 'open' AND assigned_user_id IS NULL) AS unassigned"
            " FROM conversations",
            since,
        )
        leads = await conn.fetchval(
            "SELECT count(*) FROM leads WHERE created_at >= $1 AND stage = 'new'", since
        )
    assert row is not None
    return {
        "conversations_today": row["conversations_today"],
        "open_conversations": row["open"],
        "unassigned_conversations": row["unassigned"],
        "new_leads_today": int(leads),
    }


def builtin_summary(figures: dict[str, int], language: Language) -> str:
    """The figures as a short message in the owner's language."""
    f = figures
    if language == "ar":
        return (f"ملخص اليوم: {f['conversations_today']} محادثة جديدة، {f['open_conversations']}"
                f" مفتوحة منها {f['unassigned_conversations']} بلا موظف، و{f['new_leads_today']}"
                " عملاء محتملون جدد.")  # fmt: skip
    return (
        f"Today: {f['conversations_today']} new conversations, {f['open_conversations']} open"
        f" ({f['unassigned_conversations']} unassigned), {f['new_leads_today']} new leads."
    )


async def companion_reply(
    service: AiService, tenant_id: UUID, from_phone: str, text: str
) -> str | None:
    """The companion's reply to a message from `from_phone`; None if it is not a verified owner."""
    redis = service.redis
    try:
        bidx = service.indexer.phone(from_phone, tenant_id=tenant_id)
    except InvalidPhoneNumber:
        return None
    async with tenant_transaction(service.pool, tenant_id, readonly=True) as conn:
        verified = await conn.fetchval(
            "SELECT verified_at IS NOT NULL FROM companion_numbers WHERE phone_bidx = $1", bidx
        )
    if not verified:
        return None
    language = detect_language(text)
    figures = await business_figures(service, tenant_id)
    key = history_key(service.redis_prefix, tenant_id, bidx)
    stored = await redis.lrange(key, -HISTORY_TURNS, -1)
    history = [
        json.loads(service.cipher.decrypt_text(
            item if isinstance(item, bytes) else item.encode(), tenant_id=tenant_id,
            field=HISTORY_FIELD))
        for item in stored
    ]  # fmt: skip
    reply = None
    provider = service.provider_config(await service.load_tenant_ai(tenant_id))
    if provider is not None:
        system = (
            "You are the business owner's assistant. Answer their question from these figures"
            f" of today only: {json.dumps(figures)}. Reply briefly in"
            f" {'Arabic' if language == 'ar' else 'English'}."
        )
        turns = "\n".join(f"{h['role']}: {h['text']}" for h in history)
        reply = await complete(service.session, provider, system, f"{turns}\nowner: {text}")
    reply = reply or builtin_summary(figures, language)
    for role, said in (("owner", text), ("assistant", reply)):
        sealed = service.cipher.encrypt(json.dumps({"role": role, "text": said}),
                                        tenant_id=tenant_id, field=HISTORY_FIELD)  # fmt: skip
        await redis.rpush(key, sealed)
    await redis.ltrim(key, -HISTORY_TURNS, -1)
    await redis.expire(key, HISTORY_TTL_SECONDS)
    return reply


def expiry() -> datetime:
    """When a code sent now expires."""
    return datetime.now(UTC) + CODE_TTL
