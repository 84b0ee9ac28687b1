"""A conversation's cycles, recomputed from its stored facts (pure: no I/O).

A cycle starts when the conversation is created or reopened (a state fact that is not
'resolved' after one that was) and ends when it is resolved. Its first response is the first
reply of a person (user or API key) inside it; both times count only working seconds (the
tenant's business hours) during which a human, not the bot, owned the conversation. The owner's
answer from the WhatsApp Business app (an echo) is a person's reply without a user. The inbox
gives a new conversation to the bot by default, also where no flow runs: a stretch of nominal
bot ownership counts as the bot's only once the bot has spoken in the cycle (a 'bot' fact);
before that the customer was waiting for a person. A cycle no person ever owned, in which the
bot spoke, has no resolution time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from majlis.business_hours import BusinessHours, working_seconds_within


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing learnt about a conversation from one event."""

    at: datetime
    kind: str  # 'state', 'reply' (a person's) or 'bot' (the bot's message)
    number_id: UUID | None = None
    status: str | None = None
    controller: str | None = None
    assigned_user_id: UUID | None = None
    user_id: UUID | None = None  # the replier, or the person who made the state change


@dataclass(slots=True)
class Cycle:
    """A conversation from its (re)opening to its resolution, with its measured times."""

    cycle: int
    number_id: UUID | None
    opened_at: datetime
    first_response_at: datetime | None = None
    first_response_s: float | None = None
    first_responder_id: UUID | None = None
    resolved_at: datetime | None = None
    resolution_s: float | None = None
    resolver_id: UUID | None = None


def human_intervals(
    timeline: list[tuple[datetime, str]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) in which the controller was 'human'.

    `timeline` lists (instant, controller) changes in order; before the first one the bot owns
    the conversation (the inbox's default).
    """
    intervals: list[tuple[datetime, datetime]] = []
    owner, since = "bot", start
    for at, controller in timeline:
        if at >= end:
            break
        if at > since:
            if owner == "human":
                intervals.append((since, at))
            since = at
        owner = controller
    if owner == "human" and end > since:
        intervals.append((since, end))
    return intervals


def compute_cycles(facts: list[Fact], hours: BusinessHours, zone: ZoneInfo) -> list[Cycle]:
    """Every cycle of a conversation from its facts (sorted by time here)."""
    ordered = sorted(facts, key=lambda f: (f.at, 0 if f.kind == "state" else 1))
    timeline: list[tuple[datetime, str]] = []
    cycles: list[Cycle] = []
    current: Cycle | None = None
    status: str | None = None
    number_id: UUID | None = None
    assignee: UUID | None = None

    bot_spoke = False  # in the current cycle, so far

    def owned(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        if not bot_spoke:
            return [(start, end)] if end > start else []
        return human_intervals(timeline, start, end)

    def measured(start: datetime, end: datetime) -> float:
        return working_seconds_within(owned(start, end), hours, zone)

    for fact in ordered:
        number_id = fact.number_id or number_id
        if fact.kind == "bot":
            bot_spoke = bot_spoke or current is not None
            continue
        if fact.kind == "reply":
            if current is not None and current.first_response_at is None:
                current.first_response_at = fact.at
                current.first_responder_id = fact.user_id
                current.first_response_s = measured(current.opened_at, fact.at)
            continue
        if fact.controller is not None:
            timeline.append((fact.at, fact.controller))
        assignee = fact.assigned_user_id
        if fact.status is None:
            continue
        if fact.status != "resolved" and current is None and status in (None, "resolved"):
            current = Cycle(len(cycles) + 1, number_id, fact.at)
            cycles.append(current)
            bot_spoke = False
        elif fact.status == "resolved" and current is not None:
            current.resolved_at = fact.at
            current.resolver_id = assignee or fact.user_id
            spans = owned(current.opened_at, fact.at)
            # A cycle no person ever owned (the bot's alone) has no resolution time: a zero
            # would flatter the team's median.
            if spans:
                current.resolution_s = working_seconds_within(spans, hours, zone)
            current = None
        status = fact.status
    return cycles
