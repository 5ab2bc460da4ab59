"""correlated_move: watched assets moving the same way within a window make one grouped alert."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from detectors.correlated_move import CorrelatedMoveSettings
from tests.detectors.conftest import HOUR, T0, Run, bars, history_of, make, ms, run

FLAT = [100.0] * 4


def stepped(paths: dict[str, list[float]], **options: Any) -> Run:
    """Step a BTCUSDT correlated_move rule (3h window, 5%) over SYNTHETIC hourly closes per symbol."""
    rows = [row for symbol, closes in paths.items() for row in bars(closes, symbol=symbol)]
    options.setdefault("symbols", [s for s in paths if s != "BTCUSDT"] or ["ETHUSDT"])
    options.setdefault("pct", 5)
    options.setdefault("window_hours", 3)
    hours = max(len(c) for c in paths.values())
    return run(make("correlated_move", **options), history_of(rows), T0 + HOUR, T0 + hours * HOUR)


UP = [*FLAT, 103, 106]
CASES = [
    pytest.param(
        {"BTCUSDT": UP, "ETHUSDT": [*FLAT, 104, 107]}, {}, [(6, "up", ["ETHUSDT", "BTCUSDT"])], id="both-up"
    ),
    pytest.param({"BTCUSDT": UP, "ETHUSDT": [*FLAT, 101, 102]}, {}, [], id="only-one-moves"),
    pytest.param({"BTCUSDT": UP, "ETHUSDT": [*FLAT, 96, 94]}, {}, [], id="opposite-ways"),
    pytest.param(
        {"BTCUSDT": [*FLAT, 100, 100], "ETHUSDT": [*FLAT, 97, 94], "SOLUSDT": [*FLAT, 95, 90]},
        {},
        [(6, "down", ["SOLUSDT", "ETHUSDT"])],
        id="peers-without-the-rule-symbol",
    ),
    pytest.param(
        {"BTCUSDT": UP, "ETHUSDT": [*FLAT, 104, 107], "SOLUSDT": [*FLAT, 100, 101]},
        {"min_assets": 3},
        [],
        id="min-assets-3",
    ),
    pytest.param(
        {"BTCUSDT": UP, "ETHUSDT": [*FLAT, 104, 107]}, {"direction": "down"}, [], id="direction-filter"
    ),
]


@pytest.mark.parametrize(("paths", "options", "expected"), CASES)
def test_grouped_moves_table(
    paths: dict[str, list[float]], options: dict[str, Any], expected: list[tuple[int, str, list[str]]]
) -> None:
    result = stepped(paths, **options)
    assert [
        ((now - T0) // HOUR, s.key, list(s.values["assets"])) for now, s in result.activations
    ] == expected


def test_one_alert_naming_them_all() -> None:
    result = stepped({"BTCUSDT": UP, "ETHUSDT": [*FLAT, 104, 107], "SOLUSDT": [*FLAT, 105, 112]})
    ((now, signal),) = result.activations
    assert signal.title == "SOL +12.0%, ETH +7.0%, BTC +6.0% in 3h: moving up together"
    assert signal.values["assets"] == {"SOLUSDT": 12.0, "ETHUSDT": 7.0, "BTCUSDT": 6.0}
    assert signal.at == now == T0 + 6 * HOUR and signal.direction == "up" and signal.severity == "warning"


def test_stays_one_alert_while_they_keep_moving_and_re_arms() -> None:
    btc = [*FLAT, 103, 106, 108, 110, 110, 110, 110, 110, 116]
    eth = [*FLAT, 104, 107, 109, 111, 111, 111, 111, 111, 118]
    result = stepped({"BTCUSDT": btc, "ETHUSDT": eth})
    assert [(now - T0) // HOUR for now, _ in result.activations] == [6, 13]


def test_first_evaluation_inside_a_joint_move_does_not_fire() -> None:
    rows = bars(UP, symbol="BTCUSDT") + bars([*FLAT, 104, 107], symbol="ETHUSDT")
    detector = make("correlated_move", symbols=["ETHUSDT"], pct=5, window_hours=3)
    assert run(detector, history_of(rows), T0 + 6 * HOUR, T0 + 6 * HOUR).activations == []


def test_a_missing_peer_is_skipped() -> None:
    assert stepped({"BTCUSDT": UP}, symbols=["ETHUSDT"]).activations == []


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a symbol"):
        CorrelatedMoveSettings(symbols=["eth"])
    with pytest.raises(ValidationError, match="min_assets 3 is more than the 2 assets"):
        CorrelatedMoveSettings(symbols=["ETHUSDT"], min_assets=3)


def test_real_majors_move_together(january: dict[str, Run]) -> None:
    fired = [(now, s.key, s.values["assets"]) for now, s in january["majors-together"].activations]
    assert [(now, key) for now, key, _ in fired] == [
        (ms("2026-01-13 21:00"), "up"),
        (ms("2026-01-19 23:00"), "down"),
    ]
    up = fired[0][2]
    assert set(up) == {"BTCUSDT", "ETHUSDT"} and all(change >= 3 for change in up.values())
