"""The default rules of config.example.toml over the real 2026-01-01..20: quiet stretches stay quiet."""

from __future__ import annotations

from collections import Counter

from tests.detectors.conftest import HOUR, JANUARY, Run, example_rules, iso, real_history, run


def test_quiet_days_fire_at_most_two_alerts_per_symbol_per_day(january: dict[str, Run]) -> None:
    per_day: Counter[tuple[str, str]] = Counter()
    for result in january.values():
        for now, signal in result.activations:
            day = iso(now)[:10]
            if "2026-01-09" <= day <= "2026-01-12":
                per_day[(signal.symbol, day)] += 1
    noisy = {key: n for key, n in per_day.items() if n > 2}
    assert not noisy, noisy
    # Not vacuous: the rules did see those days, and fired on the days of the squeeze.
    busy = Counter(iso(now)[:10] for r in january.values() for now, _ in r.activations)
    assert busy["2026-01-13"] >= 10


# The liquidation-map rules keep their modelled map in their state (so a restart goes on from the same
# map): a few hundred [bin, USD] pairs, bounded by dust removal (bench.liqmap: 19 KB for two rules after
# 21 days of 1m candles). Every other rule keeps a few numbers.
MAP_STATE_LIMIT = {"liq_cluster_near": 30_000, "liq_cluster_swept": 30_000}


def test_every_rule_evaluated_and_kept_its_state_small(january: dict[str, Run]) -> None:
    for rule_id, result in january.items():
        assert len(result.steps) == 20 * 24 + 1, rule_id
        limit = MAP_STATE_LIMIT.get(result.detector.name, 2000)
        assert result.largest_state < limit, (rule_id, result.largest_state)


def test_the_squeeze_hour_is_reported_by_every_kind_of_rule(january: dict[str, Run]) -> None:
    at_23 = {
        rule for rule, r in january.items() for now, _ in r.activations if iso(now) == "2026-01-13 23:00"
    }
    assert {
        "btc-95k",
        "btc-round-5k",
        "eth-round-250",
        "eth-move-24h",
        "btc-volume",
        "eth-volume",
        "btc-liquidations",
        "btc-squeeze",
    } <= at_23


def test_catching_up_every_six_hours_reports_events_once_and_invents_none(january: dict[str, Run]) -> None:
    history = real_history()
    for detector in example_rules():
        hourly = {(s.key, s.at) for _, s in january[detector.rule_id].activations}
        gapped = [(s.key, s.at) for _, s in run(detector, history, *JANUARY, 6 * HOUR).activations]
        assert len(gapped) == len(set(gapped)), detector.rule_id  # each reported once
        assert set(gapped) <= hourly, detector.rule_id  # same event, same market time, only later
        # Two events of one key within one gap are reported as the latest; none is lost entirely.
        assert bool(gapped) == bool(hourly), detector.rule_id
