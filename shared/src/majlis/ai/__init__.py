"""Model providers (OpenAI, Google Gemini) and the Arabic/English text tools of the AI bot."""

from majlis.ai.providers import (
    ProviderConfig,
    ProviderKind,
    complete,
    lead_schema,
)
from majlis.ai.settings import AiSettings
from majlis.ai.text import detect_language, normalise, tokenize

__all__ = [
    "AiSettings",
    "ProviderConfig",
    "ProviderKind",
    "complete",
    "detect_language",
    "lead_schema",
    "normalise",
    "tokenize",
]
