"""liquidation_cascade: a rolling window of liquidations over a threshold and a multiple of its baseline."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.market_history import MarketHistory
from storage.rows import Liquidation, Side
from tests.detectors.conftest import HOUR, T0, Run, example_rules, history_of, make, ms, real_history, run

MINUTE = 60_000
M = 1_000_000.0
START = T0 + 24 * HOUR  # synthetic events start after a day of background
SIDES: tuple[Side, ...] = ("long", "short")


def background(usd_per_hour: float, symbol: str = "BTCUSDT") -> list[Liquidation]:
    """Return synthetic background liquidations: usd_per_hour of each side, one event every 10 minutes."""
    rows = []
    for k in range(0, 48 * 6):
        ts = T0 + k * 10 * MINUTE
        for side in SIDES:
            rows.append(Liquidation(symbol, ts, "binance", side, 0.0, 0.0, usd_per_hour / 6))
    return rows


def burst(
    side: Side, usd: float, start: int = START + 2 * HOUR, minutes: int = 30, source: str = "binance"
) -> list[Liquidation]:
    """Return synthetic liquidations of ``usd`` spread over ``minutes`` (one event a minute)."""
    return [
        Liquidation("BTCUSDT", start + m * MINUTE, source, side, 0.0, 0.0, usd / minutes)
        for m in range(minutes)
    ]


def stepped(history: MarketHistory, **options: Any) -> Run:
    """Step a cascade rule every 10 minutes from START for 8 hours."""
    options.setdefault("min_usd", 10 * M)
    return run(make("liquidation_cascade", **options), history, START, START + 8 * HOUR, 10 * MINUTE)


CASES = [
    pytest.param(0.1 * M, [("short", 12 * M)], {}, ["short"], id="shorts-over-threshold"),
    pytest.param(0.1 * M, [("short", 8 * M)], {}, [], id="under-threshold"),
    pytest.param(3 * M, [("short", 10.5 * M)], {}, [], id="under-5x-a-busy-baseline"),
    pytest.param(3 * M, [("short", 16 * M)], {}, ["short"], id="over-5x-a-busy-baseline"),
    pytest.param(0.1 * M, [("long", 12 * M)], {"side": "short"}, [], id="side-filter"),
    pytest.param(0.1 * M, [("long", 12 * M), ("short", 11 * M)], {}, ["long", "short"], id="both-sides"),
]


@pytest.mark.parametrize(("noise", "bursts", "options", "expected"), CASES)
def test_cascades_table(
    noise: float, bursts: list[tuple[Side, float]], options: dict[str, Any], expected: list[str]
) -> None:
    rows = background(noise)
    for side, usd in bursts:
        rows += burst(side, usd)
    result = stepped(history_of(rows), **options)
    assert sorted(s.key for _, s in result.activations) == expected


def test_fires_as_the_window_crosses_and_resolves_when_calm() -> None:
    # Synthetic: 12M of shorts over 30 minutes from START + 2h, on 0.1M/h of background.
    result = stepped(history_of(background(0.1 * M), burst("short", 12 * M)))
    ((now, signal),) = result.activations
    # After 25 minutes 10M is reached; the first evaluation at or after it is START + 2h30.
    assert now == signal.at == START + 2 * HOUR + 30 * MINUTE
    assert signal.stateful and signal.direction == "up" and signal.kind == "short_liquidations"
    assert signal.title == "$12.1M of BTC shorts liquidated in 1h"  # the burst and 0.1M of background
    assert signal.severity == "warning"
    active = [n for n, signals in result.steps if signals]
    # Active until the 1h window holds less than 5M (half of min_usd): the burst leaves it at 3h05-3h20.
    assert active[0] == START + 2 * HOUR + 30 * MINUTE and active[-1] == START + 3 * HOUR + 10 * MINUTE


def test_sums_across_exchanges_and_reports_each() -> None:
    rows = (
        background(0.1 * M)
        + burst("short", 5 * M)
        + burst("short", 4 * M, source="bybit")
        + burst("short", 3 * M, source="okx")
    )
    ((_, signal),) = stepped(history_of(rows)).activations
    assert set(signal.values["by_source"]) == {"binance", "bybit", "okx"}
    assert signal.values["by_source"]["okx"] == pytest.approx(3 * M)
    assert signal.values["usd"] == pytest.approx(sum(signal.values["by_source"].values()))


def test_first_evaluation_inside_a_cascade_does_not_fire_but_the_next_cascade_does() -> None:
    rows = (
        background(0.1 * M)
        + burst("short", 12 * M, start=START - 40 * MINUTE)
        + burst("short", 12 * M, start=START + 4 * HOUR)
    )
    result = stepped(history_of(rows))
    assert [now for now, _ in result.activations] == [START + 4 * HOUR + 30 * MINUTE]


def test_catch_up_reports_a_missed_cascade_once() -> None:
    history = history_of(background(0.1 * M), burst("short", 12 * M))
    result = Run(make("liquidation_cascade", min_usd=10 * M))
    result.at(history, START)
    late = result.at(history, START + 6 * HOUR)  # the burst began and ended meanwhile
    assert [(s.key, s.at) for s in late] == [("short", START + 3 * HOUR)]
    assert late[0].values["usd"] == pytest.approx(12.1 * M)
    assert result.at(history, START + 6 * HOUR + 10 * MINUTE) == []


def test_real_btc_short_cascade_of_the_13th(january: dict[str, Run]) -> None:
    result = january["btc-liquidations"]
    fired = {now: s for now, s in result.activations}
    signal = fired[ms("2026-01-13 23:00")]
    assert signal.key == "short" and signal.title == "$109.0M of BTC shorts liquidated in 1h"
    assert signal.values["usd"] == pytest.approx(109.0 * M, rel=0.001)
    assert signal.values["other_side_usd"] == pytest.approx(9.9 * M, rel=0.01)
    assert signal.values["multiple_of_baseline"] > 50
    assert signal.severity == "critical"
    # It calms down within the next hour: the condition is no longer returned at 00:00.
    assert dict(result.steps)[ms("2026-01-14 00:00")] == []


def test_eth_cascade_from_a_synthetic_series() -> None:
    # There is no ETH liquidation series in the data: this one is SYNTHETIC. $60M of ETH shorts spread over
    # the real 2026-01-13 22:00 hour on three venues, on a background of $0.5M of each side per hour on
    # the same venues (the baseline is measured on the venues known for the whole day before).
    rows = []
    for hour in range(48):
        ts = ms("2026-01-12 00:00") + hour * HOUR
        for side in SIDES:
            for source in ("binance", "bybit", "okx"):
                rows.append(Liquidation("ETHUSDT", ts, source, side, 0.0, 0.0, 0.5 * M / 3))
    for minute in range(60):
        for source, usd in (("binance", 30 * M), ("bybit", 20 * M), ("okx", 10 * M)):
            rows.append(
                Liquidation(
                    "ETHUSDT", ms("2026-01-13 22:00") + minute * MINUTE, source, "short", 0.0, 0.0, usd / 60
                )
            )
    history = real_history()
    history.add_liquidations(rows)
    detector = next(d for d in example_rules() if d.rule_id == "eth-liquidations")
    result = run(detector, history, ms("2026-01-13 00:00"), ms("2026-01-14 06:00"))
    assert [(s.key, s.at, round(s.values["usd"] / M, 1)) for _, s in result.activations] == [
        ("short", ms("2026-01-13 23:00"), 60.5)  # 60M + the hour's synthetic 0.5M background
    ]


def test_an_hourly_bucket_survives_an_evaluation_milliseconds_after_the_hour() -> None:
    # SYNTHETIC hourly buckets, like CoinGlass': $30M of shorts in the 15:00 hour on a quiet background.
    # They start a day before the cascade, so the venue's baseline is known.
    hours = [(START + h * HOUR, 30 * M if h == 5 else 0.1 * M) for h in range(-24, 8)]
    rows = [Liquidation("BTCUSDT", ts, "coinglass", "short", 0.0, 0.0, usd) for ts, usd in hours]
    detector = make("liquidation_cascade", min_usd=10 * M)
    result = Run(detector)
    history = history_of(background(0.1 * M), rows)
    result.at(history, START + 5 * HOUR)
    # The engine also evaluates when a funding settlement arrives, stamped a few ms past the hour.
    assert [s.key for s in result.at(history, START + 6 * HOUR + 9)] == ["short"]
    assert [s.key for s in result.at(history, START + 6 * HOUR + 30_000)] == ["short"]
    assert result.at(history, START + 6 * HOUR + 61_000) == []  # the hour has left the 60-minute window


# --- the baseline must be known before the window is compared with it (issue 22) ---------------------


def test_a_first_start_learns_the_baseline_before_it_can_fire_and_says_until_when() -> None:
    # Synthetic: the bot's first liquidation arrives at START (nothing known before), and 12M of shorts
    # pile up from START + 2h. Against the $0 "baseline" of the unknown day before it fired at once.
    first = [Liquidation("BTCUSDT", START, "binance", "short", 0.0, 0.0, 10_000.0)]
    detector = make("liquidation_cascade", min_usd=10 * M, baseline_hours=6)
    history = history_of(first + burst("short", 12 * M))
    early = Run(detector).over(history, START, START + 6 * HOUR, 10 * MINUTE)
    assert early.activations == []
    # Known once the 6h baseline before a 1h window is covered: from START + 7h.
    learning = detector.describe_now(history.view("BTCUSDT", START + 3 * HOUR), {})
    assert learning == (
        "Learning the baseline until 2026-01-06 07:00 UTC (BTC liquidations are known from 2026-01-06 00:00 "
        "UTC): the rule cannot fire before; a cascade still under way then fires it."
    )
    assert ms("2026-01-06T00:00Z") == START
    nothing = make("liquidation_cascade").describe_now(MarketHistory().view("BTCUSDT", START), {})
    assert nothing == (
        "No BTC liquidation is known yet: the rule learns the baseline for 24h from the first one and "
        "cannot fire before."
    )


def test_a_cascade_still_under_way_when_the_baseline_becomes_known_fires_then() -> None:
    # Synthetic: liquidations known from START; a 3-hour, 36M pile of shorts from START + 5h.
    first = [Liquidation("BTCUSDT", START, "binance", "short", 0.0, 0.0, 10_000.0)]
    long_burst = burst("short", 36 * M, start=START + 5 * HOUR, minutes=180)
    detector = make("liquidation_cascade", min_usd=10 * M, baseline_hours=6)
    result = Run(detector).over(history_of(first + long_burst), START, START + 9 * HOUR, 10 * MINUTE)
    ((now, signal),) = result.activations
    assert now == START + 7 * HOUR
    # The baseline is the 6 known hours before the window: the pile's first hour (12M) and the first event.
    assert signal.values["baseline_usd"] == pytest.approx((12 * M + 10_000) / 6, abs=0.01)


def test_a_rule_created_during_a_cascade_says_it_waits_for_the_next_one() -> None:
    history = history_of(background(0.1 * M), burst("short", 12 * M))
    detector = make("liquidation_cascade", min_usd=10 * M)
    now = START + 2 * HOUR + 40 * MINUTE
    state: dict[str, Any] = {}
    assert detector.evaluate(history.view("BTCUSDT", now), state) == []  # learnt, not fired on
    assert detector.describe_now(history.view("BTCUSDT", now), state) == (
        "A cascade of BTC shorts is under way (over $10.0M in 1h): this rule fires on the next one, once "
        "the window has fallen below $5.0M."
    )
    calm: dict[str, Any] = {}
    quiet_time = START + HOUR
    detector.evaluate(history.view("BTCUSDT", quiet_time), calm)
    assert detector.describe_now(history.view("BTCUSDT", quiet_time), calm) is None


def test_the_ratio_is_measured_on_the_venues_whose_baseline_is_known() -> None:
    # Synthetic: OKX's REST history reaches back two days; Binance streams from START only, so the day
    # before a window is known from OKX alone. The window must be over min_usd on all venues and over
    # multiple × baseline on OKX: Binance's 12M alone is no cascade against OKX's quiet day...
    okx_days = [
        Liquidation("BTCUSDT", START + h * HOUR, "okx", "short", 0.0, 0.0, 20_000.0) for h in range(-40, 8)
    ]
    binance = [Liquidation("BTCUSDT", START, "binance", "short", 0.0, 0.0, 10_000.0)]
    history = history_of(okx_days + binance + burst("short", 12 * M))
    assert history.view("BTCUSDT", START + HOUR).liquidations_known_from() == {
        "okx": START - 40 * HOUR,
        "binance": START,
    }
    assert stepped(history).activations == []
    # ...while OKX liquidating 3M of shorts at the same time is (over 5 × its $20k an hour of the day).
    both = history_of(okx_days + binance + burst("short", 12 * M) + burst("short", 3 * M, source="okx"))
    ((_, signal),) = stepped(both).activations
    # At the first 10-minute step over min_usd (all venues): 20 of the 30 minutes of both bursts.
    assert signal.values["usd"] == pytest.approx(8 * M + 2 * M + 20_000)
    okx = signal.values["by_source"]["okx"]
    assert signal.values["baseline_usd"] == pytest.approx(20_000)
    assert signal.values["multiple_of_baseline"] == pytest.approx(okx / 20_000, abs=0.01)


def market_burst(
    symbol: str, usd: float, start: int = START + 2 * HOUR, minutes: int = 30
) -> list[Liquidation]:
    """Return SYNTHETIC short liquidations of one market, ``usd`` over ``minutes``."""
    return [
        Liquidation(symbol, start + m * MINUTE, "binance", "short", 0.0, 0.0, usd / minutes)
        for m in range(minutes)
    ]


def test_a_group_sums_its_markets_and_names_the_largest() -> None:
    """SYNTHETIC: no single market reaches $10M, the three together do: the group fires, BTC alone not."""
    rows = background(0.1 * M) + background(0.1 * M, "ETHUSDT") + background(0.1 * M, "SOLUSDT")
    rows += market_burst("BTCUSDT", 6 * M) + market_burst("ETHUSDT", 4 * M) + market_burst("SOLUSDT", 1 * M)
    history = history_of(sorted(rows, key=lambda r: r.ts))
    assert stepped(history).activations == []
    ((_, signal),) = stepped(history, markets=["ethusdt", "SOLUSDT"]).activations
    assert signal.key == "short"
    by_market = signal.values["by_market"]
    assert list(by_market) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # largest first
    assert signal.values["usd"] == pytest.approx(sum(by_market.values()))
    assert signal.title.startswith("BTC+ETH+SOL: $11.")
    assert "of shorts liquidated across 3 coins in 1h, BTC $6." in signal.title
    # Every market with data: the same three here, said as market-wide.
    ((_, everything),) = stepped(history, markets=["*"]).activations
    assert everything.title.startswith("market-wide: $11.") and "across 3 coins" in everything.title


def test_markets_option_is_validated() -> None:
    with pytest.raises(ValueError, match="stands alone"):
        make("liquidation_cascade", markets=["*", "ETHUSDT"])
    with pytest.raises(ValueError, match="is not a market name"):
        make("liquidation_cascade", markets=["ETH/USDT"])
