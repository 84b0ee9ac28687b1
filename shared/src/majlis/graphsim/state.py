"""What the simulator remembers: numbers, customer-service windows, rate limits, accepted sends."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from majlis.graphsim.config import KnownNumber, SimulatorConfig

Clock = Callable[[], float]


@dataclass
class Number:
    """A business phone number as the simulator knows it."""

    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    token: str | None = field(default=None, repr=False)
    quality_rating: str = "GREEN"
    # A lax-mode number made up on first use belongs to no WABA yet: the first WABA whose
    # numbers are listed takes it (so a client's ownership check agrees with what it was
    # told). Registered numbers are bound from the start.
    bound: bool = True

    def metadata(self) -> dict[str, str]:
        """The ``value.metadata`` of webhooks about this number."""
        return {
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        }


@dataclass
class SentMessage:
    """One accepted send (what ``GET /_sim/sent`` shows; never the token)."""

    wamid: str
    phone_number_id: str
    waba_id: str
    to: str
    wa_id: str
    type: str
    accepted_at: float
    api_version: str
    payload: dict[str, Any]
    statuses: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """A JSON view for debugging and tests."""
        return {
            "id": self.wamid,
            "phone_number_id": self.phone_number_id,
            "waba_id": self.waba_id,
            "to": self.to,
            "wa_id": self.wa_id,
            "type": self.type,
            "timestamp": int(self.accepted_at),
            "accepted_at": self.accepted_at,  # to the microsecond, for latency benchmarks
            "statuses": list(self.statuses),
            "payload": self.payload,
        }


class SimState:
    """In-memory state of one simulator; all methods are synchronous and loop-confined."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.numbers: dict[str, Number] = {}
        self.sent: dict[str, SentMessage] = {}
        self._windows: dict[tuple[str, str], float] = {}
        self._throughput: dict[str, deque[float]] = {}
        self._pair_tat: dict[tuple[str, str], float] = {}
        # Injected failures per number: (code, HTTP status) answered to the next sends.
        self._faults: dict[str, deque[tuple[int, int]]] = {}
        for known in config.known_numbers:
            self.register(known)

    def register(self, known: KnownNumber) -> Number:
        """Add or replace a registered number."""
        number = Number(
            known.phone_number_id,
            known.waba_id,
            known.display_phone_number or derived_display_number(known.phone_number_id),
            known.verified_name,
            token=known.token,
        )
        self.numbers[number.phone_number_id] = number
        return number

    def number(self, phone_number_id: str) -> Number | None:
        """A registered number; in default (lax) mode any id becomes one on first use."""
        found = self.numbers.get(phone_number_id)
        if found is None and not self.config.strict:
            found = Number(
                phone_number_id,
                self.config.default_waba_id,
                derived_display_number(phone_number_id),
                "Majlis Simulator",
                bound=False,
            )
            self.numbers[phone_number_id] = found
        return found

    def is_token_known(self, token: str) -> bool:
        """Whether a token is valid for anything at all (else Meta answers 190)."""
        if not self.config.strict:
            return token.startswith("EAA") and len(token) > 3
        return any(n.token == token for n in self.numbers.values())

    def may_use_number(self, number: Number, token: str) -> bool:
        """Whether this token may act for this number."""
        return not self.config.strict or secrets.compare_digest(number.token or "", token)

    def may_use_waba(self, waba_id: str, token: str) -> bool:
        """Whether this token may manage this WABA (templates)."""
        if not self.config.strict:
            return True
        return any(
            n.waba_id == waba_id and secrets.compare_digest(n.token or "", token)
            for n in self.numbers.values()
        )

    def numbers_of_waba(self, waba_id: str) -> list[Number]:
        """The WABA's numbers (``GET /{waba_id}/phone_numbers``), oldest first; in lax mode
        the unbound made-up numbers join the WABA asked about."""
        found = []
        for number in self.numbers.values():
            if not number.bound and not self.config.strict:
                number.waba_id, number.bound = waba_id, True
            if number.waba_id == waba_id:
                found.append(number)
        return found

    def open_window(self, phone_number_id: str, wa_id: str) -> None:
        """A customer wrote: the 24-hour customer-service window (re)starts."""
        self._windows[(phone_number_id, wa_id)] = self.clock()

    def is_window_open(self, phone_number_id: str, wa_id: str) -> bool:
        """Whether free-form messages may go to this customer now."""
        opened = self._windows.get((phone_number_id, wa_id))
        return opened is not None and self.clock() - opened < self.config.window_seconds

    def take_throughput(self, phone_number_id: str) -> bool:
        """Count one message against the number's messages-per-second limit; False if over."""
        now = self.clock()
        recent = self._throughput.setdefault(phone_number_id, deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= self.config.throughput_mps:
            return False
        recent.append(now)
        return True

    def add_faults(self, phone_number_id: str, code: int, status: int, count: int) -> None:
        """Make the next `count` sends from this number fail with Meta's `code`."""
        self._faults.setdefault(phone_number_id, deque()).extend([(code, status)] * count)

    def take_fault(self, phone_number_id: str) -> tuple[int, int] | None:
        """The next injected failure for a send from this number, if any."""
        queued = self._faults.get(phone_number_id)
        return queued.popleft() if queued else None

    def take_pair(self, phone_number_id: str, wa_id: str) -> bool:
        """Pair rate limit as a GCRA: one per interval, with bursts borrowed against the future."""
        now = self.clock()
        interval = self.config.pair_interval_s
        key = (phone_number_id, wa_id)
        tat = max(self._pair_tat.get(key, now), now)
        if tat - now > interval * (self.config.pair_burst - 1):
            return False
        self._pair_tat[key] = tat + interval
        return True


def derived_display_number(phone_number_id: str) -> str:
    """A stable UAE-looking display number for an unregistered phone number id."""
    digest = hashlib.sha256(phone_number_id.encode()).hexdigest()
    return "9715" + str(int(digest[:12], 16))[-8:].rjust(8, "0")


def new_wamid(wa_id: str) -> str:
    """A unique message id shaped like Meta's (``wamid.`` + base64)."""
    raw = b"\x1c\x18\x0c" + wa_id.encode() + b"\x15\x02\x00\x11\x18\x12"
    raw += secrets.token_hex(10).upper().encode() + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def digits(phone: str) -> str:
    """The wa_id of a phone number: its digits only."""
    return "".join(ch for ch in phone if ch.isdigit())
