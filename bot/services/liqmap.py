"""/liqmap show and /liqmap accuracy, and where a /liqprice answer sits on the map: no ``import discord``.

Building a map reads a few weeks of hourly candles and open interest (tens of milliseconds); the front end
runs ``map`` in a worker thread, then stores the grades it found with ``store`` on the event loop, where
every other write of the bot happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import UserError
from bot.liqmap.build import build_map
from bot.liqmap.grading import VenueAccuracy, accuracy, grade_build, store_grades
from bot.liqmap.view import LiqMapView, check_range, map_view
from bot.services import Service
from detectors.base import format_price, format_usd
from detectors.liqmap.clusters import find_clusters
from detectors.liqmap.tiers import Side
from storage.repo import LiqMapGrade
from storage.rows import DAY_MS


@dataclass(frozen=True, slots=True)
class AccuracyView:
    """The map's running grade per venue, with the settings that define a hit."""

    venues: tuple[VenueAccuracy, ...]
    hit_factor: float
    min_sweep_usd: float
    symbols: tuple[str, ...]


class LiqMapService:
    """Build the liquidation map of a watched symbol and report how well it has predicted sweeps."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.repo = service.repo
        self.params = service.config.liqmap

    def check(self, symbol: str, range_pct: float | None, venue: str | None = None) -> str:
        """Resolve the symbol, check the range and that open interest is stored, before any slow work.

        The front end calls this before deferring, so these mistakes are answered privately.
        """
        check_range(range_pct)
        name = self.service.resolve_symbol(symbol)
        now = self.service.now_ms()
        sources = self.repo.open_interest_sources(name, now - int(self.params.build_days * DAY_MS), now + 1)
        if not sources:
            raise UserError(
                f"no open interest of {name} is stored for the last {self.params.build_days:g} days: the map "
                "is built from its changes"
            )
        if venue is not None and venue not in sources:
            raise UserError(
                f"no open interest of {name} from {venue} is stored (sources: {', '.join(sources)})"
            )
        return name

    def map(self, symbol: str, range_pct: float | None = None, venue: str | None = None) -> LiqMapView:
        """Return the map of a watched symbol as of now (reads only; ``store`` its grades after)."""
        name = self.check(symbol, range_pct, venue)
        return map_view(self.repo, name, self.params, self.service.now_ms(), range_pct=range_pct, venue=venue)

    def store(self, grades: Iterable[LiqMapGrade]) -> int:
        """Store the grades a map found."""
        return store_grades(self.repo, grades)

    def regrade(self) -> list[LiqMapGrade]:
        """Grade the sweeps of every watched symbol's map as of now (reads only; ``store`` them after)."""
        grades: list[LiqMapGrade] = []
        now = self.service.now_ms()
        for symbol in self.service.config.symbols:
            try:
                grades += grade_build(self.repo, build_map(self.repo, symbol, self.params, now), now)
            except UserError:
                continue  # no open interest or candles of this symbol: nothing to grade
        return grades

    def accuracy(self) -> AccuracyView:
        """Return the running grade of the stored sweeps, per venue."""
        graded = self.repo.liqmap_grades()
        return AccuracyView(
            tuple(accuracy(graded, self.params.hit_factor)),
            self.params.hit_factor,
            self.params.min_sweep_usd,
            tuple(sorted({g.symbol for g in graded})),
        )

    def where_on_map(self, symbol: str, side: Side, price: float) -> str | None:
        """Say where a liquidation price sits among the map's modelled clusters of that side, or None."""
        try:
            build = build_map(self.repo, symbol, self.params, self.service.now_ms(), keep_columns=False)
        except UserError:
            return None
        combined = build.combined
        clusters = find_clusters(combined, side)
        if not clusters:
            floor = format_usd(self.params.min_cluster_usd)
            return f"No modelled {side} cluster of {floor} or more is on the map."
        inside = next((c for c in clusters if c.low <= price <= c.high), None)
        if inside is not None:
            return (
                f"Inside the modelled {inside.describe()} cluster ({format_usd(inside.usd)}): a sweep there "
                "would take this position with it."
            )
        closest = min(clusters, key=lambda c: abs(c.mid - price))
        gap = (price - closest.mid) / closest.mid * 100
        ahead = sum(c.usd for c in clusters if (c.mid < price if side == "short" else c.mid > price))
        return (
            f"{abs(gap):.1f}% {'above' if gap > 0 else 'below'} the nearest modelled {side} cluster "
            f"({closest.describe()}, {format_usd(closest.usd)}); {format_usd(ahead)} of modelled {side} "
            f"liquidations sit between the price and {format_price(price)}."
        )
