"""liq_cluster_near on the real January 2026 data: price nearing the short clusters of the squeeze."""

from __future__ import annotations

from tests.detectors.conftest import make, ms
from tests.detectors.liqmap_support import START, step_live


def test_price_nearing_a_large_short_cluster_fires_once_until_it_moves_away() -> None:
    rule = make("liq_cluster_near", min_usd=80e6, pct=1.0, side="short")
    result = step_live(rule, START, ms("2026-01-15 00:00"))
    assert [(at, s.title) for at, s in result.activations] == [
        (ms("2026-01-13 16:00"), "BTC +0.54% from the $93,953–$94,897 shorts cluster ($110.6M modelled)"),
        (ms("2026-01-14 15:00"), "BTC +0.33% from the $96,812–$97,784 shorts cluster ($105.6M modelled)"),
    ]
    [(_, first)] = result.activations[:1]
    assert first.values["side"] == "short" and first.values["modelled_usd"] == 110_635_461
    assert first.direction == "up"


def test_long_clusters_below_the_price_fire_for_long_rules() -> None:
    rule = make("liq_cluster_near", min_usd=40e6, pct=1.0, side="long")
    result = step_live(rule, START, ms("2026-01-20 00:00"))
    assert [(at, s.title) for at, s in result.activations] == [
        (ms("2026-01-08 04:00"), "BTC -0.99% from the $89,019–$89,913 longs cluster ($68.7M modelled)"),
        # The 2026-01-19 00:00 candle fell 1.9% toward it (the long squeeze of that night).
        (ms("2026-01-19 00:00"), "BTC -0.50% from the $92,279–$93,205 longs cluster ($68.5M modelled)"),
    ]
    assert all(s.direction == "down" for _, s in result.activations)
