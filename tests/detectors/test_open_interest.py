"""open_interest: the change of open interest within a window, in contracts when known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from storage.rows import OpenInterest
from tests.detectors.conftest import HOUR, T0, Run, history_of, make, ms, run


def series(
    usd: Sequence[float | None], contracts: Sequence[float | None] | None = None
) -> list[OpenInterest]:
    """Return SYNTHETIC hourly open interest (None: that hour is missing)."""
    contracts = contracts or [None] * len(usd)
    return [
        OpenInterest("BTCUSDT", T0 + h * HOUR, "binance", c, u)
        for h, (u, c) in enumerate(zip(usd, contracts, strict=True))
        if u is not None or c is not None
    ]


def stepped(rows: list[OpenInterest], hours: int, **options: Any) -> Run:
    """Step an open_interest rule hourly (4h window, 5% by default)."""
    return run(make("open_interest", **options), history_of(rows), T0, T0 + hours * HOUR)


FLAT = [100.0] * 5
CASES = [
    pytest.param(series([*FLAT, 106]), [(5, "up", 6.0)], id="up-6pct-in-4h"),
    pytest.param(series([*FLAT, 104.9]), [], id="under-threshold"),
    pytest.param(series([*FLAT, 94, 93]), [(5, "down", -6.0)], id="down-once"),
    pytest.param(
        series([*FLAT, 106, 106, 106, 106, 103, 112]), [(5, "up", 6.0), (10, "up", 5.7)], id="re-armed"
    ),
    pytest.param(series([100, 100, None, None, None, None, None, None, 110]), [], id="no-reference-no-alert"),
    pytest.param(series([100, 100, 100, None, 100, 106]), [(5, "up", 6.0)], id="a-missing-hour-is-tolerated"),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
def test_changes_table(rows: list[OpenInterest], expected: list[tuple[int, str, float]]) -> None:
    result = stepped(rows, (rows[-1].ts - T0) // HOUR)
    got = [((now - T0) // HOUR, s.key, round(s.values["change_pct"], 1)) for now, s in result.activations]
    assert got == expected


def test_contracts_rather_than_usd() -> None:
    # Synthetic: price rose 10%, so USD open interest did too, while the contracts held were flat.
    rows = series([*FLAT, 110.0], contracts=[1000.0] * 6)
    assert stepped(rows, 5).activations == []
    rows = series([*FLAT, 110.0], contracts=[1000.0] * 5 + [1060.0])
    ((_, signal),) = stepped(rows, 5).activations
    assert signal.values["basis"] == "contracts"
    assert signal.title == "BTC open interest +6.0% in 4h (1,000 → 1,060 contracts)"


def test_title_values_and_first_evaluation() -> None:
    rows = series([9.0e9] * 5 + [9.5e9])
    ((now, signal),) = stepped(rows, 5).activations
    assert now == signal.at == T0 + 5 * HOUR
    assert signal.title == "BTC open interest +5.6% in 4h ($9.0B → $9.5B)"
    assert (signal.values["from_time"], signal.values["basis"]) == (T0 + HOUR, "usd")
    assert run(make("open_interest"), history_of(rows), T0 + 5 * HOUR, T0 + 6 * HOUR).activations == []


def test_catch_up_reports_once() -> None:
    history = history_of(series([*FLAT, 106, 103, 102, 102, 103]))
    result = Run(make("open_interest"))
    result.at(history, T0 + 4 * HOUR)
    assert [(s.key, s.at) for s in result.at(history, T0 + 9 * HOUR)] == [("up", T0 + 5 * HOUR)]
    assert result.at(history, T0 + 10 * HOUR) == []


def test_real_open_interest(january: dict[str, Run]) -> None:
    fired = [
        (now, s.key, round(s.values["change_pct"], 1)) for now, s in january["btc-open-interest"].activations
    ]
    assert fired == [(ms("2026-01-14 17:00"), "up", 5.0), (ms("2026-01-19 01:00"), "down", -6.4)]
