"""The indicators of the rules a chart shows, computed from the database like the rules compute them.

Each rule's own indicators (``IndicatorDetector.build``: the same TA-Lib-backed objects the detector feeds)
are fed the closed candles of the rule's interval, starting early enough before the window for their
warm-up and settling (``warmup + settle`` candles), so the drawn values are the ones the rule decides on.
A value is drawn under the candle it was computed on (its middle), as charting sites draw indicators; a
4h RSI on a 1h chart is one step per four hourly candles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.charts.data import load_candles
from bot.charts.indicator_spec import IndicatorPlot, IndicatorSeries, Placement, SeriesStyle
from bot.errors import UserError
from detectors.base import Bar
from detectors.indicator_rule import IndicatorDetector, IndicatorSettings
from detectors.indicators import EMA, MACD, RSI, SMA, Bollinger, Indicator, StochRSI
from detectors.registry import detector_classes
from storage.repo import Repo, RuleRow
from storage.rows import interval_ms

# Rules whose indicator one chart draws: more panes would squeeze the candles to nothing.
MAX_PLOTS = 3
# Settings naming an oscillator level a rule watches (RSI above/below, Stoch RSI zones).
LEVEL_SETTINGS = ("above", "below", "lower", "upper")


def indicator_plots(
    repo: Repo, rules: Iterable[RuleRow], symbol: str, start: int, end: int
) -> tuple[IndicatorPlot, ...]:
    """Return the indicator of each indicator rule of ``symbol`` among ``rules`` over [start, end)."""
    plots: list[IndicatorPlot] = []
    for rule in rules:
        if len(plots) == MAX_PLOTS:
            break
        plot = rule_plot(repo, rule, start, end) if rule.symbol == symbol else None
        if plot is not None:
            plots.append(plot)
    return tuple(plots)


def rule_plot(repo: Repo, rule: RuleRow, start: int, end: int) -> IndicatorPlot | None:
    """Return a rule's indicator over [start, end), or None (not an indicator rule, or no candles)."""
    cls = detector_classes().get(rule.detector)
    if cls is None or not issubclass(cls, IndicatorDetector):
        return None
    try:
        detector = cls(rule.id, rule.symbol, cls.Settings.model_validate(rule.settings))
    except ValueError:
        return None  # settings that no longer validate: the rule is reported broken elsewhere
    settings: IndicatorSettings = detector.settings
    indicators = detector.build().indicators
    if not indicators:
        return None
    step = interval_ms(settings.interval)
    before = max(i.warmup + i.settle for i in indicators) * step
    try:
        window = load_candles(repo, rule.symbol, settings.interval, start - before, end)
    except UserError:
        return None  # nothing stored at that interval (or far too many candles): the chart goes without
    closed = [b for b in window.bars if b.open_time + step <= end]
    points = _feed(indicators, closed, start - step, settings.interval)
    series = tuple(
        IndicatorSeries(name, tuple(t for t, _ in values), tuple(v for _, v in values), style)
        for (name, style), values in points.items()
        if values
    )
    if not series:
        return None
    placement = _placement(indicators[0])
    return IndicatorPlot(
        rule_id=rule.id,
        label=f"{' · '.join(_label(i, settings.interval) for i in indicators)} · {rule.id}",
        placement=placement,
        series=series,
        levels=_levels(placement, rule.settings),
    )


def _feed(
    indicators: tuple[Indicator, ...], bars: list[Bar], shown_from: int, interval: str
) -> dict[tuple[str, SeriesStyle], list[tuple[int, float]]]:
    """Feed every bar; collect each drawn output's values for the bars opening at or after ``shown_from``."""
    points: dict[tuple[str, SeriesStyle], list[tuple[int, float]]] = {}
    for bar in bars:
        for indicator in indicators:
            indicator.add(bar)
        if bar.open_time < shown_from:
            continue
        middle = bar.open_time + bar.interval_ms // 2
        for indicator in indicators:
            for output, style in _drawn(indicator):
                value = indicator.value(output)
                label = _label(indicator, interval)
                name = label if len(indicator.outputs) == 1 else f"{label} {output}"
                entries = points.setdefault((name, style), [])
                if value is not None:
                    entries.append((middle, value))
    return points


def _drawn(indicator: Indicator) -> tuple[tuple[str, SeriesStyle], ...]:
    """Return (output, style) of what is drawn of an indicator (a band's width is not)."""
    if isinstance(indicator, MACD):
        return (("macd", "line"), ("signal", "line"), ("histogram", "histogram"))
    if isinstance(indicator, Bollinger):
        return (("upper", "band"), ("lower", "band"), ("middle", "line"))
    return tuple((output, "line") for output in indicator.outputs)


def _placement(indicator: Indicator) -> Placement:
    if isinstance(indicator, SMA | EMA | Bollinger):
        return "price"
    if isinstance(indicator, RSI | StochRSI):
        return "oscillator"
    return "pane"


def _label(indicator: Indicator, interval: str) -> str:
    """Return "RSI(14, 4h)" from "RSI(14)": the interval named as in the alert."""
    label = indicator.label
    return f"{label[:-1]}, {interval})" if label.endswith(")") and interval else label


def _levels(placement: Placement, settings: Mapping[str, Any]) -> tuple[float, ...]:
    if placement == "pane":
        return (0.0,)
    if placement == "oscillator":
        found = [settings.get(key) for key in LEVEL_SETTINGS]
        return tuple(
            sorted(float(v) for v in found if isinstance(v, int | float) and not isinstance(v, bool))
        )
    return ()
