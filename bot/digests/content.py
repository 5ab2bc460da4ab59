"""What a digest says, built from the stored history as of a given time (no ``import discord``).

``build_digest(repo, symbols, at, period_ms, sections, guild_id)`` reads only what was known at ``at``:
candles that had closed, funding settlements up to ``at``, the Fear & Greed value published by then,
liquidation events up to ``at`` (the running hour included), and a source's hourly liquidation totals,
open interest and funding estimates up to the last whole hour (aggregated sources publish them per hour,
known only once the hour has ended). So a digest built late (after a restart) or by ``tripwire digest --at``
says what the on-time one would have said. The result is a frozen
``Digest``; ``to_payload``/``from_payload`` carry it through the outbox as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.errors import UserError
from bot.parsing import echo
from detectors.base import pct_change, short_symbol
from detectors.crowding import METRIC_WORDS
from detectors.positioning import (
    ETF_ASSETS,
    EtfLine,
    aggregate,
    dvol_line,
    etf_line,
    etf_window,
    fresh_open_interest,
    interval_hours_of_rows,
    newest_long_short,
    venue_figures,
)
from feeds.instrument_fetch import load_cached
from feeds.instruments import FUNDING_LIST_VENUE, InstrumentRegistry, stated_funding_interval
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, INTERVAL_MS, Candle, Funding, OpenInterest

SECTIONS = ("prices", "liquidations", "derivatives", "positioning", "fng", "alerts", "chart")
DEFAULT_SECTIONS = ("prices", "liquidations", "derivatives", "fng", "alerts")
SECTION_TITLES = {
    "prices": "prices and change",
    "liquidations": "liquidations by side",
    "derivatives": "funding and open interest",
    "positioning": "open interest and funding across venues, long/short, implied volatility, ETF flows",
    "fng": "Fear & Greed",
    "alerts": "alerts fired",
    "chart": "a chart",
}
_ALIASES = {
    "price": "prices",
    "liquidation": "liquidations",
    "liqs": "liquidations",
    "funding": "derivatives",
    "oi": "derivatives",
    "open_interest": "derivatives",
    "fear_greed": "fng",
    "fear&greed": "fng",
    "f&g": "fng",
    "alert": "alerts",
    "charts": "chart",
}
# Alerts listed by name; the rest are counted.
MAX_ALERTS = 10
LARGEST = 3


def parse_contents(text: str | None) -> tuple[str, ...]:
    """Parse ``prices, liquidations, chart`` (or ``all``) into sections in their canonical order."""
    raw = (text or "").strip().lower()
    if not raw:
        return DEFAULT_SECTIONS
    if raw == "all":
        return SECTIONS
    chosen: set[str] = set()
    for part in raw.replace(",", " ").split():
        name = _ALIASES.get(part, part)
        if name not in SECTIONS:
            raise UserError(
                f"{echo(part)} is not a digest section; pick from {', '.join(SECTIONS)} (or `all`)."
            )
        chosen.add(name)
    return tuple(name for name in SECTIONS if name in chosen)


@dataclass(frozen=True, slots=True)
class PriceLine:
    """A symbol's last close at the digest time and its change over the period."""

    symbol: str
    close: float
    closed_at: int
    change_pct: float | None
    high: float | None
    low: float | None


@dataclass(frozen=True, slots=True)
class LargeLiquidation:
    """One large liquidation, or one large hourly bucket for sources that only publish totals."""

    symbol: str
    ts: int
    side: str
    usd: float
    source: str
    aggregated: bool


@dataclass(frozen=True, slots=True)
class SymbolLiquidations:
    """Liquidated USD of one symbol by position side."""

    symbol: str
    long_usd: float
    short_usd: float


@dataclass(frozen=True, slots=True)
class Liquidations:
    """Liquidations over the period: totals by side, per symbol, and the largest."""

    long_usd: float
    short_usd: float
    by_symbol: tuple[SymbolLiquidations, ...]
    largest: tuple[LargeLiquidation, ...]
    sources: tuple[str, ...]

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd


@dataclass(frozen=True, slots=True)
class DerivativesLine:
    """A symbol's funding rate and open interest, now and at the start of the period."""

    symbol: str
    funding_rate: float | None
    funding_rate_before: float | None
    open_interest: float | None
    open_interest_unit: str
    open_interest_change_pct: float | None


