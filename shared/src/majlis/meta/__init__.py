"""Meta's Graph API: the client every send goes through, its errors, and webhook signatures."""

from majlis.meta.client import GraphClient, MediaInfo
from majlis.meta.errors import GraphApiError, GraphUnavailable, MediaTooLarge
from majlis.meta.signatures import SIGNATURE_HEADER, sign_webhook, verify_webhook_signature

__all__ = [
    "SIGNATURE_HEADER",
    "GraphApiError",
    "GraphClient",
    "GraphUnavailable",
    "MediaInfo",
    "MediaTooLarge",
    "sign_webhook",
    "verify_webhook_signature",
]
