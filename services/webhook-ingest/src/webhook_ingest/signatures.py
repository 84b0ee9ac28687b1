"""Which app secret signs a webhook, and the constant-time check of `X-Hub-Signature-256`."""

from __future__ import annotations

import re
from enum import StrEnum

from majlis.meta import SIGNATURE_HEADER, verify_webhook_signature
from majlis.settings import Settings

__all__ = ["SIGNATURE_HEADER", "AppSecrets", "SignatureProblem", "signature_problem"]

_APP_ID = re.compile(r"^[0-9]{1,32}$")
_SIGNATURE = re.compile(r"^sha256=[0-9a-fA-F]{64}$")


class SignatureProblem(StrEnum):
    """Why a signature was refused; used as a metrics label and in the log line."""

    MISSING = "signature_missing"
    MALFORMED = "signature_malformed"
    MISMATCH = "signature_mismatch"


def signature_problem(body: bytes, header: str | None, app_secret: str) -> SignatureProblem | None:
    """None if `header` is the HMAC-SHA256 of the raw `body` under `app_secret`."""
    if not header:
        return SignatureProblem.MISSING
    if not _SIGNATURE.fullmatch(header):
        return SignatureProblem.MALFORMED
    # Constant time, over the raw bytes as received (never re-serialised JSON); an empty
    # secret never verifies, since anyone could compute that HMAC.
    if not verify_webhook_signature(body, header, app_secret):
        return SignatureProblem.MISMATCH
    return None


class AppSecrets:
    """The platform app's secret and those of tenants' own Meta apps, by app id."""

    __slots__ = ("_by_app", "_default")

    def __init__(self, default: str, by_app: dict[str, str]) -> None:
        """Hold the secrets; prefer from_settings."""
        self._default = default
        self._by_app = dict(by_app)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppSecrets:
        """Parse `meta_app_secret` and `meta_app_secrets` ("app_id:secret,...")."""
        by_app: dict[str, str] = {}
        spec = settings.meta_app_secrets.get_secret_value()
        for position, item in enumerate(filter(None, (p.strip() for p in spec.split(","))), 1):
            app_id, sep, secret = item.partition(":")
            # Errors name the position only: the entry is mostly secret.
            if not sep or not _APP_ID.fullmatch(app_id.strip()) or not secret.strip():
                raise ValueError(f"meta_app_secrets entry #{position} is not app_id:secret")
            if app_id.strip() in by_app:
                raise ValueError(f"meta_app_secrets entry #{position} repeats an app id")
            by_app[app_id.strip()] = secret.strip()
        return cls(settings.meta_app_secret.get_secret_value(), by_app)

    @property
    def has_default(self) -> bool:
        """True if the platform's own app secret is configured."""
        return bool(self._default)

    def default(self) -> str:
        """The platform app's secret ("" when not configured: every POST is then refused)."""
        return self._default

    def for_app(self, app_id: str) -> str | None:
        """The secret of one tenant app, chosen by the path; never a search over all secrets."""
        return self._by_app.get(app_id)

    def __repr__(self) -> str:
        return f"AppSecrets(apps={sorted(self._by_app)!r})"

    __str__ = __repr__
