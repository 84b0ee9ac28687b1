"""The retry schedule of deliveries and which outcomes are retried.

Delays after attempt 1, 2, ...: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h (then 14 h again),
each with full jitter (uniform between 0 and the step). A message is given up only once it
has had every step AND its first attempt is at least 24 h old (so at least 8 attempts over
at least a day), or after MAX_ATTEMPTS. Every delay, the window and Retry-After are multiplied
by MAJLIS_WEBHOOK_RETRY_SCALE (1 in production; tests make it tiny).

2xx is success. 408, 429, 5xx, timeouts and connection errors are retried (a Retry-After of
429/503 is honoured up to MAJLIS_WEBHOOK_RETRY_AFTER_CAP_SECONDS); any other status (other
4xx, a 3xx since redirects are never followed, 1xx) and an SSRF refusal are final.
"""

from __future__ import annotations

import random
from collections.abc import Callable

SCHEDULE_S: tuple[float, ...] = (5, 300, 1800, 7200, 18_000, 36_000, 50_400)
RETRY_WINDOW_S = 86_400.0
MAX_ATTEMPTS = 15
_RETRIED_4XX = frozenset({408, 429})


def is_success(status: int) -> bool:
    """2xx."""
    return 200 <= status < 300


def is_retryable(status: int) -> bool:
    """408, 429 and 5xx are worth another attempt; other failures are final."""
    return status in _RETRIED_4XX or 500 <= status < 600


def retry_after_s(value: str | None, cap_s: float) -> float | None:
    """Retry-After in seconds (delta form only), capped; None when absent or unreadable."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), cap_s)


def next_delay_s(
    attempts: int,
    elapsed_s: float,
    *,
    scale: float = 1.0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds until the next attempt after `attempts` attempts, `elapsed_s` after the first;
    None when the message is given up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    if attempts > len(SCHEDULE_S) and elapsed_s >= RETRY_WINDOW_S * scale:
        return None
    step = SCHEDULE_S[min(attempts, len(SCHEDULE_S)) - 1] * scale
    delay = rng() * step  # full jitter
    if retry_after is not None:
        delay = max(delay, retry_after * scale)
    return delay
