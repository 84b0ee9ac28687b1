"""What the engine calls outside itself: the AI answerer, the lead capturer, HTTP requests.

Small protocols so the engine never depends on a provider. The defaults hand off (no AI is
configured): the AI side of the service provides real implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID


class AiAnswerer(Protocol):
    """Answer a customer's question in their language; None means hand off to a person."""

    async def answer(self, tenant_id: UUID, question: str, language: str) -> str | None:
        """The answer text, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """What an ai_answer node would do, found without calling any provider (the test panel)."""

    provider: str  # "builtin", "openai", "gemini", or "none" (no AI: a person answers)
    model: str | None  # the provider's model
    answer: str | None  # the built-in answerer's reply; None: hand off, or a provider's turn


@runtime_checkable
class AnswerRehearser(Protocol):
    """An answerer that can say what it would do without reaching outside (dry runs)."""

    async def rehearse(self, tenant_id: UUID, question: str, language: str) -> Rehearsal:
        """The built-in answer (it needs no network), or which provider would be asked."""
        ...


class LeadCapturer(Protocol):
    """Capture a lead from a conversation; False means hand off to a person."""

    async def capture(self, tenant_id: UUID, conversation_id: UUID, contact_id: UUID) -> bool:
        """True when a lead was captured or updated."""
        ...


class HandOffAnswerer:
    """The default answerer: no AI configured, so a person answers."""

    async def answer(self, tenant_id: UUID, question: str, language: str) -> str | None:
        """Always None (hand off)."""
        return None

    async def rehearse(self, tenant_id: UUID, question: str, language: str) -> Rehearsal:
        """No AI: a person would answer."""
        return Rehearsal("none", None, None)


class HandOffLeadCapturer:
    """The default lead capturer: a person takes the lead."""

    async def capture(self, tenant_id: UUID, conversation_id: UUID, contact_id: UUID) -> bool:
        """Always False (hand off)."""
        return False


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP response as the http_request node sees it."""

    status: int
    body: Any  # parsed JSON, or None


class HttpCaller(Protocol):
    """Makes the http_request node's call (SSRF-guarded in production)."""

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: str | None, timeout_ms: int
    ) -> HttpAnswer:
        """The response; raises on refusal, timeout or network error."""
        ...