@dataclass(frozen=True, slots=True)
class PositioningLine:
    """A symbol's positioning at the digest time (bot.services.positioning computes the same figures)."""

    symbol: str
    oi_usd: float | None
    venues: int
    funding_per_8h: float | None
    weighted: bool
    long_short: float | None
    long_short_label: str
    dvol: float | None
    etf: EtfLine | None = None  # BTC and ETH: the last US spot ETF day known at the digest time
    without: tuple[str, ...] = ()  # venues whose open interest stopped (as /positioning says it)


@dataclass(frozen=True, slots=True)
class FearGreedLine:
    """The Fear & Greed Index published by the digest time and the day before's value."""

    value: int
    classification: str | None
    date: str
    previous: int | None

    @property
    def change(self) -> int | None:
        """Return the change from the previous day."""
        return None if self.previous is None else self.value - self.previous


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One alert that fired in the period."""

    rule_id: str
    symbol: str
    title: str
    at: int


@dataclass(frozen=True, slots=True)
class Digest:
    """A market summary of the period [start, at)."""

    at: int
    start: int
    sections: tuple[str, ...]
    prices: tuple[PriceLine, ...] = ()
    liquidations: Liquidations | None = None
    derivatives: tuple[DerivativesLine, ...] = ()
    positioning: tuple[PositioningLine, ...] = ()
    fear_greed: FearGreedLine | None = None
    alerts: tuple[AlertLine, ...] = ()
    alerts_total: int = 0
    chart_symbol: str | None = None
    # Delivery facts, set when it is queued: a digest of a slot the bot missed is posted late, once.
    late_by_s: int | None = None
    on_request: bool = False

    @property
    def period_ms(self) -> int:
        """Return the span the digest covers."""
        return self.at - self.start


def _closed_candles(repo: Repo, symbol: str, start: int, at: int) -> tuple[int, list[Candle]] | None:
    intervals = [i for i in repo.candle_intervals(symbol) if i in INTERVAL_MS]
    if not intervals:
        return None
    interval = min(intervals, key=lambda i: INTERVAL_MS[i])
    length = INTERVAL_MS[interval]
    # The candle before the period too: its close is the price the change is measured from.
    rows = [c for c in repo.candles(symbol, interval, start - 2 * length, at) if c.open_time + length <= at]
    return (length, rows) if rows else None


def price_line(repo: Repo, symbol: str, start: int, at: int) -> PriceLine | None:
    """Return the last close of ``symbol`` at ``at`` and its change since the close at ``start``."""
    found = _closed_candles(repo, symbol, start, at)
    if found is None:
        return None
    length, rows = found
    last = rows[-1]
    before = [c for c in rows if c.open_time + length <= start]
    inside = [c for c in rows if c.open_time >= start]
    return PriceLine(
        symbol=symbol,
        close=last.c,
        closed_at=last.open_time + length,
        change_pct=pct_change(last.c, before[-1].c) if before else None,
        high=max(c.h for c in inside) if inside else None,
        low=min(c.l for c in inside) if inside else None,
    )


def whole_hour(at: int) -> int:
    """Return the start of the hour containing ``at``: hourly buckets before it had ended by ``at``."""
    return at - at % HOUR_MS


def liquidations(repo: Repo, symbols: Sequence[str], start: int, at: int) -> Liquidations:
    """Return the liquidations of [start, at): by side, per symbol, and the largest.

    Liquidation events count up to ``at``, the hour still running included (a digest asked for at 08:52
    counts the $20M liquidated at 08:40); a source's hourly totals count for the hours that had ended by
    ``at``, since such a bucket is known only then.
    """
    ended = max(start, whole_hour(at))
    per_symbol = []
    sources: set[str] = set()
    for symbol in symbols:
        totals = repo.liquidation_totals(symbol, start, ended)
        running = repo.liquidation_totals(symbol, ended, at, events_only=True)
        sources.update(totals.by_source)
        sources.update(running.by_source)
        if totals.count or running.count:
            per_symbol.append(
                SymbolLiquidations(
                    symbol, totals.long_usd + running.long_usd, totals.short_usd + running.short_usd
                )
            )
    largest = [
        LargeLiquidation(r.symbol, r.ts, r.side, r.usd, r.source, False)
        for r in repo.largest_liquidations(None, start, at, LARGEST)
        if r.symbol in symbols
    ]
    if not largest:
        largest = [
            LargeLiquidation(r.symbol, r.ts, r.side, r.usd, r.source, True)
            for r in repo.largest_liquidation_buckets(None, start, ended, LARGEST)
            if r.symbol in symbols
        ]
    return Liquidations(
        long_usd=sum(s.long_usd for s in per_symbol),
        short_usd=sum(s.short_usd for s in per_symbol),
        by_symbol=tuple(per_symbol),
        largest=tuple(largest),
        sources=tuple(sorted(sources)),
    )


def _known_funding(rows: Iterable[Funding], at: int) -> list[Funding]:
    # A settlement is known at its funding time; an hourly bucket (an estimate) once its hour has ended.
    known = list(rows)
    settled = [r for r in known if r.settled and r.ts <= at]
    return settled if settled else [r for r in known if not r.settled and r.ts < whole_hour(at)]


def derivatives_line(repo: Repo, symbol: str, start: int, at: int) -> DerivativesLine | None:
    """Return the funding rate and open interest of ``symbol`` at ``at`` and at ``start``."""
    funding = _known_funding(repo.funding(symbol, start - DAY_MS, at + 1), at)
    now_rate = funding[-1] if funding else None
    before_rate = [r for r in funding if (r.ts <= start if r.settled else r.ts < whole_hour(start))]
    interest = repo.open_interest(symbol, start - DAY_MS, whole_hour(at))
    current: OpenInterest | None = interest[-1] if interest else None
    change: float | None = None
    unit = "usd"
    value: float | None = None
    if current is not None:
        unit = "usd" if current.usd is not None else "contracts"
        value = current.usd if current.usd is not None else current.contracts
        earlier = [r for r in interest if r.source == current.source and r.ts < whole_hour(start)]
        if earlier:
            old = earlier[-1]
            change = pct_change(value, old.usd if unit == "usd" else old.contracts)
    if now_rate is None and current is None:
        return None
    return DerivativesLine(
        symbol=symbol,
        funding_rate=now_rate.rate if now_rate else None,
        funding_rate_before=before_rate[-1].rate if before_rate else None,
        open_interest=value,
        open_interest_unit=unit,
        open_interest_change_pct=change,
    )


def funding_lists(repo: Repo) -> InstrumentRegistry:
    """Return the cached instrument lists that state funding intervals (what /positioning reads live)."""
    return load_cached(repo, InstrumentRegistry(), set(FUNDING_LIST_VENUE.values()))


def positioning_line(
    repo: Repo, symbol: str, at: int, lists: InstrumentRegistry | None = None
) -> PositioningLine | None:
    """Return the summed open interest, OI-weighted funding, a long/short reading and DVOL at ``at``.

    Each venue's funding is put per 8 h at the interval ``lists`` state for it (Gate's and OKX's running
    rates have no settlements to measure it from), as /positioning does.
    """
    funding = repo.funding(symbol, at - 8 * DAY_MS, at + 1)
    intervals = {
        s: interval_hours_of_rows(
            s, [r for r in funding if r.source == s], stated_funding_interval(lists, s, symbol)
        )
        for s in {r.source for r in funding}
    }
    fresh = [r for r in funding if r.ts >= at - DAY_MS]
    # Each venue's open interest of the last two hours, as /positioning sums it; one that stopped is named.
    oi, without = fresh_open_interest(repo.open_interest(symbol, at - DAY_MS, at + 1), at)
    market = aggregate(venue_figures(symbol, oi, fresh, intervals))
    ratios = newest_long_short(repo.long_short(symbol, at - DAY_MS, at + 1))
    # Top traders' positions when published (Binance), else the first reading there is.
    chosen = next((r for r in ratios if r.metric == "top_positions"), ratios[0] if ratios else None)
    dvol = dvol_line(repo.implied_vol(short_symbol(symbol), at - 2 * DAY_MS, at + 1))
    asset = short_symbol(symbol)
    etf = etf_line(repo.etf_flows(asset, *etf_window(at))) if asset in ETF_ASSETS else None
    if not market.venues and chosen is None and dvol is None and etf is None:
        return None
    return PositioningLine(
        symbol=symbol,
        oi_usd=market.oi_usd,
        venues=sum(1 for v in market.venues if v.oi_usd is not None),
        funding_per_8h=market.rate_per_8h,
        weighted=market.weighted,
        long_short=chosen.ratio if chosen else None,
        long_short_label=f"{chosen.source} {METRIC_WORDS.get(chosen.metric, chosen.metric)}"
        if chosen
        else "",
        dvol=dvol.close if dvol else None,
        etf=etf,
        without=without,
    )


def fear_greed_line(repo: Repo, at: int) -> FearGreedLine | None:
    """Return the Fear & Greed value published by ``at`` and the value of the day before it."""
    rows = repo.fear_greed(at - 9 * DAY_MS, at + 1)
    if not rows:
        return None
    today = rows[-1]
    previous = next((r.value for r in rows if r.ts == today.ts - DAY_MS), None)
    return FearGreedLine(today.value, today.classification, today.date, previous)


def build_digest(
    repo: Repo,
    symbols: Sequence[str],
    at: int,
    period_ms: int,
    sections: Sequence[str] = DEFAULT_SECTIONS,
    *,
    guild_id: int | None = None,
) -> Digest:
    """Build the digest of the ``period_ms`` before ``at`` for ``symbols`` with the chosen sections.

    Alerts are those posted for ``guild_id`` (its channel alerts and the config file's), never members'
    personal alerts; with no guild, the config file's.
    """
    start = at - period_ms
    wanted = set(sections)
    prices = tuple(p for s in symbols if (p := price_line(repo, s, start, at))) if "prices" in wanted else ()
    derivatives = (
        tuple(d for s in symbols if (d := derivatives_line(repo, s, start, at)))
        if "derivatives" in wanted
        else ()
    )
    positioning: tuple[PositioningLine, ...] = ()
    if "positioning" in wanted:
        lists = funding_lists(repo)
        positioning = tuple(line for s in symbols if (line := positioning_line(repo, s, at, lists)))
    alerts: tuple[AlertLine, ...] = ()
    total = 0
    if "alerts" in wanted:
        rows, total = repo.channel_events(guild_id, start, at, limit=MAX_ALERTS)
        alerts = tuple(AlertLine(e.rule_id, e.symbol, e.title, e.at) for e in reversed(rows))
    return Digest(
        at=at,
        start=start,
        sections=tuple(s for s in SECTIONS if s in wanted),
        prices=prices,
        liquidations=liquidations(repo, symbols, start, at) if "liquidations" in wanted else None,
        derivatives=derivatives,
        positioning=positioning,
        fear_greed=fear_greed_line(repo, at) if "fng" in wanted else None,
        alerts=alerts,
        alerts_total=total,
        chart_symbol=symbols[0] if "chart" in wanted and symbols else None,
    )


def to_payload(digest: Digest) -> dict[str, Any]:
    """Return a digest as JSON-able data (for the outbox)."""
    return asdict(digest)


def _positioning_from(data: Mapping[str, Any]) -> PositioningLine:
    """Rebuild a positioning line, its ETF day included (a payload from before it has none)."""
    etf = data.get("etf")
    return PositioningLine(**{**data, "etf": EtfLine(**etf) if etf else None})


def from_payload(data: Mapping[str, Any]) -> Digest:
    """Rebuild a digest from ``to_payload`` data."""
    liq = data.get("liquidations")
    fng = data.get("fear_greed")
    return Digest(
        at=int(data["at"]),
        start=int(data["start"]),
        sections=tuple(data.get("sections") or ()),
        prices=tuple(PriceLine(**p) for p in data.get("prices") or ()),
        liquidations=Liquidations(
            long_usd=liq["long_usd"],
            short_usd=liq["short_usd"],
            by_symbol=tuple(SymbolLiquidations(**s) for s in liq["by_symbol"]),
            largest=tuple(LargeLiquidation(**x) for x in liq["largest"]),
            sources=tuple(liq["sources"]),
        )
        if liq
        else None,
        derivatives=tuple(DerivativesLine(**d) for d in data.get("derivatives") or ()),
        positioning=tuple(_positioning_from(p) for p in data.get("positioning") or ()),
        fear_greed=FearGreedLine(**fng) if fng else None,
        alerts=tuple(AlertLine(**a) for a in data.get("alerts") or ()),
        alerts_total=int(data.get("alerts_total") or 0),
        chart_symbol=data.get("chart_symbol"),
        late_by_s=data.get("late_by_s"),
        on_request=bool(data.get("on_request")),
    )
