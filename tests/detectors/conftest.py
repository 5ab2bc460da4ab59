"""Helpers for detector tests: hand-written rows, the real January 2026 data, and a stepping harness.

Every evaluation goes through ``json.dumps``/``json.loads`` of the detector state, as the engine persists
it, so a detector that keeps something not JSON-serialisable (or that depends on object identity between
evaluations) fails here first.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from bot.config import load_config
from detectors.base import MARKET_SYMBOL, Detector, Signal
from detectors.market_history import MarketHistory
from detectors.registry import get_detector
from storage.rows import (
    Candle,
    DepthBand,
    EtfFlow,
    FearGreed,
    Funding,
    ImpliedVol,
    Liquidation,
    LongShort,
    OpenInterest,
)
from tests.conftest import DATA, ROOT
from tests.readable import value_problems

HOUR = 3_600_000
DAY = 86_400_000
# 2026-01-05 00:00 UTC, a Monday: the origin of the synthetic series.
T0 = 1_767_571_200_000


def ms(text: str) -> int:
    """Return UTC epoch ms of an ISO date/time ("2026-01-13 22:00"); a missing zone means UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(t: int) -> str:
    """Return a UTC time in ms as "YYYY-MM-DD HH:MM"."""
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")


# --- synthetic rows ----------------------------------------------------------------------------------


def bars(
    closes: Sequence[float],
    *,
    symbol: str = "BTCUSDT",
    start: int = T0,
    interval: str = "1h",
    volumes: Sequence[float] | None = None,
    spread: float = 0.0,
) -> list[Candle]:
    """Return synthetic candles: each opens at the previous close, wicks ``spread`` beyond open/close."""
    length = {"1m": 60_000, "1h": HOUR, "1d": DAY}[interval]
    rows = []
    previous = closes[0]
    for i, close in enumerate(closes):
        high = max(previous, close) + spread
        low = min(previous, close) - spread
        volume = volumes[i] if volumes is not None else 100.0
        rows.append(
            Candle(symbol, interval, start + i * length, "synthetic", previous, high, low, close, volume)
        )
        previous = close
    return rows


def history_of(*row_lists: Iterable[Any]) -> MarketHistory:
    """Return a MarketHistory holding the given rows, each list routed by its row type."""
    history = MarketHistory()
    for rows in row_lists:
        rows = list(rows)
        if not rows:
            continue
        kind = type(rows[0])
        if kind is Candle:
            history.add_candles(rows)
        elif kind is Liquidation:
            history.add_liquidations(rows)
        elif kind is Funding:
            history.add_funding(rows)
        elif kind is OpenInterest:
            history.add_open_interest(rows)
        elif kind is FearGreed:
            history.add_fear_greed(rows)
        elif kind is LongShort:
            history.add_long_short(rows)
        elif kind is ImpliedVol:
            history.add_implied_vol(rows)
        elif kind is DepthBand:
            history.add_depth(rows)
        elif kind is EtfFlow:
            history.add_etf_flows(rows)
        else:
            raise TypeError(kind)
    return history


def make(name: str, symbol: str = "BTCUSDT", rule_id: str = "rule", **settings: Any) -> Detector:
    """Return a detector of the registered class ``name`` with validated settings."""
    cls = get_detector(name)
    return cls(rule_id, MARKET_SYMBOL if cls.market_wide else symbol, cls.Settings.model_validate(settings))


# --- stepping ----------------------------------------------------------------------------------------


@dataclass
class Run:
    """A detector stepped through time: what each evaluation returned, and when conditions began."""

    detector: Detector
    state: dict[str, Any] = field(default_factory=dict)
    steps: list[tuple[int, list[Signal]]] = field(default_factory=list)
    activations: list[tuple[int, Signal]] = field(default_factory=list)
    largest_state: int = 0  # characters of the largest JSON state seen
    _active: set[str] = field(default_factory=set)

    def at(self, history: MarketHistory, now: int) -> list[Signal]:
        """Evaluate at ``now`` with the persisted state (round-tripped through JSON) and record the result."""
        view = history.view(self.detector.symbol, now)
        signals = self.detector.evaluate(view, self.state)
        text = json.dumps(self.state)
        self.largest_state = max(self.largest_state, len(text))
        self.state = json.loads(text)
        self.steps.append((now, signals))
        keys = set()
        for signal in signals:
            json.dumps(dict(signal.values))  # values must be JSON-serialisable for the outbox
            keys.add(signal.key)
            if signal.key not in self._active:
                self.activations.append((now, signal))
        assert len(keys) == len(signals), f"two signals share a key: {signals}"
        self._active = keys
        return signals

    def over(self, history: MarketHistory, start: int, end: int, step: int = HOUR) -> Run:
        """Evaluate at every ``step`` from ``start`` to ``end`` inclusive."""
        for now in range(start, end + 1, step):
            self.at(history, now)
        return self

    def fired(self) -> list[tuple[str, str, str]]:
        """Return (evaluation time, key, title) of every activation, readable in assertion messages."""
        return [(iso(now), s.key, s.title) for now, s in self.activations]


def run(detector: Detector, history: MarketHistory, start: int, end: int, step: int = HOUR) -> Run:
    """Step ``detector`` over [start, end] and return the Run."""
    return Run(detector).over(history, start, end, step)


