"""Graph API errors: Meta's error envelope as an exception, classified by code (reference §4.1)."""

from __future__ import annotations

from typing import Any

# Transient or rate-limit codes: retry with backoff (throughput, pair rate, app/WABA rate
# limits, "temporarily unavailable", unknown error, maintenance mode).
RETRYABLE_CODES = frozenset(
    {1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056, 131057, 133004}
)
# The token is expired, revoked, invalid, or lacks a permission: the tenant must reconnect.
AUTH_CODES = frozenset({0, 102, 190, 2500, 10, *range(200, 300)})


class GraphApiError(Exception):
    """An error answer of the Graph API (or our failure to get any answer)."""

    def __init__(
        self,
        status: int,
        code: int,
        *,
        subcode: int | None = None,
        title: str = "",
        message: str = "",
        details: str | None = None,
        error_type: str | None = None,
        fbtrace_id: str | None = None,
        is_transient: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.subcode = subcode
        self.title = title
        self.message = message
        self.details = details
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        self.is_transient = is_transient
        super().__init__(f"Graph API error {code} (HTTP {status}): {message or title}")

    @property
    def is_retryable(self) -> bool:
        """Worth retrying later with backoff (rate limits, transient failures, 5xx)."""
        return self.is_transient or self.code in RETRYABLE_CODES or self.status >= 500

    @property
    def is_auth_error(self) -> bool:
        """The access token is unusable for this call: expired, invalid or missing a permission."""
        return self.code in AUTH_CODES or self.status == 401

    @classmethod
    def from_response(cls, status: int, body: Any) -> GraphApiError:
        """Parse Meta's ``{"error": {...}}`` envelope; tolerate anything else."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(status, 0, title="Unexpected response", message=f"HTTP {status}")
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        return cls(
            status,
            _int(error.get("code")) or 0,
            subcode=_int(error.get("error_subcode")),
            title=_str(error.get("title")) or _str(error.get("error_user_title")) or "",
            message=_str(error.get("message")) or "",
            details=_str(details),
            error_type=_str(error.get("type")),
            fbtrace_id=_str(error.get("fbtrace_id")),
            is_transient=error.get("is_transient") is True,
        )


class GraphUnavailable(GraphApiError):
    """No usable answer: a timeout, a refused or dropped connection. Always retryable."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, -1, title="Graph API unavailable", message=reason, is_transient=True)


class MediaTooLarge(GraphApiError):
    """A media download was bigger than the caller allows (code 131052, as for inbound media)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            200,
            131052,
            title="Media download error",
            message=f"media is larger than {max_bytes} bytes",
        )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
