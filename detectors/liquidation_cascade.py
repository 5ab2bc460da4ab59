"""Liquidations pile up: one position side's liquidated USD in a rolling window is far over normal.

The window's liquidated USD of one side is over an absolute threshold and over M times its recent
baseline; the alert lasts until the window calms down. With ``markets`` the rule sums a group of markets
(its own symbol and those listed), or every market with data (``["*"]``): "market-wide: $700M of shorts
liquidated across 37 coins in 4h, BTC $380M, ETH $250M", which is how a cross-market event is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal, Protocol

from pydantic import Field, field_validator

from detectors import values
from detectors.base import (
    MAX_USD,
    Detector,
    DetectorSettings,
    LiquidationWindow,
    Quiet,
    Signal,
    Snapshot,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, latched_signals, latches_settled
from detectors.text import format_window
from storage.rows import HOUR_MS, MINUTE_MS

# After an outage, missed windows are replayed at most this far back (liquidations are kept 8 days).
MAX_CATCH_UP_MS = 7 * 24 * HOUR_MS
SIDES = ("long", "short")
ALL_MARKETS = "*"
# Markets named in a group title ("BTC $380M, ETH $250M"); the rest are counted.
NAMED_MARKETS = 3


class LiquidationSource(Protocol):
    """What the cascade reads: one market's view, or a group's (``GroupLiquidations``)."""

    def liquidations(self, start: int, end: int | None = None) -> LiquidationWindow:
        """Sum liquidated USD by position side over [start, min(end, now)), across sources."""

    def liquidations_known_from(self) -> Mapping[str, int]:
        """Return, per source, the minute of its first reported liquidation."""


class GroupLiquidations:
    """Several markets' liquidations summed per venue, with each market's part of the last window read."""

    def __init__(self, views: Sequence[Snapshot]) -> None:
        self.views = views
        self.by_market: dict[str, tuple[float, float]] = {}

    def liquidations(self, start: int, end: int | None = None) -> LiquidationWindow:
        """Sum every market's window; remember each market's (long, short) of it."""
        long_usd = short_usd = 0.0
        by_source: dict[str, tuple[float, float]] = {}
        self.by_market = {}
        for view in self.views:
            window = view.liquidations(start, end)
            if window.total_usd:
                self.by_market[view.symbol] = (window.long_usd, window.short_usd)
            long_usd += window.long_usd
            short_usd += window.short_usd
            for source, (a, b) in window.by_source.items():
                was = by_source.get(source, (0.0, 0.0))
                by_source[source] = (was[0] + a, was[1] + b)
        return LiquidationWindow(long_usd, short_usd, by_source)

    def liquidations_known_from(self) -> dict[str, int]:
        """Return, per venue, the earliest first report over the markets."""
        known: dict[str, int] = {}
        for view in self.views:
            for source, first in view.liquidations_known_from().items():
                known[source] = min(first, known.get(source, first))
        return known


class LiquidationCascadeSettings(DetectorSettings):
    """Options of a liquidation_cascade rule."""

    side: Literal["long", "short", "either"] = Field(
        "either", description="Which liquidated positions to watch (each side is its own alert)."
    )
    window_minutes: int = Field(60, ge=1, le=24 * 60, description="Rolling window summed (minutes).")
    # At most MAX_USD: above it no window of liquidations ever reaches the threshold.
    min_usd: float = Field(
        20_000_000, gt=0, le=MAX_USD, description="Liquidated USD of one side in the window needed to fire."
    )
    multiple: float = Field(
        5.0,
        ge=1,
        le=10_000,
        description="...and at least this × the side's average window over the baseline.",
    )
    baseline_hours: int = Field(
        24, ge=1, le=7 * 24, description="Period before the window the baseline covers."
    )
    calm_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The cascade is over once the window falls below this fraction of min_usd.",
    )

    markets: list[str] = Field(
        default_factory=list,
        max_length=200,
        description='Also sum these markets (a group with the rule\'s own), or ["*"] for every market.',
    )

    @field_validator("markets")
    @classmethod
    def _markets(cls, value: list[str]) -> list[str]:
        names = [m.strip().upper() for m in value]
        if ALL_MARKETS in names and len(names) > 1:
            raise ValueError('"*" (every market) stands alone')
        for name in names:
            if name != ALL_MARKETS and not (name.isalnum() and 2 <= len(name) <= 30):
                raise ValueError(f"{name!r} is not a market name (e.g. ETHUSDT)")
        return names

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"liquidations": self.window_minutes * MINUTE_MS + self.baseline_hours * HOUR_MS}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads of each market it sums: the window, its baseline, an hour of slack."""
        return {"liquidations": (self.window_minutes + 60) * MINUTE_MS + self.baseline_hours * HOUR_MS}


