"""The AI service of a chatflow process: its resources, and the public functions of the bot.

`answer_question` and `capture_lead` are what the flow engine calls; they use the service of
the running app (started by `ai_ctx`). Code that has the app at hand may use `app[AI_SERVICE]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from aiohttp import web

from chatflow.ai.answerer import AiService, Answer
from majlis.ai import AiSettings
from majlis.ai.text import Language
from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.db import create_pool
from majlis.http.keys import SETTINGS
from majlis.http.resources import REDIS, egress_policy
from majlis.net.egress import egress_session

AI_SERVICE: web.AppKey[AiService] = web.AppKey("ai_service", AiService)
# Optional: tests (and embedders) put AiSettings here before start; else read from MAJLIS_AI_*.
AI_SETTINGS: web.AppKey[AiSettings] = web.AppKey("ai_settings", AiSettings)
_running: list[AiService] = []


async def ai_ctx(app: web.Application) -> AsyncIterator[None]:
    """The AI service: field encryption, an HTTP session for providers, the index cache."""
    ai_settings = app.get(AI_SETTINGS) or AiSettings()
    settings = app[SETTINGS]
    cipher = FieldCipher(KeyRing.from_settings(settings))
    # A pool of its own: the AI side's short reads and the lead's transaction never compete
    # with the engine's steps for a connection (the engine makes these calls with no
    # transaction open: chatflow.external).
    pool = await create_pool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout,
        application_name="chatflow-ai",
    )
    try:
        async with egress_session(egress_policy(app, ai_settings)) as session:
            service = AiService(pool, cipher, session, ai_settings,
                                BlindIndexer.from_settings(settings), app[REDIS],
                                settings.redis_prefix)  # fmt: skip
            app[AI_SERVICE] = service
            _running.append(service)
            try:
                yield
            finally:
                _running.remove(service)
    finally:
        await pool.close()


def current_service() -> AiService:
    """The AI service of the running chatflow app."""
    if not _running:
        raise RuntimeError("the chatflow AI service is not running")
    return _running[-1]


async def companion_answer(tenant_id: UUID, from_phone: str, text: str) -> str | None:
    """The owner's companion's reply to a message from `from_phone`; None: not a companion."""
    from chatflow.ai.companion import companion_reply

    return await companion_reply(current_service(), tenant_id, from_phone, text)


async def answer_question(
    tenant_id: UUID, text: str, language_hint: Language | None = None
) -> Answer | None:
    """A reply to a customer's question in their language, or None: hand off to a person."""
    return await current_service().answer_question(tenant_id, text, language_hint)
