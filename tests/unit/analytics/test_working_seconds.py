"""Working seconds under a weekly schedule, holidays and a zone (DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from majlis.business_hours import BusinessHours, working_seconds, zone_or_none

DUBAI = ZoneInfo("Asia/Dubai")  # UTC+4, no DST
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = BusinessHours(
    weekly={day: [("09:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")}
)
HOUR = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_always_counts_every_second() -> None:
    assert working_seconds(utc(2026, 12, 1, 10), utc(2026, 12, 3, 10), BusinessHours.always(),
                           DUBAI) == 48 * HOUR  # fmt: skip


def test_inside_one_working_day() -> None:
    # Tue 2026-12-01 10:00 to 12:30 Dubai = 06:00 to 08:30 UTC: 2.5 h, all inside 09-18.
    assert (
        working_seconds(utc(2026, 12, 1, 6), utc(2026, 12, 1, 8, 30), OFFICE, DUBAI) == 2.5 * HOUR
    )


def test_evening_and_night_are_not_counted() -> None:
    # Tue 17:00 Dubai (13:00 UTC) to Wed 10:00 Dubai (06:00 UTC): 17-18 Tue (1 h) + 09-10 Wed
    # (1 h) = 2 h; the 15 h between are outside the hours.
    assert working_seconds(utc(2026, 12, 1, 13), utc(2026, 12, 2, 6), OFFICE, DUBAI) == 2 * HOUR


def test_weekend_is_not_counted() -> None:
    # Fri 2026-12-04 17:00 Dubai to Mon 2026-12-07 10:00 Dubai: Fri 1 h + Mon 1 h = 2 h.
    start, end = utc(2026, 12, 4, 13), utc(2026, 12, 7, 6)
    assert working_seconds(start, end, OFFICE, DUBAI) == 2 * HOUR


def test_holiday_is_not_counted() -> None:
    # Wed 2026-12-02 is a holiday: Tue 17:00 to Thu 10:00 Dubai = Tue 1 h + Thu 1 h = 2 h.
    hours = OFFICE.model_copy(update={"holidays": [date(2026, 12, 2)]})
    assert working_seconds(utc(2026, 12, 1, 13), utc(2026, 12, 3, 6), hours, DUBAI) == 2 * HOUR


def test_split_shifts_and_midnight_end() -> None:
    hours = BusinessHours(weekly={"mon": [("08:00", "12:00"), ("20:00", "24:00")]})
    # Mon 2026-11-30 all day in UTC: 4 h + 4 h.
    assert working_seconds(utc(2026, 11, 30), utc(2026, 12, 1), hours, ZoneInfo("UTC")) == 8 * HOUR


def test_spring_forward_day_is_shorter() -> None:
    # 2026-03-08 New York jumps 02:00 -> 03:00: the whole Sunday is 23 h of wall clock.
    hours = BusinessHours(weekly={"sun": [("00:00", "24:00")]})
    start, end = utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)  # local midnight to midnight (EST, EDT)
    assert working_seconds(start, end, hours, NEW_YORK) == 23 * HOUR
    # A range 01:00-04:00 that spans the gap is 2 real hours.
    night = BusinessHours(weekly={"sun": [("01:00", "04:00")]})
    assert working_seconds(start, end, night, NEW_YORK) == 2 * HOUR


def test_fall_back_day_is_longer() -> None:
    # 2026-11-01 New York repeats 01:00-02:00: the whole Sunday is 25 h.
    hours = BusinessHours(weekly={"sun": [("00:00", "24:00")]})
    start, end = utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)  # local midnight (EDT) to (EST)
    assert working_seconds(start, end, hours, NEW_YORK) == 25 * HOUR


def test_empty_or_reversed_interval_is_zero() -> None:
    assert working_seconds(utc(2026, 12, 1, 8), utc(2026, 12, 1, 8), OFFICE, DUBAI) == 0
    assert working_seconds(utc(2026, 12, 1, 9), utc(2026, 12, 1, 8), OFFICE, DUBAI) == 0


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        working_seconds(datetime(2026, 12, 1), utc(2026, 12, 2), OFFICE, DUBAI)


@pytest.mark.parametrize(
    "weekly",
    [
        {"monday": [("09:00", "18:00")]},
        {"mon": [("18:00", "09:00")]},
        {"mon": [("09:00", "09:00")]},
        {"mon": [("9:00", "18:00")]},
        {"mon": [("09:00", "24:30")]},
        {"mon": [("24:00", "24:00")]},
        {"mon": [("0\u0669:00", "18:00")]},  # an Arabic-Indic digit
        {"mon": [("09:00\n", "18:00")]},
        {"mon": [("09:00", "13:00"), ("12:00", "18:00")]},
    ],
)
def test_bad_schedules_are_refused(weekly: dict[str, list[tuple[str, str]]]) -> None:
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"weekly": weekly})


def test_stored_times_from_before_the_ascii_rule_are_read_as_meant() -> None:
    # Rows saved while other scripts' digits and a final newline were still taken.
    stored = {"mon": [["0\u0669:00", "1\u0668:00\n"]]}
    hours = BusinessHours.stored(stored, ["2026-12-02"])
    assert hours.weekly == {"mon": [("09:00", "18:00")]}
    assert hours.day_ranges(date(2026, 11, 30)) == [(540, 1080)]
    # What the rules refuse for other reasons stays refused when read.
    with pytest.raises(ValidationError):
        BusinessHours.stored({"mon": [["18:00", "09:00"]]}, [])


def test_repeated_holidays_and_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"holidays": ["2026-12-02", "2026-12-02"]})
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"weekly": {}, "extra": 1})


def test_zone_names() -> None:
    assert zone_or_none("Asia/Dubai") == DUBAI
    assert zone_or_none("Mars/Olympus") is None
    assert zone_or_none("../etc/passwd") is None
    assert zone_or_none("") is None
