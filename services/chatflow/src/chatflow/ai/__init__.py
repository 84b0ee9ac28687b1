"""The bilingual AI chatbot: knowledge base, built-in answerer, providers and their settings.

Public: `answer_question` and `companion_answer` (for the flow engine), `ai_ctx` (the
resources) and `add_ai_routes` (the knowledge base, AI settings, leads and companion APIs).
"""

from aiohttp import web

from chatflow.ai.answerer import Answer
from chatflow.ai.service import (
    AI_SERVICE,
    AI_SETTINGS,
    ai_ctx,
    answer_question,
    companion_answer,
)


def add_ai_routes(app: web.Application) -> None:
    """Register the knowledge-base, AI-settings and lead routes."""
    from chatflow.ai.companion_views import add_companion_routes
    from chatflow.ai.knowledge_views import add_knowledge_routes
    from chatflow.ai.settings_views import add_settings_routes
    from chatflow.ai.try_views import add_try_routes
    from chatflow.leads.views import add_lead_routes

    add_knowledge_routes(app)
    add_settings_routes(app)
    add_lead_routes(app)
    add_companion_routes(app)
    add_try_routes(app)


__all__ = [
    "AI_SERVICE",
    "AI_SETTINGS",
    "Answer",
    "add_ai_routes",
    "ai_ctx",
    "answer_question",
    "companion_answer",
]
