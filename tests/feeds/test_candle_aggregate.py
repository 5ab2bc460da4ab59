"""Candles a fallback venue lacks are rolled up from finer ones: weeks from Monday, no half bucket."""

from __future__ import annotations

from feeds.candles import aggregate
from storage.rows import DAY_MS, HOUR_MS, Candle

THU = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a Thursday
MON = THU + 4 * DAY_MS  # 2026-01-05


def day(start: int, i: int) -> Candle:
    """Return a synthetic daily candle (open i, close i + 0.5)."""
    o = 100.0 + i
    return Candle("BTCUSDT", "1d", start + i * DAY_MS, "kraken", o, o + 2, o - 2, o + 0.5, 1.0, o, True)


def test_weeks_open_on_monday_and_the_partial_first_week_is_left_out() -> None:
    days = [day(THU, i) for i in range(20)]  # 2026-01-01 .. 01-20
    weeks = aggregate(days, "1w", now_ms=THU + 20 * DAY_MS, complete_from=days[0].open_time)
    assert [w.open_time for w in weeks] == [MON, MON + 7 * DAY_MS, MON + 14 * DAY_MS]
    first = weeks[0]
    assert (first.o, first.c, first.volume) == (104.0, 110.5, 7.0)  # Monday's open, Sunday's close
    assert [w.closed for w in weeks] == [True, True, False]  # the week of the 19th is still running
    # Without ``complete_from`` the Thursday-to-Sunday stub would pose as the week of 2025-12-29.
    assert aggregate(days, "1w", now_ms=THU + 20 * DAY_MS)[0].open_time == MON - 7 * DAY_MS


def test_four_hour_buckets_from_hours() -> None:
    hours = [
        Candle(
            "BTCUSDT",
            "1h",
            THU + i * HOUR_MS,
            "coinbase",
            10.0 + i,
            11.0 + i,
            9.0 + i,
            10.5 + i,
            2.0,
            None,
            True,
        )
        for i in range(8)
    ]
    four = aggregate(hours, "4h", now_ms=THU + 8 * HOUR_MS, complete_from=THU)
    assert [(c.open_time, c.o, c.h, c.l, c.c, c.volume) for c in four] == [
        (THU, 10.0, 14.0, 9.0, 13.5, 8.0),
        (THU + 4 * HOUR_MS, 14.0, 18.0, 13.0, 17.5, 8.0),
    ]
    assert all(c.closed and c.quote_volume is None for c in four)
