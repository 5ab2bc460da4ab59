"""Backtests over the bundled January 2026 data: the same detector and engine code, a simulated clock."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from bot import config as config_module
from bot.__main__ import main
from bot.alerts import rules as rules_module
from bot.cli.common import scenario_data_repo
from bot.config import BacktestConfig, load_config
from bot.errors import UserError
from bot.replay import backtest as backtest_module
from bot.replay.backtest import BacktestLimits, backtest
from detectors.base import Detector, DetectorSettings, Signal, Snapshot
from detectors.registry import detector_classes
from feeds.replay import load_directory, parse_time, store_recorded
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import Candle
from tests.conftest import ROOT

SCENARIO = ROOT / "bot" / "scenario"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BTC_95K_UP = {"detector": "level_cross", "symbol": "BTCUSDT", "level": 95000, "direction": "up"}


@pytest.fixture(scope="module")
def stored() -> Iterator[Repo]:
    """The bundled data stored (not replayed): no rules, no alerts, only history."""
    repo = scenario_data_repo(SCENARIO)
    yield repo
    repo.close()


def test_btc_crossing_95k_up_fires_once_at_the_breakout(stored: Repo) -> None:
    result = backtest(stored, BTC_95K_UP)
    assert result.fire_count == 1
    ((at, title, values),) = result.firings()
    assert at == parse_time("2026-01-13T23:00Z")
    assert title == "BTC broke above $95,000"
    assert values["price"] == 95_757.21
    # The whole stored span (2026-01-01..20) is within the default 30 days.
    assert (result.start, result.end) == (parse_time("2026-01-01"), parse_time("2026-01-21"))
    assert result.candles == 480
    assert result.chart_png is not None and result.chart_png.startswith(PNG_SIGNATURE)


def test_daily_close_confirmation_fires_at_the_close_of_01_13(stored: Repo) -> None:
    result = backtest(stored, {**BTC_95K_UP, "confirm": "1d"}, chart=False)
    assert [a.at for a in result.fired] == [parse_time("2026-01-14T00:00Z")]
    assert result.fired[0].values["price"] == 95_414.0
    assert result.chart_png is None


@pytest.mark.parametrize("confirm", [None, "1h"])
def test_eth_never_reaches_3500(stored: Repo, confirm: str | None) -> None:
    rule = {
        "detector": "level_cross",
        "symbol": "ETHUSDT",
        "level": 3500,
        "direction": "up",
        "confirm": confirm,
    }
    result = backtest(stored, rule, chart=False)
    assert result.alerts == ()
    assert result.candles == 258 and result.evaluations > 0


def test_engine_lifecycle_applies_cooldown_and_one_shot(stored: Repo) -> None:
    either = {**BTC_95K_UP, "direction": "either", "cooldown_seconds": 0}
    noisy = backtest(stored, either, chart=False)
    assert noisy.fire_count > 2 and not any(a.late for a in noisy.fired)
    assert backtest(stored, {**either, "repeat": False}, chart=False).fire_count == 1
    # With a day of cooldown, a crossing within a day of the last one of its direction is held back and
    # posted (late) once the day has passed, by the engine, exactly as live.
    day = backtest(stored, {**either, "cooldown_seconds": 86_400}, chart=False)
    assert any(a.late and a.recorded_at > a.at for a in day.fired)
    for direction in ("up", "down"):
        posted = [a.recorded_at for a in day.fired if a.values["direction"] == direction]
        assert all(b - a >= 86_400_000 for a, b in pairwise(posted))


def test_a_window_opened_above_the_level_learns_its_side_and_stays_quiet(stored: Repo) -> None:
    # Warm-up history before the window tells the rule price is already above 95k on 01-14.
    result = backtest(stored, BTC_95K_UP, start=parse_time("2026-01-14"), chart=False)
    assert result.fired == ()
    assert result.start == parse_time("2026-01-14") and result.candles == 168


def test_an_existing_rule_by_id_even_a_paused_one(tmp_path: Path) -> None:
    repo = scenario_data_repo(SCENARIO)
    paused = RuleRow(
        id="g1-btc",
        origin="discord",
        detector="level_cross",
        symbol="BTCUSDT",
        settings={"level": 95000, "direction": "up"},
        guild_id=1,
        enabled=False,
        status_reason="paused",
    )
    repo.save_rule(paused)
    result = backtest(repo, "g1-btc", chart=False)
    assert result.rule == paused
    assert [a.at for a in result.fired] == [parse_time("2026-01-13T23:00Z")]
    # The source database is only read: no events, no state, the rule still paused.
    assert repo.events() == [] and repo.detector_state("g1-btc") is None
    assert repo.rule("g1-btc") == paused
    with pytest.raises(UserError, match="no rule with id 'nope'"):
        backtest(repo, "nope")
    repo.close()


def test_a_rule_spec_from_the_config_file(stored: Repo) -> None:
    specs = {s.id: s for s in load_config(SCENARIO / "config.example.toml").rule_specs()}
    result = backtest(stored, specs["btc-95k-daily-close"], chart=False)
    assert result.rule.id == "btc-95k-daily-close"
    assert [a.at for a in result.fired] == [parse_time("2026-01-14T00:00Z")]


def test_an_invalid_rule_lists_its_problems(stored: Repo) -> None:
    with pytest.raises(UserError) as info:
        backtest(stored, {"detector": "level_cross", "symbol": "BTCUSDT", "level": -1, "colour": "red"})
    assert "level: Input should be greater than 0" in info.value.message
    assert "colour: unknown option" in info.value.message
    with pytest.raises(UserError, match="unknown detector 'nope'"):
        backtest(stored, {"detector": "nope", "symbol": "BTCUSDT"})
    with pytest.raises(UserError, match="symbol: a symbol is required"):
        backtest(stored, {"detector": "level_cross", "level": 1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"limits": BacktestLimits(max_days=5)},
            "a backtest covers at most 5 days; that window is 20.0 days",
        ),
        ({"limits": BacktestLimits(max_candles=100)}, "480 candles of BTCUSDT .* limited to 100"),
        ({"days": 0}, "days must be more than 0 and at most 90"),
        ({"days": 91}, "days must be more than 0 and at most 90"),
        (
            {"start": parse_time("2025-03-01"), "end": parse_time("2025-04-01")},
            "nothing of BTCUSDT is stored",
        ),
        ({"start": parse_time("2026-01-10"), "end": parse_time("2026-01-09")}, "ends .* before it starts"),
    ],
)
def test_limits_and_empty_windows_are_user_errors(
    stored: Repo, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        backtest(stored, BTC_95K_UP, chart=False, **options)


def test_a_window_inside_the_limits_is_accepted(stored: Repo) -> None:
    result = backtest(
        stored, BTC_95K_UP, days=5, limits=BacktestLimits(max_days=5, max_candles=120), chart=False
    )
    assert result.end == parse_time("2026-01-21") and result.start == parse_time("2026-01-16")
    assert result.candles == 120


def test_limits_default_to_the_config_files_backtest_section() -> None:
    assert BacktestLimits.from_config(BacktestConfig()) == BacktestLimits()
    section = BacktestConfig(max_days=180, max_candles=300_000, default_days=14, warmup_days=2)
    assert BacktestLimits.from_config(section) == BacktestLimits(180, 300_000, 14, 2)


# --- 90 days of 1m candles, as a live bot stores them --------------------------------------------------

LIVE_T0 = parse_time("2025-09-01")
MINUTES_FROM = LIVE_T0 + 30 * 86_400_000  # 1m candles from day 30; before that only 1h ones
LIVE_END = LIVE_T0 + 127 * 86_400_000
# One 1m close above $95,000, at 14:37 UTC on day 100, back below the next minute: its hour closes below.
SPIKE_OPEN = LIVE_T0 + 100 * 86_400_000 + (14 * 60 + 37) * 60_000
# Another one in the warm-up week before the window: ingested, never evaluated.
WARMUP_SPIKE_OPEN = LIVE_T0 + 33 * 86_400_000


@pytest.fixture(scope="module")
def live_minutes() -> Iterator[Repo]:
    """A database shaped like a live bot's: synthetic (made-up) BTCUSDT prices, 97 days of 1m candles
    (days 30-127) and 1h candles over all 127 days (folded from pruned minutes, or imported)."""
    repo = Repo(open_database(":memory:"))
    hours = [
        Candle("BTCUSDT", "1h", t, "synthetic", 94_000, 94_000, 94_000, 94_000, 60.0)
        for t in range(LIVE_T0, LIVE_END, 3_600_000)
    ]
    minutes = []
    for i, t in enumerate(range(MINUTES_FROM, LIVE_END, 60_000)):
        close = 95_120.0 if t in (SPIKE_OPEN, WARMUP_SPIKE_OPEN) else 94_000 + 500 * math.sin(i / 500)
        minutes.append(Candle("BTCUSDT", "1m", t, "synthetic", 94_000, close + 5, 93_995, close, 1.0))
    repo.upsert_candles(hours + minutes)
    yield repo
    repo.close()


def test_90_days_of_1m_candles_are_backtested_and_the_one_minute_crossing_found(live_minutes: Repo) -> None:
    stored = sum(
        c.rows for c in live_minutes.candle_coverage("BTCUSDT", LIVE_END - 90 * 86_400_000, LIVE_END)
    )
    assert stored == 90 * 1440 + 90 * 24 > 50_000, "what the old limit counted, and refused"
    result = backtest(live_minutes, BTC_95K_UP, days=90, chart=False)
    # Only the minutes are replayed and counted: where minutes are stored, the hours are not replayed.
    assert result.candles == 90 * 1440
    assert (result.start, result.end) == (LIVE_END - 90 * 86_400_000, LIVE_END)
    ((at, title, values),) = result.firings()
    assert at == SPIKE_OPEN + 60_000 and values["price"] == 95_120.0
    assert title == "BTC broke above $95,000"


def test_a_window_over_the_configured_candle_limit_is_still_refused(live_minutes: Repo) -> None:
    limits = BacktestLimits(max_candles=100_000)
    with pytest.raises(
        UserError, match=r"^129,600 candles of BTCUSDT .* limited to 100,000 \(shorten the window\)"
    ):
        backtest(live_minutes, BTC_95K_UP, days=90, limits=limits, chart=False)
    # A window within the limit, over the minutes alone, runs.
    result = backtest(live_minutes, BTC_95K_UP, days=60, limits=limits, chart=False)
    assert result.candles == 60 * 1440 and result.fire_count == 1


class _GreedSettings(DetectorSettings):
    at_least: int = Field(ge=0, le=100)


class _Greed(Detector[_GreedSettings]):
    """Test-only market-wide detector: Fear & Greed at or above a value (a state, announced when it ends)."""

    name: ClassVar[str] = "test_greed"
    description: ClassVar[str] = "test"
    Settings: ClassVar[type[DetectorSettings]] = _GreedSettings
    market_wide: ClassVar[bool] = True
    uses: ClassVar[tuple[str, ...]] = ("fear_greed",)

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        settings = self.settings
        latest = snapshot.fear_greed(count=1)
        if not latest or latest[-1].value < settings.at_least:
            return []
        point = latest[-1]
        title = f"Fear & Greed at {point.value}"
        return [
            self.signal(
                kind="greed",
                severity="info",
                title=title,
                values={"value": point.value},
                at=point.ts,
                stateful=True,
            )
        ]


def test_a_market_wide_rule_runs_on_fear_and_greed(stored: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    classes = {**detector_classes(), _Greed.name: _Greed}
    for module in (config_module, rules_module, backtest_module):
        monkeypatch.setattr(module, "detector_classes", lambda: classes)
    result = backtest(stored, {"detector": "test_greed", "at_least": 60})
    # 61 (Greed), published 2026-01-15, was the only value of 60 or more in the last 30 days.
    assert [(a.state, a.at, a.announced) for a in result.alerts] == [
        ("firing", parse_time("2026-01-15"), True),
        ("resolved", parse_time("2026-01-16"), True),
    ]
    assert result.fired[0].values == {"value": 61}
    assert result.candles == 0 and result.chart_png is None


# --- the command line ------------------------------------------------------------------------------


def test_cli_text_prints_the_alert_then_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "backtest", "--rule", "btc-95k"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2026-01-13 23:00 UTC  BTCUSDT  warning  BTC broke above $95,000  <btc-95k>")
    assert lines[1].startswith(
        "backtest of btc-95k (level_cross, BTCUSDT) over 2026-01-01 00:00 → 2026-01-21 00:00 UTC, "
        "480 candles: would have fired 1 time, 1 resolved"
    )


def test_cli_jsonl_has_only_alert_objects_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "bt.png"
    args = ["-q", "backtest", "--rule", "btc-95k-daily-close", "--format", "jsonl", "--chart", str(chart)]
    assert main(args) == 0
    captured = capsys.readouterr()
    (alert,) = [json.loads(line) for line in captured.out.splitlines()]
    assert alert["at"] == "2026-01-14T00:00:00Z" and alert["rule"] == "btc-95k-daily-close"
    assert list(alert) == ["at", "rule", "detector", "symbol", "state", "severity", "title", "values"]
    assert "would have fired 1 time" in captured.err
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_cli_prints_the_same_alerts_as_replay_for_each_example_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-q", "replay", "--format", "jsonl", "--no-progress"]) == 0
    replayed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for rule in ("btc-95k", "btc-95k-daily-close", "eth-3500-close", "majors-together"):
        assert main(["-q", "backtest", "--rule", rule, "--format", "jsonl"]) == 0
        tested = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert tested == [a for a in replayed if a["rule"] == rule]


def test_cli_finds_a_rule_in_a_database_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.db"
    db = open_database(path)
    repo = Repo(db)
    store_recorded(repo, load_directory(SCENARIO))
    repo.save_rule(
        RuleRow(
            id="g-eth", origin="discord", detector="level_cross", symbol="ETHUSDT", settings={"level": 3300}
        )
    )
    db.conn.close()
    window = ["--from", "2026-01-13", "--to", "2026-01-13"]
    assert main(["-q", "backtest", "--rule", "g-eth", "--db", str(path), *window]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("2026-01-13 23:00 UTC  ETHUSDT  warning  ETH broke above $3,300  <g-eth>")
    assert "over 2026-01-13 00:00 → 2026-01-14 00:00 UTC, 24 candles" in lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "nope"], "tripwire: no rule 'nope' in config.example.toml (its rules: btc-95k,"),
        (["--rule", "btc-95k", "--days", "365"], "tripwire: days must be more than 0 and at most 90"),
        (["--rule", "btc-95k", "--from", "soon"], "tripwire: --from: 'soon' is not a date"),
        (
            ["--rule", "btc-95k", "--db", "/nonexistent.db"],
            "tripwire: database file /nonexistent.db does not exist",
        ),
        (["--rule", "btc-95k", "--chart", "/nonexistent/x.png"], "tripwire: cannot write /nonexistent/x.png"),
    ],
)
def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["-q", "backtest", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)


def test_cli_takes_its_limits_from_the_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (ROOT / "config.example.toml").read_text()
    assert "\nmax_days = 90 " in text and "\ndefault_days = 30 " in text
    short = text.replace("\nmax_days = 90 ", "\nmax_days = 10 ").replace(
        "\ndefault_days = 30 ", "\ndefault_days = 5 "
    )
    path = tmp_path / "short.toml"
    path.write_text(short)
    assert main(["-q", "backtest", "--config", str(path), "--rule", "btc-95k", "--days", "20"]) == 2
    assert capsys.readouterr().err.startswith(
        "tripwire: days must be more than 0 and at most 10 (20 was asked)"
    )
    # Without --days, the file's default: the last 5 days (2026-01-16..21), after the crossing.
    assert main(["-q", "backtest", "--config", str(path), "--rule", "btc-95k"]) == 0
    assert "over 2026-01-16 00:00 → 2026-01-21 00:00 UTC, 120 candles: would have fired 0 times" in (
        capsys.readouterr().out
    )


def test_help_lists_backtest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "    backtest " in capsys.readouterr().out


def test_result_is_frozen(stored: Repo) -> None:
    result = backtest(stored, BTC_95K_UP, chart=False)
    with pytest.raises(AttributeError):
        result.start = 0  # type: ignore[misc]
    assert replace(result, chart_png=b"x").chart_png == b"x"
