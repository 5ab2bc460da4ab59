"""When a digest posts: a UTC time of day, optionally repeated every N hours, on chosen days of the week.

The schedule is kept as plain numbers and its posting times ("slots") are computed here, so the same code
answers "when is the next one" (for APScheduler and /digest list) and "which one was missed" (after a
restart). ``every_hours`` divides 24, so every day has the same times and the schedule is exactly a cron
expression (``cron_fields``); a test checks APScheduler's cron trigger agrees with ``next_slot``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import UserError
from bot.parsing import echo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = 0b1111111
WORKDAYS = 0b0011111
WEEKEND = 0b1100000
# 1970-01-01, day 0 of epoch time, was a Thursday (index 3 with Monday = 0).
_EPOCH_WEEKDAY = 3

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?:\s*utc)?$")
_EVERY = re.compile(
    r"^(?:every\s+)?(\d{1,2})\s*(?:h|hr|hrs|hour|hours)(?:\s+(?:from|at)\s+(\d{1,2}):(\d{2}))?$"
)
_DAY_NAMES = {name: index for index, name in enumerate(WEEKDAYS)} | {
    full: index
    for index, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}


def weekday_of(ms: int) -> int:
    """Return the UTC day of the week of a time (Monday = 0)."""
    return (ms // DAY_MS + _EPOCH_WEEKDAY) % 7


@dataclass(frozen=True, slots=True)
class Schedule:
    """Post at ``minute_of_day`` (UTC) and every ``every_hours`` after it, on the ``weekdays`` bitmask."""

    minute_of_day: int
    every_hours: int = 24
    weekdays: int = ALL_DAYS

    def __post_init__(self) -> None:
        if not 0 <= self.minute_of_day < 1440:
            raise ValueError(f"minute_of_day {self.minute_of_day} is not within a day")
        if self.every_hours not in EVERY_HOURS:
            raise ValueError(f"every_hours must be one of {EVERY_HOURS}")
        if not 0 < self.weekdays <= ALL_DAYS:
            raise ValueError("weekdays must name at least one day")

    @property
    def period_ms(self) -> int:
        """Return the time between two posts, which is also the span a digest covers."""
        return self.every_hours * HOUR_MS

    def minutes(self) -> list[int]:
        """Return the posting times of a day, in minutes after 00:00 UTC, in order."""
        step = self.every_hours * 60
        return sorted({(self.minute_of_day + k * step) % 1440 for k in range(24 // self.every_hours)})

    def posts_on(self, ms: int) -> bool:
        """Return whether the schedule posts on the UTC day containing ``ms``."""
        return bool(self.weekdays >> weekday_of(ms) & 1)

    def latest_slot(self, now: int) -> int | None:
        """Return the latest posting time at or before ``now`` (None only before 1970)."""
        day = now - now % DAY_MS
        for back in range(8):
            start = day - back * DAY_MS
            if not self.posts_on(start):
                continue
            for minute in reversed(self.minutes()):
                slot = start + minute * MINUTE_MS
                if slot <= now:
                    return slot
        return None

    def next_slot(self, now: int) -> int:
        """Return the first posting time strictly after ``now``."""
        day = now - now % DAY_MS
        for ahead in range(8):
            start = day + ahead * DAY_MS
            if not self.posts_on(start):
                continue
            for minute in self.minutes():
                slot = start + minute * MINUTE_MS
                if slot > now:
                    return slot
        raise AssertionError("a schedule with at least one day posts within 8 days")

    def cron_fields(self) -> dict[str, str]:
        """Return the APScheduler ``CronTrigger`` fields of this schedule (UTC)."""
        days = ",".join(name for index, name in enumerate(WEEKDAYS) if self.weekdays >> index & 1)
        hours = ",".join(str(minute // 60) for minute in self.minutes())
        return {"day_of_week": days, "hour": hours, "minute": str(self.minute_of_day % 60), "second": "0"}

    def describe(self) -> str:
        """Return the schedule in words: ``daily at 08:00 UTC``, ``every 6h from 02:30 UTC, Mon–Fri``."""
        clock = f"{self.minute_of_day // 60:02d}:{self.minute_of_day % 60:02d} UTC"
        when = f"daily at {clock}" if self.every_hours == 24 else f"every {self.every_hours}h from {clock}"
        return f"{when}, {describe_days(self.weekdays)}" if self.weekdays != ALL_DAYS else when


def describe_days(mask: int) -> str:
    """Return a weekday mask in words: ``Mon–Fri``, ``Sat, Sun``, ``Mon, Wed, Fri``."""
    if mask == WORKDAYS:
        return "Mon–Fri"
    if mask == WEEKEND:
        return "Sat, Sun"
    return ", ".join(name.title() for index, name in enumerate(WEEKDAYS) if mask >> index & 1)


def parse_time(text: str) -> tuple[int, int]:
    """Parse ``08:00`` (daily, UTC) or ``every 6h`` / ``6h from 02:30`` into (minute_of_day, every_hours)."""
    raw = " ".join(text.strip().lower().split())
    clock = _CLOCK.match(raw)
    if clock:
        return _minute(int(clock.group(1)), int(clock.group(2)), text), 24
    every = _EVERY.match(raw)
    if every:
        hours = int(every.group(1))
        if hours not in EVERY_HOURS:
            choices = ", ".join(f"{h}h" for h in EVERY_HOURS)
            raise UserError(f"Every {hours}h does not divide a day; pick one of {choices}.")
        minute = _minute(int(every.group(2)), int(every.group(3)), text) if every.group(2) else 0
        return minute, hours
    raise UserError(
        f"I could not read {echo(text)} as a time: use a UTC time such as `08:00`, or `every 6h` "
        "(optionally `every 6h from 02:30`)."
    )


def _minute(hour: int, minute: int, text: str) -> int:
    if hour > 23 or minute > 59:
        raise UserError(f"{echo(text)} is not a time of day (00:00 to 23:59, UTC).")
    return hour * 60 + minute


def parse_days(text: str | None) -> int:
    """Parse ``daily``, ``weekdays``, ``weekends``, ``mon,wed,fri`` or ``mon-fri`` into a weekday mask."""
    raw = " ".join((text or "").strip().lower().split())
    if raw in ("", "daily", "every day", "everyday", "all", "any"):
        return ALL_DAYS
    if raw in ("weekdays", "workdays", "business days"):
        return WORKDAYS
    if raw in ("weekend", "weekends"):
        return WEEKEND
    mask = 0
    for part in re.split(r"[,\s]+", raw):
        first, dash, last = part.partition("-")
        if first not in _DAY_NAMES or (dash and last not in _DAY_NAMES):
            raise UserError(
                f"I could not read {echo(text)} as days: use `daily`, `weekdays`, `weekends`, a list such as "
                "`mon,wed,fri` or a range such as `mon-fri`."
            )
        start = _DAY_NAMES[first]
        end = _DAY_NAMES[last] if dash else start
        for offset in range((end - start) % 7 + 1):
            mask |= 1 << ((start + offset) % 7)
    return mask
