"""A conversation's cycles from its facts: bot time, business hours, reopening."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from broadcast.analytics.cycles import Fact, compute_cycles, human_intervals
from majlis.business_hours import BusinessHours

UTC_ZONE = ZoneInfo("UTC")
ALWAYS = BusinessHours.always()
AGENT, OTHER, NUMBER = uuid4(), uuid4(), uuid4()


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def state(when: datetime, status: str, controller: str, assignee: object = None) -> Fact:
    return Fact(when, "state", NUMBER, status, controller, assignee)  # type: ignore[arg-type]


def reply(when: datetime, user: object = AGENT) -> Fact:
    return Fact(when, "reply", NUMBER, user_id=user)  # type: ignore[arg-type]


def bot(when: datetime) -> Fact:
    return Fact(when, "bot", NUMBER)


def test_human_intervals() -> None:
    timeline = [(at(9), "bot"), (at(10), "human"), (at(11), "bot"), (at(12), "human")]
    assert human_intervals(timeline, at(9), at(13)) == [(at(10), at(11)), (at(12), at(13))]
    assert human_intervals(timeline, at(9), at(10, 30)) == [(at(10), at(10, 30))]


def test_bot_time_is_left_out() -> None:
    # Created 09:00 (bot, which answers at 09:01), handed off 09:40, agent replies 09:50,
    # resolved 10:40. First response: 09:40 -> 09:50 = 600 s. Resolution: 09:40 -> 10:40 = 3600 s.
    facts = [
        state(at(9), "open", "bot"),
        bot(at(9, 1)),
        state(at(9, 40), "open", "human", AGENT),
        reply(at(9, 50)),
        state(at(10, 40), "resolved", "human", AGENT),
    ]
    [cycle] = compute_cycles(facts, ALWAYS, UTC_ZONE)
    assert (cycle.first_response_s, cycle.resolution_s) == (600, 3600)
    assert (cycle.first_responder_id, cycle.resolver_id) == (AGENT, AGENT)


def test_reopen_starts_a_new_cycle_measured_from_the_reopen() -> None:
    # Cycle 1: 09:00 human, reply 09:05 (300 s), resolved 09:30 (1800 s).
    # Reopened 13:00 (still human), reply by OTHER 13:20 (1200 s), resolved 14:00 (3600 s).
    facts = [
        state(at(9), "open", "human", AGENT),
        reply(at(9, 5)),
        state(at(9, 30), "resolved", "human", AGENT),
        state(at(13), "open", "human", AGENT),
        reply(at(13, 20), OTHER),
        reply(at(13, 30)),
        state(at(14), "resolved", "human", OTHER),
    ]
    first, second = compute_cycles(facts, ALWAYS, UTC_ZONE)
    assert (first.cycle, first.first_response_s, first.resolution_s) == (1, 300, 1800)
    assert (second.cycle, second.opened_at) == (2, at(13))
    assert (second.first_response_s, second.resolution_s) == (1200, 3600)
    assert (second.first_responder_id, second.resolver_id) == (OTHER, OTHER)


def test_waking_from_pending_is_not_a_new_cycle_and_order_does_not_matter() -> None:
    facts = [
        state(at(9), "open", "human", AGENT),
        state(at(9, 10), "pending", "human", AGENT),
        state(at(9, 20), "open", "human", AGENT),
        reply(at(9, 30)),
    ]
    cycles = compute_cycles(list(reversed(facts)), ALWAYS, UTC_ZONE)
    assert len(cycles) == 1
    assert cycles[0].first_response_s == 1800
    assert cycles[0].resolved_at is None


def test_out_of_hours_time_is_left_out() -> None:
    # Hours 09:00-18:00 UTC every day. Opened Tue 17:30 (human), reply Wed 09:15:
    # 17:30-18:00 (1800 s) + 09:00-09:15 (900 s) = 2700 s.
    hours = BusinessHours(weekly={d: [("09:00", "18:00")] for d in ("tue", "wed")})
    facts = [state(at(17, 30), "open", "human", AGENT), reply(at(9, 15, day=2))]
    [cycle] = compute_cycles(facts, hours, UTC_ZONE)
    assert cycle.first_response_s == 2700


def test_a_cycle_only_the_bot_owned_has_no_resolution_time() -> None:
    # The bot owns it from 09:00 and answers; someone resolves it at 09:30 without taking over.
    facts = [
        state(at(9), "open", "bot"),
        bot(at(9, 2)),
        state(at(9, 30), "resolved", "bot", None),
    ]
    [cycle] = compute_cycles(facts, ALWAYS, UTC_ZONE)
    assert cycle.resolved_at == at(9, 30)
    assert cycle.resolution_s is None


def test_without_a_bot_speaking_the_customer_waits_for_a_person() -> None:
    # No flow runs: the conversation is nominally the bot's until an agent takes it at 09:40.
    # The customer waited from 09:00: first response 09:00 -> 09:50 = 3000 s, resolution
    # 09:00 -> 10:40 = 6000 s.
    facts = [
        state(at(9), "open", "bot"),
        state(at(9, 40), "open", "human", AGENT),
        reply(at(9, 50)),
        state(at(10, 40), "resolved", "human", AGENT),
    ]
    [cycle] = compute_cycles(facts, ALWAYS, UTC_ZONE)
    assert (cycle.first_response_s, cycle.resolution_s) == (3000, 6000)


def test_the_bot_speaking_in_an_earlier_cycle_does_not_excuse_a_later_one() -> None:
    # Cycle 1: the bot answers, an agent takes over at 09:10 and resolves at 09:20 (600 s).
    # Reopened 12:00, nominally the bot's again, but the bot stays silent; an agent takes it
    # at 12:30 and replies 12:40: 2400 s from the reopen.
    facts = [
        state(at(9), "open", "bot"),
        bot(at(9, 1)),
        state(at(9, 10), "open", "human", AGENT),
        state(at(9, 20), "resolved", "human", AGENT),
        state(at(12), "open", "bot"),
        state(at(12, 30), "open", "human", AGENT),
        reply(at(12, 40)),
    ]
    first, second = compute_cycles(facts, ALWAYS, UTC_ZONE)
    assert first.resolution_s == 600
    assert second.first_response_s == 2400
