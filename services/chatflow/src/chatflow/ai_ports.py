"""The flow engine's AI ports, served by the AI side of the service (answerer, lead capture).

The engine knows only the small protocols of `chatflow.ports`; these adapters reach the AI
service of the running app when a node runs, so they can be installed before it starts.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from aiohttp import web

from chatflow.ai import AI_SERVICE
from chatflow.conversation_runs import read_inbound
from chatflow.leads.capture import UnknownContact, capture_lead
from chatflow.ports import Rehearsal
from majlis.ai.text import Language
from majlis.crypto import DecryptionError
from majlis.db import tenant_transaction
from majlis.logging import get_logger

log = get_logger(__name__)
BODY_FIELD = "messages.body"
# How much of the conversation the lead extractor reads: the customer's latest messages.
LEAD_MESSAGES = 20


class ServiceAnswerer:
    """`ai_answer` nodes: the tenant's configured answerer (built-in or a provider)."""

    def __init__(self, app: web.Application) -> None:
        """Answer with the AI service of `app` once it runs."""
        self._app = app

    async def answer(self, tenant_id: UUID, question: str, language: str) -> str | None:
        """The answer text, or None (hand off)."""
        hint: Language | None = "ar" if language == "ar" else "en" if language == "en" else None
        answer = await self._app[AI_SERVICE].answer_question(tenant_id, question, hint)
        return answer.text if answer is not None else None

    async def rehearse(self, tenant_id: UUID, question: str, language: str) -> Rehearsal:
        """The built-in answerer's reply when it is the tenant's; else the provider, uncalled."""
        service = self._app[AI_SERVICE]
        config = service.provider_config(await service.load_tenant_ai(tenant_id))
        if config is not None:
            return Rehearsal(config.kind, config.model, None)
        hint: Language | None = "ar" if language == "ar" else "en" if language == "en" else None
        # builtin_only: settings changed since the line above still never reach a provider.
        consulted = await service.consult(tenant_id, question, hint, builtin_only=True)
        return Rehearsal("builtin", None, consulted.answer.text if consulted.answer else None)


class ServiceLeadCapturer:
    """`ai_lead_capture` nodes: extract and store the contact's lead from the conversation."""

    def __init__(self, app: web.Application) -> None:
        """Capture with the AI service of `app` once it runs."""
        self._app = app

    async def capture(self, tenant_id: UUID, conversation_id: UUID, contact_id: UUID) -> bool:
        """True once the lead is stored; False (hand off) if there is nothing to read."""
        service = self._app[AI_SERVICE]
        texts = await self._customer_texts(service, tenant_id, conversation_id)
        if not texts:
            return False
        try:
            await capture_lead(
                tenant_id, contact_id, conversation_id, texts, source="flow", service=service
            )
        except UnknownContact:
            log.warning("chatflow.lead_contact_gone", conversation_id=str(conversation_id))
            return False
        return True

    async def _customer_texts(
        self, service: Any, tenant_id: UUID, conversation_id: UUID
    ) -> list[str]:
        async with tenant_transaction(service.pool, tenant_id, readonly=True) as conn:
            rows = await conn.fetch(
                "SELECT body_enc FROM messages WHERE conversation_id = $1"
                " AND direction = 'inbound' AND body_enc IS NOT NULL"
                " ORDER BY seq DESC LIMIT $2",
                conversation_id,
                LEAD_MESSAGES,
            )
        texts: list[str] = []
        for row in reversed(rows):
            try:
                plain = service.cipher.decrypt(
                    row["body_enc"], tenant_id=tenant_id, field=BODY_FIELD
                )
            except DecryptionError:
                continue
            try:
                content = orjson.loads(plain)
            except orjson.JSONDecodeError:
                continue
            text, _, _ = read_inbound(content) if isinstance(content, dict) else (None, None, None)
            if text:
                texts.append(text)
        return texts
