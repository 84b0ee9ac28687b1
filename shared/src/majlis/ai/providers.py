"""Chat completions from OpenAI and Google Gemini, with timeouts and bounded retries.

``complete`` returns the model's text, or None when the provider could not answer (a wrong
key, a refused request, or 429/5xx/timeouts past the last attempt): the caller hands the
conversation to a person instead. Keys go only into the request header; neither they nor the
conversation ever reach a log line (only the provider, status and attempt are logged).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from majlis.logging import get_logger

log = get_logger(__name__)
ProviderKind = Literal["openai", "gemini"]
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One tenant's provider: where, which model, its key, and how long to wait."""

    kind: ProviderKind
    base_url: str
    model: str
    api_key: str
    timeout_seconds: float = 15.0
    max_attempts: int = 3
    backoff_base_seconds: float = 0.5

    def __repr__(self) -> str:
        # Never print the key, even in a traceback's locals.
        return f"ProviderConfig(kind={self.kind!r}, model={self.model!r})"


def _request(
    config: ProviderConfig, system: str, user: str, schema: dict[str, Any] | None
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and JSON body of one call, in the provider's own request shape."""
    base = config.base_url.rstrip("/")
    if config.kind == "openai":
        body: dict[str, Any] = {
            "model": config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0.2,
        }
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "lead", "strict": True, "schema": schema},
            }
        headers = {"Authorization": f"Bearer {config.api_key}"}
        return f"{base}/v1/chat/completions", headers, body
    generation: dict[str, Any] = {"temperature": 0.2}
    if schema is not None:
        generation["responseMimeType"] = "application/json"
        generation["responseSchema"] = schema
    body = {
        "systemInstruction": {"parts": [{"text": system}]},
        "contents": [{"role": "user", "parts": [{"text": user}]}],
        "generationConfig": generation,
    }
    headers = {"x-goog-api-key": config.api_key}
    return f"{base}/v1beta/models/{config.model}:generateContent", headers, body


def _text_of(kind: ProviderKind, answer: Any) -> str | None:
    """The reply text of a provider's response document, or None if it has none."""
    try:
        if kind == "openai":
            text = answer["choices"][0]["message"]["content"]
        else:
            text = answer["candidates"][0]["content"]["parts"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) and text.strip() else None


async def complete(
    session: aiohttp.ClientSession,
    config: ProviderConfig,
    system: str,
    user: str,
    *,
    schema: dict[str, Any] | None = None,
) -> str | None:
    """The model's reply to `user` under `system` (JSON text when `schema` is given), or None."""
    url, headers, body = _request(config, system, user, schema)
    timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
    for attempt in range(1, config.max_attempts + 1):
        status = 0
        try:
            async with session.post(url, json=body, headers=headers, timeout=timeout) as response:
                status = response.status
                if status == 200:
                    text = _text_of(config.kind, await response.json(content_type=None))
                    if text is None:
                        log.warning("ai.provider.empty_reply", provider=config.kind)
                    return text
                await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning(
                "ai.provider.unreachable", provider=config.kind, attempt=attempt,
                error=type(error).__name__,
            )  # fmt: skip
        else:
            log.warning("ai.provider.refused", provider=config.kind, status=status, attempt=attempt)
            if status not in _RETRYABLE:
                return None  # a wrong key or a refused request: retrying cannot help
        if attempt < config.max_attempts:
            delay = config.backoff_base_seconds * 2 ** (attempt - 1)
            await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311  # jitter
    return None


_LEAD_FIELDS = ("name", "email", "phone", "company", "interest", "timeline", "budget_currency")


def lead_schema(kind: ProviderKind) -> dict[str, Any]:
    """The structured-output schema of a lead, in the provider's dialect."""
    if kind == "openai":
        # Strict mode: every property required, absent values as null, nothing else allowed.
        nullable_string = {"type": ["string", "null"]}
        properties: dict[str, Any] = dict.fromkeys(_LEAD_FIELDS, nullable_string)
        properties["budget_amount"] = {"type": ["number", "null"]}
        return {
            "type": "object",
            "properties": properties,
            "required": [*_LEAD_FIELDS, "budget_amount"],
            "additionalProperties": False,
        }
    # Gemini's responseSchema is an OpenAPI 3.0 subset: `nullable` instead of type unions.
    gemini_properties: dict[str, Any] = {f: {"type": "STRING", "nullable": True}
                                         for f in _LEAD_FIELDS}  # fmt: skip
    gemini_properties["budget_amount"] = {"type": "NUMBER", "nullable": True}
    return {"type": "OBJECT", "properties": gemini_properties}
