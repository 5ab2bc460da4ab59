"""Build the measured map of a symbol from the stored Hyperliquid sample: real liquidation prices, binned.

Each sampling round stored the sampled accounts' positions with the venue's own ``liquidationPx``
(feeds/hyperliquid_sample.py); an hour keeps its last round. Walking the hourly candles, the newest round
taken before a candle opened is the map that candle meets: the candle consumes the bins it trades through
(the same rule as the modelled map, ``LiqMap.step`` with no open interest), so a run of candles through
measured bins is a sweep, graded against the venues' realized liquidations exactly like a modelled one.
The map "open now" is the newest round.

The sample holds a small share of the venue's open interest (its ``coverage``), so its USD is scaled to the
venue (÷ coverage) before it is binned: clusters, sweeps and grades then speak of the same whole-venue
USD as the modelled map and obey the same floors (``min_cluster_usd``, ``min_sweep_usd``); the view says
both figures, the sample's and the scaled one. The scaling assumes the sampled accounts (the most recently
seen trading) are placed like the rest of the venue's: the grade is what checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.charts.data import load_candles, utc_text
from bot.errors import UserError
from bot.liqmap.build import STEP_INTERVAL, MapBuild
from detectors.liqmap.model import LiqMap
from detectors.liqmap.params import LiqMapParams
from detectors.liqmap.sweeps import SweepTracker
from storage.repo import MeasuredSample, Repo
from storage.rows import DAY_MS, HOUR_MS

MEASURED_VENUE = "hyperliquid"
# The measured map's name in its sweeps and grades (``model_venue``): apart from a modelled map of
# Hyperliquid's own open interest (feeds/positioning.py stores it), whose sweeps are named "hyperliquid".
MEASURED_MODEL = "hyperliquid-measured"
# Hours drawn before the first round, so a young sample still shows the price it was taken against.
CONTEXT_HOURS = 24


@dataclass
class MeasuredBuild:
    """The measured map of one symbol at ``build.end`` and the round it ends with."""

    build: MapBuild
    sample: MeasuredSample


def no_sample_message(symbol: str, at: int) -> str:
    """Say why there is no measured map, and how to get one."""
    return (
        f"no measured Hyperliquid positions of {symbol} are stored before {utc_text(at)} UTC: the sample "
        "runs with [liqmap.hyperliquid] enabled = true (and [feeds.hyperliquid])"
    )


def venue_scale(sample: MeasuredSample) -> float:
    """Return the factor from the sample's USD to the venue's: 1 / coverage (1 if no open interest)."""
    return 1 / sample.coverage if sample.coverage > 0 else 1.0


def _load(repo: Repo, m: LiqMap, sample: MeasuredSample) -> None:
    """Replace the map's bins with a round's positions at their liquidation prices, scaled to the venue."""
    m.longs, m.shorts = {}, {}
    scale = venue_scale(sample)
    for p in repo.measured_positions(sample.venue, sample.symbol, sample.hour):
        if p.liquidation_px is None or p.liquidation_px <= 0:
            continue  # the account's margin covers any move: no liquidation price to place
        bins = m.side_bins(p.side)
        key = m.bin_of(p.liquidation_px)
        bins[key] = bins.get(key, 0.0) + p.value_usd * scale


def build_measured(
    repo: Repo, symbol: str, params: LiqMapParams, end: int, *, keep_columns: bool = True
) -> MeasuredBuild:
    """Build the measured map of ``symbol`` from the rounds stored before ``end`` (UTC ms)."""
    start = end - int(params.build_days * DAY_MS)
    samples = repo.measured_samples(MEASURED_VENUE, symbol, start, end + 1)
    if not samples:
        raise UserError(no_sample_message(symbol, end))
    first = min(samples[0].hour, end - CONTEXT_HOURS * HOUR_MS)
    bars = [b for b in load_candles(repo, symbol, STEP_INTERVAL, first, end).bars if b.close_time <= end]
    m = LiqMap(params, symbol, MEASURED_MODEL)
    build = MapBuild(symbol, params, end, bars, {MEASURED_VENUE: m})
    tracker = SweepTracker(m)
    loaded: MeasuredSample | None = None
    waiting = list(samples)
    for bar in bars:
        newest = None
        while waiting and waiting[0].ts <= bar.open_time:
            newest = waiting.pop(0)
        if newest is not None:
            _load(repo, m, newest)
            loaded = newest
        build.sweeps += tracker.add(m.step(bar, None))
        if keep_columns:
            build.columns.append((bar.close_time, dict(m.longs), dict(m.shorts)))
    build.sweeps += tracker.open_sweeps()
    # Rounds taken since the last closed candle opened: the newest of them is the map now.
    final = waiting[-1] if waiting else (loaded or samples[-1])
    if final is not loaded:
        _load(repo, m, final)
    return MeasuredBuild(build, final)
