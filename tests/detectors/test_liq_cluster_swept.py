"""liq_cluster_swept on the real January 2026 data: the break's sweep, a late rule, a restart."""

from __future__ import annotations

from tests.detectors.conftest import make, ms
from tests.detectors.liqmap_support import START, step_live


def test_the_break_sweeps_the_short_clusters_above_the_price_and_says_what_was_realized() -> None:
    result = step_live(make("liq_cluster_swept", min_usd=60e6), START, ms("2026-01-14 06:00"))
    [(at, signal)] = [(at, s) for at, s in result.activations if s.values["side"] == "short"]
    assert at == ms("2026-01-13 23:00")  # the close of the 22:00 candle, high 96,495
    assert signal.title == (
        "BTC $94,329.50–$95,849.38 cluster swept: modelled $152.7M of shorts, $109.0M realized across 1 venue"
    )
    assert signal.values["realized_usd"] == 108_990_315 and signal.values["venues"] == 1
    assert signal.direction == "up"
    assert result.steps[-1][1] == []  # one candle's event: the next evaluation no longer holds it


def test_a_new_rule_learns_the_map_without_firing_and_a_restart_does_not_repeat() -> None:
    # Created just after the break: the sweep happened before it existed.
    late = step_live(make("liq_cluster_swept", min_usd=60e6), ms("2026-01-14 00:00"), ms("2026-01-14 06:00"))
    assert late.activations == []
    # A rule running through the break, then the bot restarts (a new detector, the persisted state).
    before = step_live(make("liq_cluster_swept", min_usd=60e6), START, ms("2026-01-13 23:00"))
    assert len(before.activations) == 1
    rule = make("liq_cluster_swept", min_usd=60e6)
    after = step_live(rule, ms("2026-01-14 00:00"), ms("2026-01-14 06:00"), before.state)
    assert after.activations == []  # the rebuilt map's history only teaches it
