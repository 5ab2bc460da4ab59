"""Instants that bring only liquidations waking no rule are ingested together: the alerts stay the same."""

from __future__ import annotations

import pytest

import bot.replay.pipeline as pipeline
from bench.replay import default_config, replay_once
from bench.synthetic import synthetic_market


def test_skipping_quiet_liquidation_instants_records_the_same_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    # SYNTHETIC data (bench.synthetic's seeded random walk), with four times its usual liquidations so
    # that the cascade and squeeze rules wait on liquidation totals and fire on them.
    data = synthetic_market(6 * 1440, liquidations_per_minute=2.0)
    config = default_config()
    runs: list[int] = []
    quiet_run = pipeline._quiet_run

    def counted(*args: object) -> int:
        end = quiet_run(*args)  # type: ignore[arg-type]
        runs.append(end - int(args[1]))  # type: ignore[call-overload]
        return end

    monkeypatch.setattr(pipeline, "_quiet_run", counted)
    skipping = replay_once(config, data)
    monkeypatch.setattr(pipeline, "_quiet_run", lambda timeline, start, engine: start)
    tick_by_tick = replay_once(config, data)
    assert sum(n - 1 for n in runs if n > 1) > 1000, "many instants were taken together"
    assert {"btc-liquidations", "eth-liquidations"} & set(skipping.by_rule), "a cascade rule fired"
    assert skipping.digest == tick_by_tick.digest
    assert skipping.by_rule == tick_by_tick.by_rule
    assert skipping.summary.evaluated_ticks == tick_by_tick.summary.evaluated_ticks
    assert skipping.summary.rows == tick_by_tick.summary.rows
