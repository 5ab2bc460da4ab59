"""Digest schedules: parsing what admins type, the slots they give, and agreement with APScheduler's cron."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given
from hypothesis import strategies as st

from bot.digests.content import DEFAULT_SECTIONS, SECTIONS, parse_contents
from bot.digests.schedule import (
    ALL_DAYS,
    EVERY_HOURS,
    WEEKEND,
    WORKDAYS,
    Schedule,
    parse_days,
    parse_time,
    weekday_of,
)
from bot.errors import UserError
from feeds.replay import parse_time as at

MINUTE = 60_000
HOUR = 3_600_000


def test_times_days_and_contents_people_type() -> None:
    assert parse_time("08:00") == (480, 24)
    assert parse_time(" 8:05 UTC ") == (485, 24)
    assert parse_time("every 6h") == (0, 6)
    assert parse_time("4 hours from 02:30") == (150, 4)
    assert parse_days(None) == parse_days("daily") == ALL_DAYS
    assert parse_days("weekdays") == parse_days("mon-fri") == WORKDAYS
    assert parse_days("Sat, sun") == parse_days("weekends") == WEEKEND
    assert parse_days("fri-mon") == 0b1110001  # a range may wrap over the week's end
    assert parse_contents(None) == DEFAULT_SECTIONS and "chart" not in DEFAULT_SECTIONS
    assert parse_contents("chart, Prices f&g") == ("prices", "fng", "chart")
    assert parse_contents("all") == SECTIONS
    for bad, message in [
        ("25:00", "is not a time of day"),
        ("every 5h", "Every 5h does not divide a day"),
        ("noon", "I could not read `noon` as a time"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_time(bad)
    with pytest.raises(UserError, match="as days"):
        parse_days("someday")
    with pytest.raises(UserError, match="`weather` is not a digest section"):
        parse_contents("prices, weather")


def test_slots_of_a_daily_and_an_every_six_hours_schedule() -> None:
    daily = Schedule(8 * 60)
    now = at("2026-01-14T12:34Z")
    assert daily.latest_slot(now) == at("2026-01-14T08:00Z")
    assert daily.next_slot(now) == at("2026-01-15T08:00Z")
    assert daily.latest_slot(at("2026-01-14T08:00Z")) == at("2026-01-14T08:00Z")  # a slot is its own latest
    every6 = Schedule(2 * 60 + 30, 6)
    assert every6.minutes() == [150, 510, 870, 1230]
    assert every6.latest_slot(now) == at("2026-01-14T08:30Z") and every6.next_slot(now) == at(
        "2026-01-14T14:30Z"
    )
    assert every6.period_ms == 6 * HOUR
    # 2026-01-17 is a Saturday: a Mon-Fri digest skips the weekend.
    workdays = Schedule(0, 24, WORKDAYS)
    assert weekday_of(at("2026-01-17T10:00Z")) == 5
    assert workdays.next_slot(at("2026-01-16T01:00Z")) == at("2026-01-19T00:00Z")
    assert workdays.latest_slot(at("2026-01-18T23:00Z")) == at("2026-01-16T00:00Z")
    assert daily.describe() == "daily at 08:00 UTC"
    assert Schedule(150, 6, WORKDAYS).describe() == "every 6h from 02:30 UTC, Mon–Fri"


@given(
    minute=st.integers(0, 1439),
    every=st.sampled_from(EVERY_HOURS),
    weekdays=st.integers(1, ALL_DAYS),
    now=st.integers(at("2025-01-01T00:00Z"), at("2027-01-01T00:00Z")),
)
def test_apschedulers_cron_fires_at_the_schedules_next_slot(
    minute: int, every: int, weekdays: int, now: int
) -> None:
    schedule = Schedule(minute, every, weekdays)
    trigger = CronTrigger(timezone=UTC, **schedule.cron_fields())
    moment = datetime.fromtimestamp(now / 1000, tz=UTC)
    fired = trigger.get_next_fire_time(None, moment)
    assert fired is not None
    expected = schedule.next_slot(now)
    # APScheduler's next fire time is at or after `now`; a slot exactly at `now` is the latest, not next.
    if now % MINUTE == 0 and schedule.latest_slot(now) == now:
        assert int(fired.timestamp() * 1000) == now
    else:
        assert int(fired.timestamp() * 1000) == expected
    latest = schedule.latest_slot(now)
    assert latest is not None and latest <= now < expected and expected - latest <= 7 * 24 * HOUR
