"""What the engine calls outside itself: the AI answerer, the lead capturer, HTTP requests.

Small protocols so the engine never depends on a provider. The defaults hand off (no AI is
configured): the AI side of the service provides real implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID


class AiAnswerer(Protocol):
    """Answer a customer's question in their language; None means hand off to a person."""

    async def answer(self, tenant_id: UUID, question: str, language: str) -> str | None:
        """The answer text, or None."""
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
