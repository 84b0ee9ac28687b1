"""Business hours: a tenant's weekly schedule and holidays, and the working time between two
instants under it (pure: no I/O, no clock).

A schedule is given in wall-clock time of an IANA zone: ``weekly`` maps ``mon``..``sun`` to a
list of ``["HH:MM", "HH:MM"]`` ranges (end after start; ``"24:00"`` ends a day), ``holidays``
lists dates (``YYYY-MM-DD``) with no working time at all. A day not named in ``weekly`` has
no hours. ``BusinessHours.always()`` is 24/7, the default when a tenant set nothing.

Working seconds are counted by walking local calendar days and turning each day's ranges into
UTC instants with the zone's rules, so a DST day is 23 or 25 hours long as it should be (a
range that starts in a skipped hour begins when the clock jumps; a repeated hour counts twice).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# ASCII digits and nothing after them: \d would take other scripts' digits and $ a final "\n".
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")
MAX_RANGES_PER_DAY = 8
MAX_HOLIDAYS = 366
Weekly = dict[str, list[tuple[str, str]]]


def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone of this name, or None if zoneinfo does not know it."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _ascii_time(value: str) -> str:
    """`value` with any script's decimal digits as ASCII and surrounding blanks removed."""
    return "".join(str(unicodedata.decimal(c, c)) for c in value.strip())


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class BusinessHours(BaseModel):
    """A weekly schedule (local wall-clock ranges per weekday) plus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekly: Weekly = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list, max_length=MAX_HOLIDAYS)

    @field_validator("weekly")
    @classmethod
    def _check_weekly(cls, value: Weekly) -> Weekly:
        for day, ranges in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}: use one of {', '.join(DAYS)}")
            if len(ranges) > MAX_RANGES_PER_DAY:
                raise ValueError(f"at most {MAX_RANGES_PER_DAY} ranges per day")
            previous_end = -1
            for start, end in sorted(ranges, key=lambda r: r[0]):
                if not _HHMM.fullmatch(start) or not _HHMM.fullmatch(end) or start == "24:00":
                    raise ValueError("times are HH:MM (00:00 to 24:00)")
                if _minutes(end) <= _minutes(start):
                    raise ValueError("a range ends after it starts")
                if _minutes(start) < previous_end:
                    raise ValueError("ranges of a day must not overlap")
                previous_end = _minutes(end)
        return value

    @model_validator(mode="after")
    def _unique_holidays(self) -> BusinessHours:
        if len(set(self.holidays)) != len(self.holidays):
            raise ValueError("holidays must not repeat")
        return self

    @classmethod
    def stored(cls, weekly: object, holidays: object) -> BusinessHours:
        """A schedule as stored. Rows written before the ASCII-only rule may hold a time in
        another script's digits or with a final newline; they are read as the time they meant
        (never refused: that would turn the settings page and analytics into errors)."""
        if isinstance(weekly, dict):
            weekly = {
                day: [[_ascii_time(t) if isinstance(t, str) else t for t in r] for r in ranges]
                if isinstance(ranges, list)
                else ranges
                for day, ranges in weekly.items()
            }
        return cls.model_validate({"weekly": weekly, "holidays": holidays})

    @classmethod
    def always(cls) -> BusinessHours:
        """24/7: every minute of every day is working time."""
        return cls(weekly={day: [("00:00", "24:00")] for day in DAYS})

    def day_ranges(self, day: date) -> list[tuple[int, int]]:
        """The working ranges of a local date, in minutes after midnight."""
        if day in self.holidays:
            return []
        ranges = self.weekly.get(DAYS[day.weekday()], [])
        return sorted((_minutes(start), _minutes(end)) for start, end in ranges)


def _local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock minute (24:00 = the next day's midnight)."""
    # Build the wall time first, then attach the zone: a wall time in a DST gap (fold=0)
    # then resolves to the instant after the jump.
    wall = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    moment = wall.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def working_seconds(start: datetime, end: datetime, hours: BusinessHours, zone: ZoneInfo) -> float:
    """Seconds of working time in [start, end) under `hours` in `zone` (0 if end <= start)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(zone).date()  # ranges end by 24:00: none spills into the next day
    last = end.astimezone(zone).date()
    while day <= last:
        for begin_min, end_min in hours.day_ranges(day):
            lo = max(start, _local_instant(day, begin_min, zone))
            hi = min(end, _local_instant(day, end_min, zone))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


def working_seconds_within(
    intervals: list[tuple[datetime, datetime]], hours: BusinessHours, zone: ZoneInfo
) -> float:
    """Working seconds summed over disjoint intervals."""
    return sum(working_seconds(lo, hi, hours, zone) for lo, hi in intervals)