class LiquidationCascade(Detector[LiquidationCascadeSettings]):
    """Liquidated USD in a rolling window over a threshold and a multiple of its baseline."""

    name: ClassVar[str] = "liquidation_cascade"
    description: ClassVar[str] = (
        "Liquidations of longs or shorts in a rolling window over a USD threshold and M× their baseline"
    )
    Settings: ClassVar[type[DetectorSettings]] = LiquidationCascadeSettings
    uses: ClassVar[tuple[str, ...]] = ("liquidations",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "usd": values.usd("Liquidated"),
        "side": values.text("Positions"),
        "multiple_of_baseline": values.ratio("Times the usual"),
        "baseline_usd": values.usd("Usual per window"),
        "other_side_usd": values.usd("Other side"),
        "window_minutes": values.duration("Window", unit="minutes"),
        "window_start": values.time("Window start"),
        "by_source": values.usd("By source"),
        "by_market": values.usd("By market"),
    }
    _last_window: tuple[int, float, float] | None = None  # (end, long USD, short USD) of the last window

    def peer_symbols(self) -> tuple[str, ...]:
        """Return the group's other markets (none listed for every market: all are read)."""
        return tuple(m for m in self.settings.markets if m != ALL_MARKETS)

    def reads_every_symbol(self) -> bool:
        """Return whether the rule sums every market (``markets = ["*"]``)."""
        return ALL_MARKETS in self.settings.markets

    def _source(self, snapshot: Snapshot) -> LiquidationSource:
        """Return what the rule sums: its market, or its group's markets."""
        markets = self.settings.markets
        if not markets:
            return snapshot
        names = snapshot.market_symbols() if markets == [ALL_MARKETS] else [self.symbol, *markets]
        views = [v for name in dict.fromkeys(names) if (v := snapshot.peer(name)) is not None]
        return GroupLiquidations(views)

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Evaluate the window ending now (and the windows missed during an outage); return the cascades."""
        s = self.settings
        window = s.window_minutes * MINUTE_MS
        now = snapshot.now
        last = state.get("now")
        if last is None:
            self._step(snapshot, now, learn=True, state=state)
            state["now"] = now
            return []
        if now <= last:
            return latched_signals(self, state)
        # Windows that ended while nobody was looking, one window apart, so a cascade that began and ended
        # during an outage is still reported (once, late).
        t = max(last, now - MAX_CATCH_UP_MS) + window
        while t < now:
            self._step(snapshot, t, learn=False, state=state)
            t += window
        self._step(snapshot, now, learn=False, state=state)
        state["now"] = now
        return latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until the next minute, unless liquidations of the symbol change.

        The window ends now but starts at a whole minute, and liquidations are kept in minute buckets: until
        the next minute begins, the same rows give the same sums, so evaluating changes nothing but
        ``state["now"]``, which the engine keeps current.
        """
        s = self.settings
        if state.get("now") != now or not latches_settled(state) or s.markets:
            # A group's window grows with any of its markets' liquidations: no quiet is exact but "none".
            return None
        last = self._last_window
        if not state.get("off") and last is not None and last[0] == now and max(last[1], last[2]) < s.min_usd:
            # Every side armed and under min_usd: as time passes without new rows the window only loses
            # buckets, so nothing can fire (and nothing waits to re-arm) until liquidations change, and then
            # only once they added what is missing to min_usd: a side's window cannot grow by more. Waking on
            # every liquidation was a third of a year's replay (bench.replay, py-spy); the margin covers the
            # rounding of sums taken in another order.
            missing = s.min_usd - max(last[1], last[2])
            return Quiet(unchanged=("liquidations",), now_key="now", usd_below=missing - s.min_usd * 1e-9)
        return Quiet(until=now - now % MINUTE_MS + MINUTE_MS, unchanged=("liquidations",), now_key="now")

    def _step(self, snapshot: Snapshot, end: int, *, learn: bool, state: dict[str, Any]) -> None:
        s = self.settings
        # The window is the last window_minutes whole minutes plus the minute in progress: liquidations are
        # kept in minute buckets (hourly ones for some sources), and a window starting a few milliseconds
        # past a bucket's start would drop that whole bucket (an evaluation at 16:00:00.009, the time of a
        # funding settlement, lost the 15:00 hour).
        start = end - end % MINUTE_MS - s.window_minutes * MINUTE_MS
        source = self._source(snapshot)
        current = source.liquidations(start, end)
        group = dict(source.by_market) if isinstance(source, GroupLiquidations) else None
        # Kept on the instance, not in the persisted state: only quiet() reads it, for this very evaluation.
        self._last_window = (end, current.long_usd, current.short_usd)
        if current.total_usd == 0 and not state.get("off"):
            return  # nothing liquidated and nothing to re-arm: skip the baseline sum
        baseline = _Baseline(source, start, s.baseline_hours * HOUR_MS, s.window_minutes * MINUTE_MS)
        for side in SIDES:
            if s.side not in ("either", side):
                continue
            usd = current.long_usd if side == "long" else current.short_usd
            # The baseline (a day of minute buckets) only matters once the window is over min_usd: summing
            # it at every evaluation was most of a year's replay (bench.replay, py-spy).
            verdict = baseline.compare(side, current, s.multiple) if usd >= s.min_usd else (False, 0.0, None)
            if verdict is None:
                # No venue's baseline is known yet (liquidations before the bot started are unknown, not
                # zero): a window over min_usd one minute after a first start is no cascade against a $0
                # baseline. Held, not learnt: a cascade still under way once it is known fires then.
                continue
            active, base, ratio = verdict
            edge(
                state,
                side,
                active=active,
                rearm=usd < s.min_usd * s.calm_ratio,
                build=partial(self._payload, side, usd, base, ratio, current, start, end, group),
                learn=learn,
            )

    def baseline_known_at(self, snapshot: Snapshot) -> int | None:
        """Return when a window's baseline becomes known (a minute), or None before any liquidation."""
        known = snapshot.liquidations_known_from()
        if not known:
            return None
        s = self.settings
        return min(known.values()) + s.baseline_hours * HOUR_MS + s.window_minutes * MINUTE_MS

    def describe_now(self, snapshot: Snapshot, state: Mapping[str, Any]) -> str | None:
        """Say whether the baseline is still being learnt, or a cascade is under way (waited out)."""
        s = self.settings
        asset = short_symbol(self.symbol)
        known_at = self.baseline_known_at(snapshot)
        now = snapshot.now
        if known_at is None:
            return (
                f"No {asset} liquidation is known yet: the rule learns the baseline for "
                f"{format_window(s.baseline_hours * HOUR_MS)} from the first one and cannot fire before."
            )
        if known_at > now - now % MINUTE_MS:
            first = min(snapshot.liquidations_known_from().values())
            return (
                f"Learning the baseline until {values.utc_text(known_at)} ({asset} liquidations are known "
                f"from {values.utc_text(first)}): the rule cannot fire before; a cascade still under way "
                "then fires it."
            )
        off = [side for side in SIDES if side in state.get("off", ())]
        if not off:
            return None
        length = format_window(s.window_minutes * MINUTE_MS)
        sides = " and ".join(f"{asset} {side}s" for side in off)
        return (
            f"A cascade of {sides} is under way (over {format_usd(s.min_usd)} in {length}): this rule "
            f"fires on the next one, once the window has fallen below {format_usd(s.min_usd * s.calm_ratio)}."
        )

    def _payload(
        self,
        side: str,
        usd: float,
        baseline: float,
        ratio: float | None,
        window: LiquidationWindow,
        start: int,
        end: int,
        group: dict[str, tuple[float, float]] | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        length = format_window(s.window_minutes * MINUTE_MS)
        other = window.short_usd if side == "long" else window.long_usd
        title = f"{format_usd(usd)} of {short_symbol(self.symbol)} {side}s liquidated in {length}"
        markets: dict[str, float] | None = None
        if group is not None:
            i = 0 if side == "long" else 1
            markets = {m: round(pair[i], 2) for m, pair in sorted(group.items(), key=lambda kv: -kv[1][i])}
            title = self._group_title(side, usd, length, markets)
        return {
            "kind": f"{side}_liquidations",
            "severity": "critical" if usd >= 5 * s.min_usd else "warning",
            "title": title,
            "values": {
                "side": side,
                "usd": round(usd, 2),
                "other_side_usd": round(other, 2),
                "baseline_usd": round(baseline, 2),
                "multiple_of_baseline": round(ratio, 2) if ratio is not None else None,
                "window_minutes": s.window_minutes,
                "window_start": start,
                "by_source": {
                    src: round(long_usd if side == "long" else short_usd, 2)
                    for src, (long_usd, short_usd) in sorted(window.by_source.items())
                },
                "by_market": markets,
            },
            "at": end,
            "stateful": True,
            # Longs liquidated are forced sells (price falling); shorts are forced buys (price rising).
            "direction": "down" if side == "long" else "up",
        }

    def _group_title(self, side: str, usd: float, length: str, markets: Mapping[str, float]) -> str:
        """Return "market-wide: $700M of shorts liquidated across 37 coins in 4h, BTC $380M, ETH $250M"."""
        hit = {m: v for m, v in markets.items() if v > 0}
        named = ", ".join(f"{short_symbol(m)} {format_usd(v)}" for m, v in list(hit.items())[:NAMED_MARKETS])
        scope = (
            "market-wide"
            if self.settings.markets == [ALL_MARKETS]
            else "+".join(short_symbol(m) for m in dict.fromkeys([self.symbol, *self.settings.markets]))
        )
        coins = f"{len(hit)} coin{'s' if len(hit) != 1 else ''}"
        return f"{scope}: {format_usd(usd)} of {side}s liquidated across {coins} in {length}, {named}"


class _Baseline:
    """One window's baseline, read once and only when a side is over min_usd.

    It is measured on the venues known for the whole baseline period (each from its first report on): the
    side's window on those venues must be ``multiple`` × their average window. A venue that reported only
    lately (a first start, a venue added, a quiet one's first event) counts towards min_usd, not the ratio.
    """

    def __init__(self, snapshot: LiquidationSource, start: int, baseline_ms: int, window_ms: int) -> None:
        self.snapshot = snapshot
        self.start = start
        self.baseline_ms = baseline_ms
        self.scale = window_ms / baseline_ms
        self._known: frozenset[str] | None = None
        self._before: LiquidationWindow | None = None

    def compare(
        self, side: str, window: LiquidationWindow, multiple: float
    ) -> tuple[bool, float, float | None] | None:
        """Return (over multiple × baseline, baseline, ratio) for ``side``, or None when no venue is known."""
        if self._known is None:
            since = self.start - self.baseline_ms
            firsts = self.snapshot.liquidations_known_from()
            self._known = frozenset(source for source, first in firsts.items() if first <= since)
        known = self._known
        if not known:
            return None
        if self._before is None:
            self._before = self.snapshot.liquidations(self.start - self.baseline_ms, self.start)
        i = 0 if side == "long" else 1
        # Summed in the window's own order, so with every venue known these are exactly its totals.
        base = sum(pair[i] for source, pair in self._before.by_source.items() if source in known) * self.scale
        usd = sum(pair[i] for source, pair in window.by_source.items() if source in known)
        return usd >= multiple * base, base, (usd / base if base > 0 else None)
