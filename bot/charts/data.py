"""Gather what a chart shows from the database into a ``ChartSpec`` for ``bot.charts.draw`` to render.

The spec holds candles at the asked interval, liquidations per candle, the rules' levels and the alerts
that fired.

Stored candles are used as they are when their interval is the one asked for; otherwise the finest stored
interval that divides it is aggregated through ``MarketHistory`` (the same code detectors read candles
through, so a chart's 4h candle is the 4h candle a rule saw). One source per chart: candles of two
exchanges are never mixed into one series.

Every function here reads the database and may raise ``UserError`` with a message for the person who
asked for the chart (unknown symbol, empty window, an interval finer than anything stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.charts.spec import (
    LINE_THRESHOLD,
    AlertMarker,
    ChartSpec,
    LevelLine,
    LiquidationBar,
    MarkerDirection,
    Theme,
)
from bot.errors import UserError
from detectors.base import Bar, short_symbol
from detectors.market_history import MarketHistory, bucket_start
from storage.repo import AlertEventRow, CandleCoverage, Repo, RuleRow
from storage.rows import HOUR_MS, INTERVAL_MS, interval_ms

# A chart of more candles than this is unreadable and slow; the error says to pick a coarser interval.
MAX_CHART_CANDLES = 5000
# Rule ids listed on one level line before the rest are counted ("+2").
MAX_IDS_PER_LEVEL = 3
# Settings keys that hold price levels, whatever the detector.
LEVEL_KEYS = ("level", "levels")
EVENT_LOOKBACK_MS = 48 * HOUR_MS
EVENT_MAX_CANDLES = 120


@dataclass(frozen=True, slots=True)
class CandleWindow:
    """Candles of one symbol at one interval over a window, with where they came from."""

    symbol: str
    interval: str
    bars: tuple[Bar, ...]
    source: str
    stored_interval: str


def utc_text(ms: int) -> str:
    """Format epoch ms as ``2026-01-13 23:00`` (UTC)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _checked_interval(interval: str) -> int:
    try:
        return interval_ms(interval)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _no_candles(repo: Repo, symbol: str) -> UserError:
    stored = ", ".join(repo.candle_symbols()) or "none"
    return UserError(f"no candles of {symbol} are stored (symbols with candles: {stored})")


def stored_span(repo: Repo, symbol: str) -> tuple[int, int]:
    """Return (first open, last close) of a symbol's stored candles, any interval or source."""
    # Each series' first and last open, a few seeks each: counting the whole history was 854 ms on three
    # years of 1m (issue 24).
    cover = repo.candle_series(symbol)
    if not cover:
        raise _no_candles(repo, symbol)
    first = min(c.first_open for c in cover)
    last = max(c.last_open + interval_ms(c.interval) for c in cover)
    return first, last


def _coverage(repo: Repo, symbol: str, start: int, end: int) -> list[CandleCoverage]:
    if end <= start:
        raise UserError(f"the window ends ({utc_text(end)}) before it starts ({utc_text(start)})")
    cover = repo.candle_coverage(symbol, start, end)
    if cover:
        return cover
    first, last = stored_span(repo, symbol)
    raise UserError(
        f"no {symbol} candles between {utc_text(start)} and {utc_text(end)} UTC "
        f"(stored: {utc_text(first)} to {utc_text(last)})"
    )


def auto_interval(repo: Repo, symbol: str, start: int, end: int, max_candles: int = LINE_THRESHOLD) -> str:
    """Return the finest interval that shows the window in at most ``max_candles`` candles."""
    cover = _coverage(repo, symbol, start, end)
    finest = min(interval_ms(c.interval) for c in cover)
    candidates = [name for name, ms in INTERVAL_MS.items() if ms >= finest and ms % finest == 0]
    for name in candidates:
        if (end - start) / INTERVAL_MS[name] <= max_candles:
            return name
    return candidates[-1]


