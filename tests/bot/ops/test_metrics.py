"""The metrics registry and its Prometheus text output, parsed by the reference parser."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pytest

from bot.alerts.engine import Engine
from bot.alerts.live import LiveEvaluator
from bot.notify.outbox import OutboxDispatcher
from bot.ops.instruments import ingest_counts, register_tripwire_metrics, tripwire_instruments
from bot.ops.metrics import Registry, format_value, render
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.repo import PruneResult, Repo
from storage.rows import Candle, Liquidation
from tests.bot.promtext import histogram_rows, parse_strict


def test_every_metric_type_renders_and_parses_back() -> None:
    registry = Registry()
    errors = registry.counter("t_errors", "Errors by kind.", ["kind"])
    errors.inc(kind="timeout")
    errors.inc(2, kind="timeout")
    errors.inc(kind='quote " backslash \\ newline \n end')
    registry.counter("t_plain", "A counter without labels.")
    assert errors.value(kind="timeout") == 3 and errors.value(kind="never") == 0
    depth = registry.gauge("t_depth", "Help with a backslash \\ and\na second line.")
    depth.set(7)
    depth.inc(-2)
    registry.gauge_from("t_lag_seconds", "Lag.", ["feed"], lambda: {("binance_spot",): 1.5, ("okx",): 0.25})
    registry.counter_from("t_seen", "Seen.", ["source", "kind"], lambda: {("bybit", "liquidations"): 12})
    families = parse_strict(registry.render())

    assert families["t_errors"].type == "counter"
    assert {(s.name, s.labels["kind"], s.value) for s in families["t_errors"].samples} == {
        ("t_errors_total", "timeout", 3.0),
        ("t_errors_total", 'quote " backslash \\ newline \n end', 1.0),
    }
    assert [(s.name, s.value) for s in families["t_plain"].samples] == [("t_plain_total", 0.0)]
    assert families["t_depth"].documentation == "Help with a backslash \\ and\na second line."
    assert [s.value for s in families["t_depth"].samples] == [5.0]
    assert {s.labels["feed"]: s.value for s in families["t_lag_seconds"].samples} == {
        "binance_spot": 1.5,
        "okx": 0.25,
    }
    (seen,) = families["t_seen"].samples
    assert (seen.name, seen.labels, seen.value) == (
        "t_seen_total",
        {"source": "bybit", "kind": "liquidations"},
        12,
    )


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    registry = Registry()
    hist = registry.histogram("t_duration_seconds", "Durations.", ["job"], buckets=(0.1, 1.0, 0.5))
    for value in (0.05, 0.1, 0.3, 0.5, 2.0, 7.0):
        hist.observe(value, job="eval")
    hist.observe(0.2, job="other")
    families = parse_strict(registry.render())
    family = families["t_duration_seconds"]
    assert family.type == "histogram"
    buckets, total, count = histogram_rows(family, job="eval")
    # An observation equal to a bound falls in that bucket (le means "less than or equal").
    assert buckets == [(0.1, 2), (0.5, 4), (1.0, 4), (math.inf, 6)]
    assert total == pytest.approx(9.95) and count == 6
    assert histogram_rows(family, job="other")[2] == 1


def test_histogram_time_observes_even_when_the_block_raises() -> None:
    registry = Registry()
    hist = registry.histogram("t_eval_seconds", "Eval.")
    with pytest.raises(RuntimeError), hist.time():
        raise RuntimeError("boom")
    _, total, count = histogram_rows(parse_strict(registry.render())["t_eval_seconds"])
    assert count == 1 and 0 <= total < 1


@pytest.mark.parametrize(
    ("value", "text"),
    [(math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"), (3.0, "3.0"), (1e21, "1e+21")],
)
def test_special_values_use_the_formats_spelling(value: float, text: str) -> None:
    assert format_value(value) == text
    registry = Registry()
    registry.gauge_from("t_value", "A value.", [], lambda: value)
    (sample,) = parse_strict(registry.render())["t_value"].samples
    assert math.isnan(sample.value) if math.isnan(value) else sample.value == value


def test_mistakes_are_refused_when_registering() -> None:
    registry = Registry()
    registry.counter("t_jobs", "Jobs.")
    with pytest.raises(ValueError, match="clashes"):
        registry.gauge("t_jobs_total", "Would render the same name.")
    with pytest.raises(ValueError, match="clashes"):
        registry.counter_from("t_jobs", "Twice.", [], lambda: 1)
    registry.histogram("t_lat", "Latency.")
    with pytest.raises(ValueError, match="clashes"):
        registry.gauge("t_lat_count", "Collides with the histogram's count.")
    with pytest.raises(ValueError, match="leave out _total"):
        registry.counter("t_things_total", "Suffix added twice.")
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.gauge("t-bad", "Dash.")
    with pytest.raises(ValueError, match="invalid label name"):
        registry.gauge("t_ok", "Reserved label.", ["__name"])
    with pytest.raises(ValueError, match="invalid label name"):
        registry.histogram("t_h", "le is the histogram's own label.", ["le"])
    counter = registry.counter("t_c", "C.", ["kind"])
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, kind="x")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(kind="x", extra="y")


def test_a_failing_collector_is_left_out_not_the_whole_scrape(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()

    def broken() -> float:
        raise OSError("database is gone")

    registry.gauge_from("t_broken", "Fails.", [], broken)
    registry.gauge_from("t_wrong_labels", "Returns the wrong label arity.", ["a", "b"], lambda: {("x",): 1})
    registry.gauge_from("t_fine", "Works.", [], lambda: 1)
    registry.gauge_from("t_absent", "Nothing to report yet.", [], lambda: None)
    with caplog.at_level(logging.WARNING, logger="bot.ops.metrics"):
        families = parse_strict(registry.render())
    assert set(families) == {"t_fine"}
    assert "database is gone" in caplog.text and "label values" in caplog.text


def test_empty_registry_renders_nothing() -> None:
    assert Registry().render() == render([]) == ""


@dataclass(frozen=True)
class _Feed:
    name: str
    state: str
    lag_ms: int | None


def test_tripwire_metrics_read_the_live_objects(repo: Repo) -> None:
    ingest = Ingest(repo, MarketHistory())
    ingest.candles([Candle("BTCUSDT", "1m", 0, "binance", 1, 2, 0.5, 1.5, 10.0)])
    ingest.liquidations(
        [
            Liquidation("BTCUSDT", 1, "bybit", "short", 95000.0, 1.0, 95000.0),
            Liquidation("ETHUSDT", 2, "bybit", "long", 3300.0, 2.0, 6600.0),
        ]
    )
    # The real objects, so a renamed counter attribute breaks this test rather than the metrics.
    engine = Engine(repo, MarketHistory(), router=None)  # type: ignore[arg-type]
    engine.fired, engine.silenced, engine.resolved = 3, 1, 2
    dispatcher = OutboxDispatcher(repo, [], lambda: 0)
    dispatcher.delivered, dispatcher.failed, dispatcher.retried = 5, 1, 4
    evaluator = LiveEvaluator(engine, lambda: 0, interval_seconds=15)
    evaluator.evaluations, evaluator.last_duration_s = 7, 0.004
    latency: list[float | None] = [math.inf]
    feeds = [
        _Feed("binance_spot", "ok", 1500),
        _Feed("okx", "stale", None),
        _Feed("bybit", "degraded", 20_000),
    ]
    registry = Registry()
    register_tripwire_metrics(
        registry,
        ingested=lambda: ingest.counts,
        feeds=lambda: feeds,
        engine=engine,
        dispatcher=dispatcher,
        evaluator=evaluator,
        outbox_depth=repo.outbox_depth,
        gateway_latency=lambda: latency[0],
        started_at=1_768_867_200.0,
    )
    instruments = tripwire_instruments(registry)
    instruments.evaluation_seconds.observe(0.003)
    instruments.discord_errors.inc(kind="rate_limited")
    instruments.record_retention(PruneResult({"candles": 10, "outbox": 0}, {}, False, 1))
    families = parse_strict(registry.render())

    def values(name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in families[name].samples}

    ingested = {
        (s.labels["source"], s.labels["kind"]): s.value for s in families["tripwire_events_ingested"].samples
    }
    assert ingested == {("binance", "candles"): 1, ("bybit", "liquidations"): 2}
    assert values("tripwire_feed_state", "feed") == {"binance_spot": 0, "okx": 2, "bybit": 1}
    assert values("tripwire_feed_lag_seconds", "feed") == {"binance_spot": 1.5, "bybit": 20.0}
    assert values("tripwire_alerts", "state") == {"fired": 3, "silenced": 1, "resolved": 2}
    assert values("tripwire_deliveries", "outcome") == {"delivered": 5, "failed": 1, "retried": 4}
    assert families["tripwire_outbox_depth"].samples[0].value == 0
    assert "tripwire_discord_gateway_latency_seconds" not in families  # not connected yet
    assert values("tripwire_discord_errors", "kind") == {"rate_limited": 1}
    assert values("tripwire_retention_deleted_rows", "table") == {"candles": 10, "outbox": 0}
    assert histogram_rows(families["tripwire_evaluation_duration_seconds"])[2] == 1
    assert families["tripwire_evaluations"].samples[0].value == 7
    assert families["tripwire_evaluation_last_duration_seconds"].samples[0].value == 0.004
    assert families["tripwire_start_time_seconds"].samples[0].value == 1_768_867_200.0
    assert families["tripwire_build_info"].samples[0].value == 1

    # Values are read at each scrape, not copied at registration.
    engine.fired = 4
    latency[0] = 0.042
    families = parse_strict(registry.render())
    assert values("tripwire_alerts", "state")["fired"] == 4
    assert families["tripwire_discord_gateway_latency_seconds"].samples[0].value == 0.042


def test_ingest_count_keys_split_at_the_first_colon() -> None:
    assert ingest_counts({"candles:binance": 3, "fear_greed:alternative.me": 1}) == {
        ("binance", "candles"): 3.0,
        ("alternative.me", "fear_greed"): 1.0,
    }


@pytest.mark.parametrize(
    "text",
    [
        "t_x 1\n",  # a sample with no HELP/TYPE
        "# HELP t_x X.\n# TYPE t_x gauge\nt_x 1\n# HELP t_x X.\n# TYPE t_x gauge\nt_x 2\n",  # family twice
        "# HELP t_c C.\n# TYPE t_c counter\nt_c 1\n",  # counter not named *_total
        '# HELP t_x X.\n# TYPE t_x gauge\nt_x{a="un"escaped"} 1\n',  # bad label escaping
        "# HELP t_x X.\n# TYPE t_x gauge\nt_y 1\n",  # sample of another family
        "# HELP t_x X.\n# TYPE t_x gauge\nt_x one\n",  # not a number
        "# HELP t_x X.\n# TYPE t_x gauge\nt_x 1",  # no final line feed
    ],
)
def test_the_strict_parser_rejects_malformed_text(text: str) -> None:
    with pytest.raises((AssertionError, ValueError)):
        parse_strict(text)


def test_the_histogram_check_rejects_non_cumulative_buckets() -> None:
    text = (
        "# HELP t_h H.\n# TYPE t_h histogram\n"
        't_h_bucket{le="0.1"} 3\nt_h_bucket{le="+Inf"} 2\nt_h_sum 1.0\nt_h_count 2\n'
    )
    with pytest.raises(AssertionError, match="cumulative"):
        histogram_rows(parse_strict(text)["t_h"])
