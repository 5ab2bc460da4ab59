"""Gate, Deribit and OKX figures in /positioning and /oi, recomputed by hand from the rows stored.

Gate's and Deribit's rows are what the feed's parsers make of the REAL captures in tests/data/corpus
(Gate's BTC_USDT ticker of 2022-06-02, Deribit's BTC-PERPETUAL book summary of 2022-06-04); the clock is
set just after Deribit's summary so both count as current. Binance's row and the OKX readings are
SYNTHETIC round figures.
"""

from __future__ import annotations

import json

import pytest

from bot.config import Config, parse_config
from bot.services import Service
from feeds.instruments import Instrument, InstrumentRegistry
from feeds.positioning_venues import parse_deribit_book_summary, parse_gate_tickers
from storage.repo import Repo
from storage.rows import HOUR_MS, Funding, LongShort, OpenInterest
from tests.bot.support import Clock, discord_engine
from tests.feeds.helpers import FIXTURES, jsonl

CORPUS = FIXTURES.parent / "corpus"
NOW = 1_654_340_400_000  # 2022-06-04 11:00 UTC, 96 s after Deribit's summary
GATE_AT = NOW - 60_000
BINANCE_USD, BINANCE_RATE = 8e9, 0.0001  # SYNTHETIC


@pytest.fixture
def config() -> Config:
    return parse_config({"symbols": ["BTCUSDT"]})


@pytest.fixture
def service(repo: Repo, config: Config) -> Service:
    frame = json.loads((CORPUS / "gate_futures_tickers_BTC_USDT_crypto_msg_parser_20220602.json").read_text())
    btc = Instrument("gate", "perp", "BTC_USDT", "BTC", "USDT", contract_size=0.0001)
    gate_funding, gate_oi = parse_gate_tickers(frame["result"], {"BTC_USDT": btc}, GATE_AT)
    perpetual, _ = jsonl(CORPUS / "deribit_book_summary_BTC_crypto_msg_parser_20220604.jsonl")
    deribit_funding, deribit_oi = parse_deribit_book_summary(perpetual, {"BTC-PERPETUAL": "BTCUSDT"})
    repo.upsert_open_interest(
        [
            *gate_oi.rows,
            *deribit_oi.rows,
            OpenInterest("BTCUSDT", NOW - HOUR_MS, "binance", None, BINANCE_USD),
        ]
    )
    binance = [Funding("BTCUSDT", NOW - k * 8 * HOUR_MS, "binance", BINANCE_RATE) for k in range(1, 4)]
    repo.upsert_funding([*gate_funding.rows, *deribit_funding.rows, *binance])
    repo.upsert_long_short(
        [
            LongShort("BTCUSDT", NOW - 600_000, "okx", "accounts", "5m", 1.25, 1.25 / 2.25),
            LongShort("BTCUSDT", NOW - 300_000, "okx", "taker_volume", "5m", 0.94, 0.4845),
        ]
    )
    return Service(repo, discord_engine(repo), config, Clock(NOW))


def test_gate_and_deribit_are_summed_and_weight_the_funding(service: Service) -> None:
    gate_usd = 754413619 * 0.0001 * 29908  # contracts x quanto_multiplier x mark
    deribit_usd = 560105870.0  # an inverse perpetual's open interest is already USD
    market = service.positioning("btc").market
    assert market.oi_usd == pytest.approx(BINANCE_USD + gate_usd + deribit_usd)
    # Every rate per 8 h: Gate's and Binance's settle every 8 h, Deribit states funding_8h.
    rates = {"binance": BINANCE_RATE, "gate": -0.00004, "deribit": 0.00000214}
    weights = {"binance": BINANCE_USD, "gate": gate_usd, "deribit": deribit_usd}
    expected = sum(rates[v] * weights[v] for v in rates) / sum(weights.values())
    assert market.weighted and market.rate_per_8h == pytest.approx(expected)
    assert {v.source: v.interval_h for v in market.venues} == {"binance": 8.0, "gate": 8.0, "deribit": 8.0}
    assert market.share("gate") == pytest.approx(gate_usd / (BINANCE_USD + gate_usd + deribit_usd))


def test_oi_lists_each_venue_and_their_sum(service: Service) -> None:
    view = service.open_interest("BTCUSDT")
    gate_usd = 754413619 * 0.0001 * 29908
    assert view.usd == pytest.approx(BINANCE_USD + gate_usd + 560105870.0)
    assert {v.source for v in view.by_source} == {"binance", "gate", "deribit"}


def test_okx_rubik_readings_are_long_short_lines(service: Service) -> None:
    lines = service.positioning("btc").long_short
    assert [(line.metric, line.source, line.ratio) for line in lines] == [
        ("accounts", "okx", 1.25),
        ("taker_volume", "okx", 0.94),
    ]
    assert lines[0].long_share == pytest.approx(5 / 9)


def test_gates_funding_interval_comes_from_its_contract_list(service: Service) -> None:
    """SYNTHETIC interval: a Gate contract settling every 4 h (its list's funding_interval: 14400 s).

    Gate's ticker rows are running-period estimates, never settlements, so without its contract list
    the interval would be the assumed 8 h and the rate annualised at half its pace.
    """
    btc = Instrument("gate", "perp", "BTC_USDT", "BTC", "USDT", contract_size=0.0001, funding_interval_h=4.0)
    service.instruments = InstrumentRegistry([btc])
    gate = {s.source: s for s in service.funding("BTCUSDT").by_source}["gate"]
    assert (gate.interval_h, gate.interval_from) == (4.0, "instrument list")
    assert gate.annualized_pct == pytest.approx(-0.00004 * 6 * 365 * 100)
    market = service.positioning("btc").market
    assert {v.source: v.rate_per_8h for v in market.venues}["gate"] == pytest.approx(-0.00008)