def load_candles(repo: Repo, symbol: str, interval: str, start: int, end: int) -> CandleWindow:
    """Return the candles opening in [start, end) at ``interval``, aggregating finer stored ones."""
    want = _checked_interval(interval)
    first = bucket_start(start, want)
    cover = _coverage(repo, symbol, first, end)
    usable = [c for c in cover if want % interval_ms(c.interval) == 0]
    if not usable:
        stored = ", ".join(sorted({c.interval for c in cover}, key=interval_ms))
        raise UserError(
            f"{symbol} has no candles at {interval} or finer in that window (stored: {stored}); "
            "ask for a coarser interval"
        )
    # The series covering most of the window wins; on a tie the coarser one (less to aggregate).
    best = max(usable, key=lambda c: (c.rows * interval_ms(c.interval), interval_ms(c.interval), c.source))
    if (end - first) // want > MAX_CHART_CANDLES:
        raise UserError(
            f"{interval} candles over that window would be more than {MAX_CHART_CANDLES:,}; "
            "ask for a coarser interval or a shorter window"
        )
    rows = repo.candles(symbol, best.interval, first, end, source=best.source)
    base = interval_ms(best.interval)
    if base == want:
        bars = [Bar(r.open_time, r.o, r.h, r.l, r.c, r.volume, want) for r in rows]
    else:
        # Keep the whole window in memory: the history's default retention (2 days of 1m) is for live use.
        keep = end - first + 2 * want
        history = MarketHistory(retention_ms={best.interval: keep, interval: keep})
        history.add_candles(rows)
        view = history.view(symbol, end)
        bars = list(view.candles(interval, since=first))
        forming = view.forming(interval)
        if (
            forming is not None
            and forming.open_time < end
            and (not bars or forming.open_time > bars[-1].open_time)
        ):
            bars.append(forming)
    if not bars:
        raise UserError(
            f"no complete {interval} candle of {symbol} between {utc_text(start)} and {utc_text(end)} UTC"
        )
    return CandleWindow(symbol, interval, tuple(bars), best.source, best.interval)


def _level_text(price: float) -> str:
    return f"{price:,.2f}".rstrip("0").rstrip(".")