# --- the real data -----------------------------------------------------------------------------------


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


@cache
def real_rows() -> dict[str, tuple[Any, ...]]:
    """Return the real January 2026 rows, parsed once, by kind."""
    candles: list[Candle] = []
    for r in _rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv"):
        candles.append(csv_candle("BTCUSDT", r))
    for r in _rows("binance_spot_ETHUSDT_1h_2026-01-09_2026-01-20.csv"):
        candles.append(csv_candle("ETHUSDT", r))
    liquidations: list[Liquidation] = []
    for r in _rows("coinglass_btc_liquidations_1h_2025-11-23_2026-01-20.csv"):
        ts = int(r["timestamp"])
        liquidations.append(Liquidation("BTCUSDT", ts, "coinglass", "long", 0.0, 0.0, float(r["longUsd"])))
        liquidations.append(Liquidation("BTCUSDT", ts, "coinglass", "short", 0.0, 0.0, float(r["shortUsd"])))
    open_interest: list[OpenInterest] = []
    funding: list[Funding] = []
    for r in _rows("coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv"):
        close = int(r["timestamp"]) + HOUR  # the hour's closing value is known at its close
        open_interest.append(OpenInterest("BTCUSDT", close, "binance", None, float(r["oi_close"])))
        # The file gives funding in percent; rows hold decimals. Between settlements it is an estimate.
        funding.append(Funding("BTCUSDT", close, "binance", float(r["funding_close"]) / 100, settled=False))
    for r in _rows("binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv"):
        funding.append(
            Funding(
                "BTCUSDT", int(r["fundingTime"]), "binance", float(r["fundingRate"]), float(r["markPrice"])
            )
        )
    fear_greed = [
        FearGreed(r["date"], ms(r["date"]), int(r["fng"]), None)
        for r in _rows("alternative_me_fear_greed_2018-02-01_2026-01-20.csv")
    ]
    # The short file carries the published labels; the history keeps a label once it has one.
    fear_greed += [
        FearGreed(r["date"], ms(r["date"]), int(r["value"]), r["classification"])
        for r in _rows("alternative_me_fear_greed_2025-12-01_2026-01-20.csv")
    ]
    return {
        "candles": tuple(candles),
        "liquidations": tuple(liquidations),
        "open_interest": tuple(open_interest),
        "funding": tuple(sorted(funding, key=lambda f: f.ts)),
        "fear_greed": tuple(fear_greed),
    }


def csv_candle(symbol: str, r: dict[str, str]) -> Candle:
    """Return the hourly Binance candle of one row of a bundled CSV (timestamp, open ... volume)."""
    return Candle(
        symbol,
        "1h",
        ms(r["timestamp"]),
        "binance",
        float(r["open"]),
        float(r["high"]),
        float(r["low"]),
        float(r["close"]),
        float(r["volume"]),
    )


def real_history() -> MarketHistory:
    """Return a fresh MarketHistory holding all the real January 2026 data.

    Everything is loaded up front; the view's ``now`` hides what was not yet known (a candle until its
    close, open interest and funding until the hour's close, Fear & Greed until 00:00 of its date). The
    hourly CoinGlass liquidation buckets carry their hour's total from its open, so tests step on whole
    hours, where the window [now - 1h, now) holds exactly the hour just closed.
    """
    rows = real_rows()
    history = MarketHistory()
    history.add_candles(rows["candles"])
    history.add_liquidations(rows["liquidations"])
    history.add_open_interest(rows["open_interest"])
    history.add_funding(rows["funding"])
    history.add_fear_greed(rows["fear_greed"])
    return history


def example_rules() -> list[Detector]:
    """Return one detector per [[rules]] entry of config.example.toml, validated as the bot loads them."""
    specs = load_config(ROOT / "config.example.toml").rule_specs()
    detectors = []
    for spec in specs:
        cls = get_detector(spec.common.detector)
        detectors.append(cls(spec.id, spec.common.symbol, spec.settings))
    return detectors


JANUARY = (ms("2026-01-01 00:00"), ms("2026-01-21 00:00"))


@pytest.fixture(autouse=True)
def values_read_in_words(monkeypatch: pytest.MonkeyPatch) -> Iterable[None]:
    """Fail a detector test whose detector returns a value it does not declare, or one that reads raw.

    Every signal goes through ``Detector.signal``; wrapping it here checks each value against the
    detector's ``value_specs`` (``detectors.values``), so a detector added later is held to it by its own
    tests, with no list to keep up to date.
    """
    problems: list[str] = []
    build = Detector.signal

    def checked(self: Detector, **fields: Any) -> Signal:
        signal = build(self, **fields)
        problems.extend(value_problems(type(self), signal.values))
        return signal

    monkeypatch.setattr(Detector, "signal", checked)
    yield
    assert not problems, "\n".join(dict.fromkeys(problems))


@pytest.fixture(scope="session")
def january() -> dict[str, Run]:
    """Return every rule of config.example.toml stepped hourly through 2026-01-01..20 of the real data."""
    history = real_history()
    return {d.rule_id: run(d, history, *JANUARY) for d in example_rules()}
