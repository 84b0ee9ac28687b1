"""Answering a customer's question from the tenant's knowledge base, built in or by a provider.

The built-in answerer (the default: no key, no network) ranks passages with BM25 and answers
with the best passage that has text in the customer's language, when its confidence reaches
the tenant's threshold. It never answers in the other language: a passage written only in
English does not answer an Arabic question (a person, who can translate, gets the
conversation). With a provider configured, the best passages go to the model as context and
the model is told to answer in the customer's language from them only, or to say HANDOFF; a
reply in the wrong language, HANDOFF, or any provider failure returns None, which means: hand
the conversation to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from chatflow.ai import repository as repo
from chatflow.ai.bm25 import Hit
from chatflow.ai.index_cache import IndexCache
from majlis.ai import AiSettings, ProviderConfig, complete
from majlis.ai.text import Language, detect_language, tokenize
from majlis.crypto import BlindIndexer, FieldCipher
from majlis.db import tenant_transaction
from majlis.logging import get_logger
from majlis.ratelimit import RateLimiter

log = get_logger(__name__)
KEY_FIELD = "ai_settings.api_key"
DEFAULT_MIN_CONFIDENCE = 0.5
HANDOFF = "HANDOFF"
_LANGUAGE_NAMES = {"ar": "Arabic", "en": "English"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply for the customer, in their language."""

    text: str
    language: Language
    confidence: float  # the best passage's share of the question's terms (0..1)
    source: Literal["builtin", "openai", "gemini"]
    passages: tuple[str, ...]  # keys of the passages it came from


@dataclass(frozen=True, slots=True)
class Consultation:
    """One question put to the answerer: its answer (None: hand off) and what it weighed."""

    answer: Answer | None
    language: Language
    provider: Literal["builtin", "openai", "gemini"]  # who answered or would have
    model: str | None
    min_confidence: float
    hits: tuple[Hit, ...]  # the ranked passages, best first


@dataclass(frozen=True, slots=True)
class TenantAi:
    """A tenant's AI settings as the answerer uses them (the key decrypted)."""

    provider: Literal["builtin", "openai", "gemini"] = "builtin"
    model: str | None = None
    api_key: str | None = None
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    timeout_seconds: float = 15.0

    def __repr__(self) -> str:
        return f"TenantAi(provider={self.provider!r}, model={self.model!r})"


class AiService:
    """The answerer and the lead extractor's provider access for one process."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        cipher: FieldCipher,
        session: aiohttp.ClientSession,
        settings: AiSettings,
        indexer: BlindIndexer,
        redis: aioredis.Redis,
        redis_prefix: str,
    ) -> None:
        """Use these resources: providers over `session`, the companion's history in `redis`."""
        self.pool, self.cipher, self.session, self.settings = pool, cipher, session, settings
        self.indexer, self.redis, self.redis_prefix = indexer, redis, redis_prefix
        self.indexes = IndexCache(cipher, settings.index_cache_tenants)
        self.limiter = RateLimiter(redis, redis_prefix)  # the "try a question" quota

    def tenant_ai(self, tenant_id: UUID, row: Any) -> TenantAi:
        """The settings row as TenantAi (defaults without one)."""
        if row is None:
            return TenantAi()
        key = None
        if row["api_key_enc"] is not None:
            key = self.cipher.decrypt_text(row["api_key_enc"], tenant_id=tenant_id, field=KEY_FIELD)
        return TenantAi(row["provider"], row["model"], key, row["min_confidence"],
                        row["timeout_seconds"])  # fmt: skip

    def provider_config(self, ai: TenantAi) -> ProviderConfig | None:
        """The provider to call for this tenant, or None for the built-in answerer."""
        if ai.provider == "builtin" or not ai.api_key:
            return None
        s = self.settings
        if ai.provider == "openai":
            base, model = s.openai_base_url, ai.model or s.openai_default_model
        else:
            base, model = s.gemini_base_url, ai.model or s.gemini_default_model
        return ProviderConfig(ai.provider, base, model, ai.api_key, ai.timeout_seconds,
                              s.max_attempts, s.backoff_base_seconds)  # fmt: skip

    async def load_tenant_ai(self, tenant_id: UUID) -> TenantAi:
        """The tenant's AI settings."""
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
            row = await repo.get_settings(conn)
        return self.tenant_ai(tenant_id, row)

    async def answer_question(
        self, tenant_id: UUID, text: str, language_hint: Language | None = None
    ) -> Answer | None:
        """A reply to the customer's question, or None to hand the conversation to a person."""
        return (await self.consult(tenant_id, text, language_hint)).answer

    async def consult(
        self,
        tenant_id: UUID,
        text: str,
        language_hint: Language | None = None,
        *,
        builtin_only: bool = False,
    ) -> Consultation:
        """What the bot answers (the same path as `answer_question`) and what it ranked.

        `builtin_only` never calls a provider (a flow's dry run), whatever the settings say.
        """
        language: Language = language_hint or detect_language(text)
        query = tokenize(text)
        async with tenant_transaction(self.pool, tenant_id, readonly=True) as conn:
            version = await repo.version(conn)  # before the rows: see IndexCache
            settings_row = await repo.get_settings(conn)
            index = await self.indexes.index_for(conn, tenant_id, version)
        ai = self.tenant_ai(tenant_id, settings_row)
        hits = index.search(query, limit=max(self.settings.context_passages, 10))
        provider = None if builtin_only else self.provider_config(ai)
        if provider is not None:
            answer = await self._ask_provider(provider, text, language, hits)
            return Consultation(answer, language, provider.kind, provider.model,
                                ai.min_confidence, tuple(hits))  # fmt: skip
        found = None
        for hit in hits:
            if hit.confidence < ai.min_confidence:
                continue
            reply = hit.passage.answers.get(language)
            if reply is not None:
                found = Answer(reply, language, round(hit.confidence, 3), "builtin",
                               (hit.passage.key,))  # fmt: skip
                break
        if found is None:
            best = hits[0].confidence if hits else 0.0
            log.info("ai.answer.handoff", reason="below_threshold_or_language", confidence=best)
        return Consultation(found, language, "builtin", None, ai.min_confidence, tuple(hits))

    async def _ask_provider(
        self, config: ProviderConfig, text: str, language: Language, hits: list[Hit]
    ) -> Answer | None:
        context = hits[: self.settings.context_passages]
        passages = "\n\n".join(
            f"[{n}] {' / '.join(h.passage.answers.values())}" for n, h in enumerate(context, 1)
        )
        name = _LANGUAGE_NAMES[language]
        system = (
            "You are the customer-service assistant of a business on WhatsApp. Answer the"
            " customer's question using only the knowledge-base passages given. Reply in"
            f" {name}, the language the customer wrote in, briefly and politely. If the"
            f" passages do not contain the answer, reply with exactly {HANDOFF}."
        )
        user = f"Knowledge base passages:\n{passages or '(none)'}\n\nCustomer question:\n{text}"
        reply = await complete(self.session, config, system, user)
        if reply is None:
            return None  # the provider failed: log lines were written by complete()
        reply = reply.strip()
        if reply.upper().startswith(HANDOFF):
            log.info("ai.answer.handoff", reason="provider_handoff", provider=config.kind)
            return None
        if detect_language(reply, default=language) != language:
            log.warning("ai.answer.handoff", reason="wrong_language", provider=config.kind)
            return None
        confidence = context[0].confidence if context else 0.0
        return Answer(reply, language, round(confidence, 3), config.kind,
                      tuple(h.passage.key for h in context))  # fmt: skip