def _levels_of(settings: Mapping[str, Any]) -> list[float]:
    found: list[float] = []
    for key in LEVEL_KEYS:
        value = settings.get(key)
        values = value if isinstance(value, list | tuple) else [value]
        found += [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return found


def levels_from_rules(rules: Iterable[RuleRow], symbol: str) -> tuple[LevelLine, ...]:
    """Return one labelled line per price level the symbol's rules watch (rule ids sharing a level merged)."""
    return _level_lines((rule.id, rule.settings) for rule in rules if rule.symbol == symbol)


def _level_lines(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[LevelLine, ...]:
    ids_by_price: dict[float, list[str]] = {}
    for rule_id, settings in entries:
        for price in _levels_of(settings):
            ids = ids_by_price.setdefault(price, [])
            if rule_id not in ids:
                ids.append(rule_id)
    lines = []
    for price, ids in sorted(ids_by_price.items()):
        shown = ", ".join(ids[:MAX_IDS_PER_LEVEL])
        more = f" +{len(ids) - MAX_IDS_PER_LEVEL}" if len(ids) > MAX_IDS_PER_LEVEL else ""
        lines.append(LevelLine(price, f"{shown}{more} {_level_text(price)}"))
    return tuple(lines)


def _marker_price(event: AlertEventRow, bars: tuple[Bar, ...]) -> float:
    price = event.values.get("price")
    if isinstance(price, int | float) and not isinstance(price, bool):
        return float(price)
    # No price in the alert's values: mark it on the last close known when it fired.
    known = [b for b in bars if b.close_time <= event.at]
    return (known[-1] if known else bars[0]).c


def markers_from_events(
    events: Iterable[AlertEventRow], bars: tuple[Bar, ...], start: int, end: int
) -> tuple[AlertMarker, ...]:
    """Return a marker for each firing event in [start, end] (an alert at ``end`` is the last close's)."""
    markers = []
    for event in events:
        if event.state != "firing" or not start <= event.at <= end:
            continue
        direction = event.values.get("direction")
        shape: MarkerDirection = direction if direction in ("up", "down") else "neutral"
        markers.append(AlertMarker(event.at, _marker_price(event, bars), event.rule_id, shape))
    return tuple(sorted(markers, key=lambda m: m.at))


def _liquidations(repo: Repo, symbol: str, start: int, end: int, ms: int) -> tuple[LiquidationBar, ...]:
    # Weeks open on Monday, not on the epoch's Thursday: the grid's phase comes from the same function
    # that aligns candles, so liquidation bars sit under their candles.
    phase = bucket_start(0, ms) % ms
    return tuple(
        LiquidationBar(t, lo, sh)
        for t, lo, sh in repo.liquidation_buckets(symbol, start, end, ms, phase_ms=phase)
    )


def fit_start(repo: Repo, symbol: str, start: int, end: int) -> int:
    """Return ``start``, or the first stored candle's open when nothing is stored before it.

    A 90-day window over 7 days of data would be mostly empty: the chart shows the data and says so.
    """
    first, _ = stored_span(repo, symbol)
    return first if start < first < end else start


def _subtitle(
    window: CandleWindow, start: int, end: int, liquidation_sources: list[str], asked_start: int | None = None
) -> str:
    bars = window.bars
    change = (bars[-1].c / bars[0].o - 1) * 100 if bars[0].o else 0.0
    source = (
        window.source
        if window.stored_interval == window.interval
        else (f"{window.source} {window.stored_interval}, aggregated")
    )
    parts = [f"{utc_text(start)} → {utc_text(end)} UTC"]
    if asked_start is not None and asked_start < start:
        parts.append(f"nothing stored before {utc_text(start)} (asked from {utc_text(asked_start)})")
    parts += [
        f"last {_level_text(bars[-1].c)} ({change:+.2f}%)",
        f"candles: {source}",
    ]
    if liquidation_sources:
        parts.append(f"liquidations: {', '.join(liquidation_sources)}")
    return "  ·  ".join(parts)


def chart_spec_from_repo(
    repo: Repo,
    symbol: str,
    interval: str | None,
    start: int,
    end: int,
    rules: Iterable[RuleRow] | None = None,
    events: Iterable[AlertEventRow] | None = None,
    *,
    theme: Theme = "dark",
    title: str | None = None,
    width_px: int = 1200,
    height_px: int = 700,
) -> ChartSpec:
    """Build the chart of ``symbol`` over [start, end) from the database.

    ``interval`` None picks one that shows the window in at most ``LINE_THRESHOLD`` candles. ``rules``
    None draws the levels of every enabled rule of the symbol, and ``events`` None marks every stored
    firing of the symbol in the window; the Discord front end passes a guild's own rules and events.
    """
    asked_start, start = start, fit_start(repo, symbol, start, end)
    chosen = interval or auto_interval(repo, symbol, start, end)
    window = load_candles(repo, symbol, chosen, start, end)
    ms = interval_ms(chosen)
    first = window.bars[0].open_time
    if rules is None:
        rules = repo.rules(enabled_only=True)
    if events is None:
        events = repo.events(symbol=symbol, since=first, until=end + 1, limit=1000, newest_first=False)
    liquidations = _liquidations(repo, symbol, first, end, ms)
    return ChartSpec(
        symbol=symbol,
        interval=chosen,
        candles=window.bars,
        title=title or f"{symbol} · {chosen}",
        subtitle=_subtitle(
            window, start, end, sorted(repo.liquidation_totals(symbol, first, end).by_source), asked_start
        ),
        liquidations=liquidations,
        levels=levels_from_rules(rules, symbol),
        markers=markers_from_events((e for e in events if e.symbol == symbol), window.bars, first, end),
        start=start,
        end=end,
        theme=theme,
        width_px=width_px,
        height_px=height_px,
        volume_unit=short_symbol(symbol),
    )


def event_chart_spec(
    repo: Repo,
    event: AlertEventRow,
    *,
    lookback_ms: int = EVENT_LOOKBACK_MS,
    interval: str | None = None,
    rules: Iterable[RuleRow] | None = None,
    theme: Theme = "dark",
) -> ChartSpec:
    """Build the chart of the moments before an alert: a window ending at the alert, with its marker.

    ``rules`` None draws the levels of the rule as it was when the alert fired (its stored snapshot).
    """
    end = event.at
    start = end - lookback_ms
    chosen = interval or auto_interval(repo, event.symbol, start, end, EVENT_MAX_CANDLES)
    window = load_candles(repo, event.symbol, chosen, start, end)
    first = window.bars[0].open_time
    if rules is None:
        levels = _level_lines([(event.rule_id, event.rule.get("settings", {}))])
    else:
        levels = levels_from_rules(rules, event.symbol)
    others = repo.events(symbol=event.symbol, since=first, until=end + 1, limit=200, newest_first=False)
    shown = [e for e in others if e.id != event.id] + [event]
    liquidations = _liquidations(repo, event.symbol, first, end, interval_ms(chosen))
    hours = lookback_ms / HOUR_MS
    return ChartSpec(
        symbol=event.symbol,
        interval=chosen,
        candles=window.bars,
        title=event.title,
        subtitle=f"{event.symbol} {chosen} · the {hours:g} hours before {utc_text(end)} UTC",
        liquidations=liquidations,
        levels=levels,
        markers=markers_from_events(shown, window.bars, first, end),
        start=start,
        end=end,
        theme=theme,
        width_px=1000,
        height_px=560,
        volume_unit=short_symbol(event.symbol),
    )
