"""`POST /api/v1/knowledge/try`: what the bot would answer a question, and from which passages.

It runs the tenant's configured answerer through the very path the flow engine uses
(`AiService.consult`, which `answer_question` wraps): the built-in answerer, or the tenant's
provider with its key, so a configured provider is really called. Nothing is sent to any
customer and nothing is stored. Owners, admins and agents may ask (viewers only read); each
tenant has `try_per_minute` questions a minute (a provider call costs the tenant money), counted
in Redis across replicas and refused with 429 past it, or 503 when Redis cannot count (closed).
The question is never logged.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatflow.ai import repository as repo
from chatflow.ai.answerer import AiService, Consultation
from chatflow.ai.bm25 import Hit
from chatflow.ai.knowledge import TITLE_FIELD, open_entry
from chatflow.ai.response_models import TryOut
from chatflow.ai.service import AI_SERVICE
from chatflow.ai.web import AGENT_ROLES, caller
from majlis.http import ProblemError, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.logging import get_logger
from majlis.ratelimit import RedisUnavailable

log = get_logger(__name__)
CANDIDATES = 3  # ranked passages shown beside the answer
_EXCERPT_CHARS = 280


class TryBody(BaseModel):
    """The question as a customer would write it; `language` forces the reply's language."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    language: Literal["ar", "en"] | None = None

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


async def _labels(ai: AiService, conn: Any, tenant_id: UUID, hits: list[Hit]) -> dict[str, str]:
    """`kind:id` → what a person recognises: an entry's first question, a document's title."""
    entry_ids = [h.passage.source_id for h in hits if h.passage.kind == "entry"]
    document_ids = [h.passage.source_id for h in hits if h.passage.kind == "document"]
    labels: dict[str, str] = {}
    for row in await repo.entries_by_ids(conn, entry_ids) if entry_ids else []:
        labels[f"entry:{row['id']}"] = open_entry(ai.cipher, tenant_id, row["content_enc"])[
            "questions"
        ][0]
    for row in await repo.document_titles(conn, document_ids) if document_ids else []:
        labels[f"document:{row['id']}"] = ai.cipher.decrypt_text(
            row["title_enc"], tenant_id=tenant_id, field=TITLE_FIELD
        )
    return labels


def _passage_json(hit: Hit, used: bool, label: str | None, language: str) -> dict[str, Any]:
    passage = hit.passage
    text = passage.answers.get(language) or next(iter(passage.answers.values()), "")  # type: ignore[call-overload]
    return {
        "kind": passage.kind,
        "id": str(passage.source_id),
        "chunk": passage.position,
        "label": label,
        "confidence": round(hit.confidence, 3),
        "has_language": language in passage.answers,
        "used": used,
        "excerpt": text[:_EXCERPT_CHARS],
    }


@responds(TryOut)
async def try_question(request: web.Request) -> web.Response:
    """POST /api/v1/knowledge/try (owner, admin, agent): the bot's answer, sending nothing."""
    identity = await caller(request, AGENT_ROLES, write_scope="flows:write")
    body = await parse_json(request, TryBody)
    ai = request.app[AI_SERVICE]
    try:
        decision = await ai.limiter.hit(
            "knowledge-try", str(identity.tenant_id),
            limit=ai.settings.try_per_minute, window_seconds=60,
        )  # fmt: skip
    except RedisUnavailable:
        raise ProblemError(503, "Trying questions is unavailable for a moment") from None
    if not decision.allowed:
        raise ProblemError(429, "Too many questions tried; wait a moment",
                           slug="rate-limited", headers=decision.headers())  # fmt: skip
    consulted: Consultation = await ai.consult(identity.tenant_id, body.question, body.language)
    answer = consulted.answer
    used = set(answer.passages) if answer is not None else set()
    shown = [h for h in consulted.hits if h.passage.key in used]
    shown += [h for h in consulted.hits[:CANDIDATES] if h.passage.key not in used]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        labels = await _labels(ai, conn, identity.tenant_id, shown)
    log.info("ai.try", provider=consulted.provider, answered=answer is not None,
             passages=len(consulted.hits))  # fmt: skip
    return web.json_response({
        "language": consulted.language,
        "provider": consulted.provider,
        "model": consulted.model,
        "min_confidence": round(consulted.min_confidence, 4),
        "answered": answer is not None,
        "answer": None if answer is None else {
            "text": answer.text, "language": answer.language,
            "confidence": answer.confidence, "source": answer.source,
        },
        "passages": [
            _passage_json(h, h.passage.key in used,
                          labels.get(f"{h.passage.kind}:{h.passage.source_id}"),
                          consulted.language)
            for h in shown
        ],
    }, headers=decision.headers())  # fmt: skip


def add_try_routes(app: web.Application) -> None:
    """Register the "try a question" route."""
    app.router.add_post("/api/v1/knowledge/try", try_question)
