"""What the ingest's views need, built once by create_app and kept under one typed key."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from majlis.events import utc_now
from webhook_ingest.metrics import IngestMetrics
from webhook_ingest.routing import TenantRouter
from webhook_ingest.signatures import AppSecrets


@dataclass(frozen=True, slots=True)
class IngestDeps:
    """Secrets, the tenant router, counters, the body limit and the clock."""

    secrets: AppSecrets
    verify_token: str = field(repr=False)
    router: TenantRouter
    metrics: IngestMetrics
    max_body_bytes: int
    clock: Callable[[], datetime] = utc_now

    def is_verify_token(self, candidate: str) -> bool:
        """Constant-time comparison with the configured verify token (never matches if unset)."""
        if not self.verify_token:
            return False
        return hmac.compare_digest(candidate.encode(), self.verify_token.encode())


INGEST: web.AppKey[IngestDeps] = web.AppKey("webhook_ingest", IngestDeps)
