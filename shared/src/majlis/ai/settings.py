"""Deployment settings of the AI providers (``MAJLIS_AI_*``); per-tenant choices live in the DB."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AiSettings(BaseSettings):
    """Where the providers are, default models, and the retry and cache bounds."""

    model_config = SettingsConfigDict(
        env_prefix="MAJLIS_AI_", extra="ignore", frozen=True, validate_default=True
    )

    openai_base_url: str = "https://api.openai.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openai_default_model: str = "gpt-4o-mini"
    gemini_default_model: str = "gemini-2.0-flash"
    # Attempts per provider call (the first and its retries on 429, 5xx, timeouts).
    max_attempts: int = Field(default=3, ge=1, le=5)
    backoff_base_seconds: float = Field(default=0.5, gt=0, le=10)
    # Tenants whose decrypted knowledge-base index one process keeps in memory (LRU).
    index_cache_tenants: int = Field(default=512, ge=1)
    # Knowledge-base passages given to a provider as context.
    context_passages: int = Field(default=4, ge=1, le=10)
    # "Try a question" calls per tenant per minute (each may call the tenant's paid provider).
    try_per_minute: int = Field(default=20, ge=1, le=1000)
