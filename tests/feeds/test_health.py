"""Feed health: states over time, kinds across providers, announced changes."""

from __future__ import annotations

import pytest

from feeds.health import FeedState, HealthRegistry, StateChange
from tests.feeds.conftest import ManualClock


def test_states_over_the_life_of_a_poller() -> None:
    clock = ManualClock()
    registry = HealthRegistry(clock)
    health = registry.register("p", {"candles"}, ["BTCUSDT"], stale_after_s=60, max_lag_s=120)
    assert health.state() is FeedState.STALE  # nothing yet
    health.success(clock() - 30_000)
    assert health.state() is FeedState.OK and health.snapshot().lag_ms == 30_000
    health.failure("timeout: x")
    assert health.state() is FeedState.DEGRADED
    clock.advance(61)
    assert health.state() is FeedState.STALE  # no success for longer than stale_after
    health.success()  # works again, and the newest data is 91 s old: within max_lag
    assert health.state() is FeedState.OK
    clock.advance(40)
    health.success(clock() - 200_000)  # polls succeed but bring nothing newer: 131 s > max_lag
    assert health.state() is FeedState.STALE and "newest data is 131s old" in health._state(clock())[1]
    health.success(clock())
    assert health.state() is FeedState.OK and health.consecutive_failures == 0


def test_a_stream_is_degraded_while_disconnected_and_a_connect_alone_ends_nothing() -> None:
    clock = ManualClock()
    health = HealthRegistry(clock).register("s", {"liquidations"}, None, stale_after_s=60)
    health.set_connected(True)
    health.alive()
    assert health.state() is FeedState.OK
    health.set_connected(False, "closed by the server")
    assert health.state() is FeedState.DEGRADED
    health.set_connected(True)
    assert health.state() is FeedState.DEGRADED  # until data or a stable connection
    health.clear_failures()
    assert health.state() is FeedState.OK


def test_kinds_across_providers() -> None:
    clock = ManualClock()
    registry = HealthRegistry(clock)
    binance = registry.register("binance", {"liquidations"}, ["BTCUSDT", "ETHUSDT"], stale_after_s=60)
    bybit = registry.register("bybit", {"liquidations", "funding"}, ["BTCUSDT"], stale_after_s=60)
    fng = registry.register("fng", {"fear_greed"}, None, stale_after_s=60)
    fallback = registry.register("coinbase", {"candles"}, ["BTCUSDT"], stale_after_s=60, active=False)
    for health in (binance, bybit, fng, fallback):
        health.success()
    # No active provider: stale (the positioning kinds too, with no positioning feed registered).
    assert registry.stale_kinds("BTCUSDT") == {
        "candles",
        "open_interest",
        "long_short",
        "implied_vol",
        "depth",
        "etf_flow",  # no ETF feed registered
        "predicted_funding",
    }
    clock.advance(61)
    bybit.success()
    states = registry.kind_states("BTCUSDT")
    assert states["liquidations"] is FeedState.DEGRADED  # Bybit's still come, Binance's are stale
    assert "liquidations" not in registry.stale_kinds("BTCUSDT")
    assert "liquidations" in registry.stale_kinds("ETHUSDT")  # only Binance provides ETH
    assert "fear_greed" in registry.stale_kinds("MARKET")
    fallback.active = True
    fallback.success()
    assert "candles" not in registry.stale_kinds("BTCUSDT")


def test_check_announces_each_change_once_and_survives_a_bad_listener() -> None:
    clock = ManualClock()
    registry = HealthRegistry(clock)
    health = registry.register("p", {"candles"}, None, stale_after_s=60)
    seen: list[StateChange] = []

    def broken(change: StateChange) -> None:
        raise RuntimeError("listener bug")

    registry.subscribe(broken)
    registry.subscribe(seen.append)
    assert [(c.old, c.new) for c in registry.check()] == [(None, FeedState.STALE)]
    assert registry.check() == []
    health.success()
    clock.advance(61)
    registry.check()  # stale again: no change seen in between
    health.success()
    (change,) = registry.check()
    assert (change.old, change.new, change.reason) == (FeedState.STALE, FeedState.OK, "ok")
    assert [c.new for c in seen] == [FeedState.STALE, FeedState.OK]
    assert registry.worst() is FeedState.OK


def test_registration_rules() -> None:
    registry = HealthRegistry(ManualClock())
    registry.register("p", {"candles"}, None, stale_after_s=1)
    with pytest.raises(ValueError):
        registry.register("p", {"candles"}, None, stale_after_s=1)
    with pytest.raises(ValueError):
        registry.register("q", {"prices"}, None, stale_after_s=1)
