"""Small formatting helpers for alert titles: percentages, windows, dates, amounts, funding rates."""

from __future__ import annotations

from detectors.values import format_amount as format_amount
from detectors.values import format_change, format_funding, utc_date
from storage.rows import HOUR_MS, MINUTE_MS


def format_pct(value: float, decimals: int = 1) -> str:
    """Format a signed percentage: +5.2%, -0.8%."""
    return format_change(value, decimals)


def format_rate(rate: float) -> str:
    """Format a funding rate given as a decimal (0.0001) the way venues show it: +0.0100%."""
    return format_funding(rate * 100)


def format_window(ms: int) -> str:
    """Format a window length compactly: 15m, 1h, 24h, 3d."""
    if ms < HOUR_MS or ms % HOUR_MS:
        return f"{ms // MINUTE_MS}m"
    hours = ms // HOUR_MS
    if hours <= 48 or hours % 24:
        return f"{hours}h"
    return f"{hours // 24}d"


def format_age(days: float) -> str:
    """Name a span of days the way traders do for "an N-... high": 9-day, 3-week, 2-month, 1-year."""
    if days < 14:
        return f"{max(1, int(days))}-day"
    if days < 60:
        return f"{int(days // 7)}-week"
    if days < 730:
        return f"{int(days // 30)}-month"
    return f"{int(days // 365)}-year"


def with_article(phrase: str) -> str:
    """Prefix "a" or "an" as spoken: an 8-day high, an 11-day high, a 2-month high."""
    spoken_vowel = phrase[:1] in "aeiou8" or phrase.split("-")[0] in ("11", "18")
    return f"{'an' if spoken_vowel else 'a'} {phrase}"


def iso_date(ms: int) -> str:
    """Return the UTC date of a time in ms as YYYY-MM-DD."""
    return utc_date(ms)
