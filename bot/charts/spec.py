"""What a chart shows, as plain data: the spec, its parts and the colour themes (no matplotlib here).

Kept apart from ``bot.charts.draw`` (the drawing) so that building a spec, validating a theme or reading the
chart limits never pays for importing matplotlib: the CLI and the bot start in a fraction of the time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from bot.charts.indicator_spec import IndicatorPlot
from detectors.base import Bar

Theme = Literal["dark", "light"]
MarkerDirection = Literal["up", "down", "neutral"]

# More candles than this are drawn as a close line: at 1200 px, 200 bodies are ~4 px wide, the least
# that still shows a body distinct from its wick.
LINE_THRESHOLD = 200
# Up to this many groups of alert markers are labelled with their rule ids beside them; past that (or when
# one of those labels finds no free room) each marker carries a number and the key above the chart names
# the rule of each number.
MAX_NAMED_MARKER_GROUPS = 4
# A level further from the price range than this fraction of the range is listed, not drawn: drawing it
# would squash the candles into a thin band.
LEVEL_REACH = 0.5


GID_CANDLE_BODIES = "candle-bodies"
GID_CANDLE_WICKS = "candle-wicks"
GID_PRICE_LINE = "price-line"
GID_VOLUME = "volume"
GID_LIQ_SHORTS = "liquidations-short"
GID_LIQ_LONGS = "liquidations-long"
GID_LIQ_PEAK = "liquidations-peak"
GID_LEVEL = "level"
GID_LEVEL_LABEL = "level-label"
GID_LEVELS_OFF_CHART = "levels-off-chart"
GID_MARKERS = "alert-markers"
GID_MARKER_LABEL = "alert-label"
GID_MARKER_KEY = "alert-key"
GID_LEVEL_TAG = "level-tag"
GID_GAP = "no-data"
GID_GAP_LABEL = "no-data-label"
GID_TITLE = "title"
GID_SUBTITLE = "subtitle"


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours of one theme."""

    background: str
    text: str
    muted: str
    grid: str
    up: str
    down: str
    line: str
    level: str
    marker: str
    shorts: str
    longs: str


PALETTES: dict[str, Palette] = {
    # Discord's dark chat background and text colours; green/red as Discord uses them.
    "dark": Palette(
        background="#313338",
        text="#dbdee1",
        muted="#949ba4",
        grid="#3f4147",
        up="#23a55a",
        down="#f23f43",
        line="#dbdee1",
        level="#c9a0ff",
        marker="#f0b232",
        shorts="#4e9bf5",
        longs="#f0883e",
    ),
    # Darker shades of the same hues, so thin lines keep their contrast on white.
    "light": Palette(
        background="#ffffff",
        text="#313338",
        muted="#5c5e66",
        grid="#e3e5e8",
        up="#1a8f4c",
        down="#d83c3e",
        line="#313338",
        level="#7c4dff",
        marker="#c27c0e",
        shorts="#1f6fd1",
        longs="#d9661f",
    ),
}


@dataclass(frozen=True, slots=True)
class LevelLine:
    """A horizontal price line with its label (``"btc-95k 95,000"``)."""

    price: float
    label: str


@dataclass(frozen=True, slots=True)
class AlertMarker:
    """A point where an alert fired: at ``at`` (UTC ms, when it became known) and ``price``."""

    at: int
    price: float
    label: str
    direction: MarkerDirection = "neutral"


@dataclass(frozen=True, slots=True)
class LiquidationBar:
    """Liquidated USD by position side in the candle opening at ``open_time``."""

    open_time: int
    long_usd: float
    short_usd: float


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Everything a chart shows; times are UTC ms, candles oldest first and all of one interval."""

    symbol: str
    interval: str
    candles: tuple[Bar, ...]
    title: str
    liquidations: tuple[LiquidationBar, ...] = ()
    levels: tuple[LevelLine, ...] = ()
    markers: tuple[AlertMarker, ...] = ()
    # The time window shown; defaults to the candles' span. An event chart ends exactly at the alert.
    start: int | None = None
    end: int | None = None
    subtitle: str = ""
    theme: Theme = "dark"
    width_px: int = 1200
    height_px: int = 700
    line_threshold: int = LINE_THRESHOLD
    # Base asset the volume is counted in ("BTC"), shown on the volume panel.
    volume_unit: str = ""
    # The indicators of the rules shown (``bot.charts.indicators`` draws them).
    indicators: tuple[IndicatorPlot, ...] = ()

    def __post_init__(self) -> None:
        if not self.candles:
            raise ValueError("a chart needs at least one candle")
        if any(b.open_time >= a.open_time for b, a in zip(self.candles, self.candles[1:], strict=False)):
            raise ValueError("candles must be sorted by open time without repeats")
        if self.theme not in PALETTES:
            raise ValueError(f"unknown theme {self.theme!r}; use one of {', '.join(PALETTES)}")

    @property
    def as_line(self) -> bool:
        """Return True when the price is drawn as a line instead of candlesticks."""
        return len(self.candles) > self.line_threshold

    @property
    def window(self) -> tuple[int, int]:
        """Return the time window shown, (start, end) in UTC ms."""
        bars = self.candles
        start = self.start if self.start is not None else bars[0].open_time
        end = self.end if self.end is not None else bars[-1].close_time
        return start, end

    def gaps(self) -> list[tuple[int, int]]:
        """Return the spans of the window without candles: between candles, and after the last one.

        A span shorter than one candle is not a gap (the window's end may cut the forming candle).
        """
        bars = self.candles
        found = [
            (before.close_time, after.open_time)
            for before, after in itertools.pairwise(bars)
            if after.open_time - before.close_time >= before.interval_ms
        ]
        start, end = self.window
        if bars[0].open_time - start >= bars[0].interval_ms:
            found.insert(0, (start, bars[0].open_time))
        if end - bars[-1].close_time >= bars[-1].interval_ms:
            found.append((bars[-1].close_time, end))
        return found
