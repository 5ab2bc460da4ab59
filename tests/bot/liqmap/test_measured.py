"""The measured (Hyperliquid) map on the bundled January 2026 candles and CoinGlass liquidations.

``test_a_measured_sweep_is_graded_like_a_modelled_one`` stores one SYNTHETIC round by hand (three made-up
accounts, sizes and liquidation prices chosen for the test) before the 22:00 break of $95,000, so the
grade's figures can be worked out on paper. ``test_tripwire_liqmap_draws_the_measured_map`` takes the
sample through the real sampler and the exchange emulator (stand-in account states, real prices).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.cli.common import bundled_scenario, load_recorded, scenario_data_repo
from bot.liqmap.grading import accuracy, is_hit
from bot.liqmap.view import map_view
from detectors.liqmap.params import LiqMapParams
from feeds.replay import parse_time, store_recorded
from storage.db import open_database
from storage.repo import MeasuredPositionRow, MeasuredSample, Repo
from storage.rows import HOUR_MS
from tests.bot.liqmap.sampling import sample_hours

ROUND = parse_time("2026-01-13T20:30Z")  # before the 22:00 candle that broke $95,000 (high 96,495)
HOUR = ROUND - ROUND % HOUR_MS


def synthetic_round() -> tuple[MeasuredSample, list[MeasuredPositionRow]]:
    """Return a SYNTHETIC round: two shorts the break reaches, one long far below; 1% of open interest."""

    def position(user: str, side: str, usd: float, liq: float) -> MeasuredPositionRow:
        return MeasuredPositionRow(
            "hyperliquid", "BTCUSDT", HOUR, user, side, usd / 94_000, usd, 94_000.0, liq, 20.0,  # type: ignore[arg-type]
            "isolated", ROUND,
        )  # fmt: skip

    positions = [
        position("0x01", "short", 600_000, 95_500.0),
        position("0x02", "short", 400_000, 96_000.0),
        position("0x03", "long", 1_000_000, 90_000.0),
    ]
    # $2M sampled of both sides against $100M of open interest (one side): 1% of it.
    return MeasuredSample("hyperliquid", "BTCUSDT", HOUR, ROUND, 3, 3, 2e6, 1e8, 94_000.0), positions


@pytest.fixture
def scenario() -> Repo:
    with ExitStack() as stack:
        return scenario_data_repo(bundled_scenario(stack))


def test_a_measured_sweep_is_graded_like_a_modelled_one(scenario: Repo) -> None:
    scenario.store_measured([synthetic_round()])
    view = map_view(scenario, "BTCUSDT", LiqMapParams(), parse_time("2026-01-14T00:00Z"), venue="hyperliquid")
    assert view.venues == ("hyperliquid",) and view.kind == "measured"
    header = view.text().splitlines()[0]
    assert header.endswith(
        "(hyperliquid; measured: 3 accounts, 1% of open interest, sizes scaled to the venue, $100.0M open)"
    )
    # The break consumed both shorts: $1M sampled, ×100 to the venue, graded against CoinGlass's shorts
    # of the 22:00 hour ($109.0M, Binance + Bybit + OKX) exactly as a modelled sweep is.
    [grade] = view.grades
    assert (grade.model_venue, grade.side, grade.venue, grade.basis) == (
        "hyperliquid-measured", "short", "coinglass", "hourly totals"
    )  # fmt: skip
    assert grade.start == parse_time("2026-01-13T22:00Z") and grade.end == parse_time("2026-01-13T23:00Z")
    assert grade.band_low <= 95_500 and grade.band_high > 96_000
    assert grade.modelled_usd == pytest.approx(100e6) and round(grade.realized_usd / 1e6, 1) == 109.0
    assert is_hit(grade, 3.0)
    [summary] = accuracy(view.grades, 3.0)
    assert summary.venue == "coinglass vs measured" and summary.hits == 1
    # What is left open: the long, at 90,000, 5% below.
    assert view.below is not None and view.below.side == "long" and view.above is None
    assert view.cluster_line(view.below).startswith("$89,")
    assert "$1.0M measured (≈$100.0M venue-wide), -" in view.cluster_line(view.below)


def test_tripwire_liqmap_draws_the_measured_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sampled.db"
    repo = Repo(open_database(db))
    with ExitStack() as stack:
        store_recorded(repo, load_recorded(bundled_scenario(stack)))
    hours = range(parse_time("2026-01-13T12:00Z"), parse_time("2026-01-14T11:00Z"), 3 * HOUR_MS)
    import asyncio

    asyncio.run(sample_hours(repo, hours))
    last = repo.measured_samples("hyperliquid", "BTCUSDT", 0, 2**62)[-1]
    repo.db.conn.close()
    out = tmp_path / "measured.png"
    args = [
        "-q",
        "liqmap",
        "--symbol",
        "BTCUSDT",
        "--venue",
        "hyperliquid",
        "--db",
        str(db),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    share = f"{last.coverage * 100:.2g}%"
    assert f"(hyperliquid; measured: {last.accounts} accounts, {share} of open interest" in text
    assert " measured (≈$" in text and out.read_bytes().startswith(b"\x89PNG")
    assert main(["-q", "liqmap", "--symbol", "ETHUSDT", "--venue", "hyperliquid"]) == 2
    assert "no measured Hyperliquid positions of ETHUSDT are stored" in capsys.readouterr().err
