"""Recognising recorded-data files by their header and placing rows on the availability timeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from feeds.replay import ReplayDataError, load_directory, parse_time, recognise, symbol_from_name
from tests.conftest import DATA

BUNDLED = sorted(p.name for p in DATA.glob("*.csv") if "news" not in p.name)


def test_every_bundled_file_is_recognised(tmp_path: Path) -> None:
    for name in BUNDLED:
        shutil.copy(DATA / name, tmp_path / name)
    data = load_directory(tmp_path)
    kinds = {f.path.name: (f.kind, f.symbol) for f in data.files}
    assert kinds["binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv"] == ("candles", "BTCUSDT")
    assert kinds["binance_spot_ETHUSDT_1h_2026-01-09_2026-01-20.csv"] == ("candles_plain", "ETHUSDT")
    assert kinds["coinglass_btc_liquidations_1h_2025-11-23_2026-01-20.csv"][0] == "coinglass_liquidations"
    assert kinds["coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv"] == (
        "coinglass_combined",
        "BTCUSDT",
    )
    assert kinds["binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv"] == (
        "binance_funding",
        "BTCUSDT",
    )
    assert kinds["alternative_me_fear_greed_2018-02-01_2026-01-20.csv"][0] == "fear_greed_plain"
    assert data.symbols() == ["BTCUSDT", "ETHUSDT"]


def test_rows_become_available_when_a_live_feed_would_know_them(tmp_path: Path) -> None:
    for name in BUNDLED:
        shutil.copy(DATA / name, tmp_path / name)
    data = load_directory(tmp_path)
    breakout_close = parse_time("2026-01-13T23:00Z")
    batch = data.batches[breakout_close]
    btc = next(c for c in batch.candles if c.symbol == "BTCUSDT")
    assert (btc.open_time, btc.o, btc.h, btc.c) == (
        parse_time("2026-01-13T22:00Z"),
        94087.23,
        96495.0,
        95757.21,
    )
    shorts = [b.usd for b in batch.liquidation_buckets if b.side == "short"]
    assert max(shorts) == pytest.approx(109_000_000, rel=0.01)
    # CoinGlass funding is in percent; it is stored as a decimal rate.
    (funding,) = [f for f in batch.funding if f.source == "coinglass"]
    assert -0.0001 < funding.rate < 0
    fg = data.batches[parse_time("2026-01-15")].fear_greed
    assert {(f.value, f.classification) for f in fg} >= {(61, "Greed")}


def test_unrecognised_file_is_an_error_naming_it(tmp_path: Path) -> None:
    shutil.copy(DATA / "reported_derivatives_figures_2026-01-08_2026-01-15_news.csv", tmp_path / "news.csv")
    with pytest.raises(ReplayDataError, match=r"news\.csv: unrecognised columns"):
        load_directory(tmp_path)


def test_bad_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x_BTCUSDT_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2026-01-01 00:00:00,1,2,0.5,1.5,10\n"
        "2026-01-01 01:00:00,1,oops,0.5,1,1\n"
    )
    with pytest.raises(ReplayDataError, match=r"x_BTCUSDT_1h\.csv:3: cannot read this row"):
        load_directory(tmp_path)


def test_symbol_missing_everywhere_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "timestamp,open,high,low,close,volume\n2026-01-01 00:00:00,1,2,0.5,1.5,10\n"
    )
    with pytest.raises(ReplayDataError, match="cannot tell the symbol"):
        load_directory(tmp_path)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("binance_spot_ETHUSDT_1h", "ETHUSDT"), ("coinglass_btc_liquidations_1h", "BTCUSDT"), ("notes", None)],
)
def test_symbol_from_name(name: str, symbol: str | None) -> None:
    assert symbol_from_name(name) == symbol


def test_recognise_and_parse_time() -> None:
    assert recognise(["date", "fng"]) == "fear_greed_plain"
    assert recognise(["a", "b"]) is None
    assert parse_time("2026-01-13 22:00:00+00:00") == parse_time("2026-01-13T22:00Z") == 1_768_341_600_000
    assert parse_time("1768341600000") == parse_time("1768341600") == 1_768_341_600_000
