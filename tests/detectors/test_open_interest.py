"""open_interest: the change of open interest within a window, in contracts when known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

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


# Synthetic: 100 for four hours, a flush to 90 (-10% in 4h, lowest 88), then the rebuild.
FLUSH = [*FLAT, 94, 90, 88]


@pytest.mark.parametrize(
    ("usd", "expected"),
    [
        pytest.param([*FLUSH, 92, 94], [(9, 50.0)], id="half-of-the-drop-back"),
        pytest.param([*FLUSH, 93, 93.9], [], id="not-yet-half"),
        pytest.param([*FLUSH, 86, 90, 93], [(10, 50.0)], id="the-low-moves-down"),
        pytest.param([*FLAT, 97, 96, 97, 98, 99], [], id="no-flush-no-rebuild"),
        pytest.param(
            [*FLUSH, 94, 94, 94, 94, 94, 100, 100, 100, 100, 88, 88, 94],
            [(8, 50.0), (19, 50.0)],
            id="two-flushes",
        ),
    ],
)
def test_rebuild_table(usd: list[float], expected: list[tuple[int, float]]) -> None:
    result = stepped(series(usd), len(usd) - 1, rebuild_pct=50, changes=False)
    got = [((now - T0) // HOUR, s.values["regained_pct"]) for now, s in result.activations]
    assert got == expected


def test_rebuild_title_values_and_how_long_it_took() -> None:
    rows = series([9.0e9] * 5 + [8.4e9, 8.3e9, 8.65e9])
    ((now, signal),) = stepped(rows, 7, rebuild_pct=50, changes=False).activations
    assert now == signal.at == T0 + 7 * HOUR
    assert signal.title == (
        "BTC open interest rebuilt 50% of its -7.8% flush in 1h from the low ($8.3B → $8.7B, was $9.0B)"
    )
    assert (signal.kind, signal.direction) == ("oi_rebuild", "up")
    assert (signal.values["low"], signal.values["before_flush"], signal.values["basis"]) == (
        8.3e9,
        9.0e9,
        "usd",
    )
    assert signal.values["low_at"] == T0 + 6 * HOUR and signal.values["rebuilt_in_s"] == 3600


def test_rebuild_alongside_the_changes_and_too_late() -> None:
    rows = series([*FLUSH, 92, 94])
    keys = [s.key for _, s in stepped(rows, 9, rebuild_pct=50).activations]
    assert keys == ["down", "rebuild"]
    # Rebuilt only after the flush was forgotten: two hours after the window last showed it (the hour of 88
    # at 8h is still 12% under 4h before, a flush seen again), nothing.
    late = stepped(series([*FLUSH, *[88] * 5, 94]), 13, rebuild_pct=50, rebuild_within_hours=2, changes=False)
    assert late.activations == []


def test_rebuild_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="with `changes = false` set `rebuild_pct`"):
        make("open_interest", changes=False)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        make("open_interest", rebuild_pct=150)


def test_without_rebuild_the_state_is_what_it_always_was() -> None:
    rows = series([*FLUSH, 92, 94])
    assert stepped(rows, 9).state == stepped(rows, 9, direction="either").state
    assert "flush" not in stepped(rows, 9).state and "flush" in stepped(rows, 8, rebuild_pct=60).state


def test_real_rebuild_after_the_flush_of_the_19th(january: dict[str, Run]) -> None:
    ((now, signal),) = january["btc-oi-rebuild"].activations
    # $9.30B at 2026-01-18 21:00, flushed to $8.68B by 23:00 on the 19th; half of it back by 16:00 next day.
    assert now == ms("2026-01-20 16:00")
    assert round(signal.values["regained_pct"]) == 55 and signal.values["low_at"] == ms("2026-01-19 23:00")
