"""Property tests: every parser, fed arbitrary or garbled payloads, only ever skips or raises FeedError.

Two kinds of input: arbitrary JSON values (anything a broken proxy could return), and the real recorded
payloads with one field replaced by an arbitrary JSON value (what a venue returns during an incident).
Rows that do come out must be sane: positive prices and sizes, a position side, a plausible time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.base import Tuning
from feeds.binance_futures import (
    ForceOrderStream,
    parse_force_order_frame,
    parse_funding_history,
    parse_open_interest,
    parse_open_interest_hist,
    parse_premium_index,
)
from feeds.binance_spot import parse_klines
from feeds.bybit import BybitLiquidationStream, parse_all_liquidation, parse_tickers
from feeds.coinbase import parse_candles
from feeds.config import (
    BinanceFuturesFeedConfig,
    BybitFeedConfig,
    DeribitFeedConfig,
    HtxFeedConfig,
    HyperliquidFeedConfig,
)
from feeds.deribit import DeribitLiquidationStream
from feeds.deribit import parse_trades as parse_deribit_trades
from feeds.errors import FeedError
from feeds.fear_greed import parse_fng
from feeds.gate import parse_public_liquidates
from feeds.health import HealthRegistry
from feeds.htx import HtxLiquidationStream, parse_liquidation_orders
from feeds.hyperliquid import HyperliquidLiquidationStream
from feeds.hyperliquid import parse_trades as parse_hyperliquid_trades
from feeds.instruments import Instrument
from feeds.kraken import parse_ohlc
from feeds.okx import Contract, parse_instruments, parse_liquidation_items
from feeds.parse import MAX_TS_MS, MIN_TS_MS, Parsed
from storage.rows import Candle, FearGreed, Funding, Liquidation, OpenInterest
from tests.feeds.helpers import FIXTURES, jsonl, live_frames

NOW = 1_768_953_599_999
CONTRACTS = {"BTC-USDT-SWAP": Contract("BTC-USDT-SWAP", "BTC-USDT", 0.01, 1.0, inverse=False)}
GATE = {"BTC_USD": Instrument("gate", "perp", "BTC_USD", "BTC", "USD", contract_size=0.0001)}
VAULT = frozenset({"0xa62b923a112d50d03e1e096bbd53422490dac104"})  # a buyer of the recorded trades

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["1e400", "nan", "-0", "1768953599999", "²", "Buy", "SELL", "long", "0.01", ""]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


def _check_row(row: Any) -> None:
    if isinstance(row, Liquidation):
        assert row.side in ("long", "short")
        assert row.price > 0 and row.qty > 0 and math.isfinite(row.usd) and row.usd >= 0
        assert MIN_TS_MS <= row.ts < MAX_TS_MS
    elif isinstance(row, Candle):
        assert 0 < row.l <= min(row.o, row.c) and row.h >= max(row.o, row.c) and row.volume >= 0
    elif isinstance(row, Funding):
        assert math.isfinite(row.rate) and MIN_TS_MS <= row.ts < MAX_TS_MS
    elif isinstance(row, OpenInterest):
        assert row.contracts is None or (math.isfinite(row.contracts) and row.contracts >= 0)
    elif isinstance(row, FearGreed):
        assert 0 <= row.value <= 100
    else:
        assert isinstance(row, Contract) and row.ct_val > 0 and row.ct_mult > 0


def _safe(call: Callable[[], Any]) -> None:
    """Run a parser: a FeedError (the whole payload is unusable) is allowed, anything else fails."""
    try:
        result = call()
    except FeedError:
        return
    results = result if type(result) is tuple else (result,)  # a pair of Parsed, not a row NamedTuple
    for part in results:
        if isinstance(part, Parsed):
            assert all(isinstance(reason, str) for reason in part.skipped)
            for row in part.rows:
                _check_row(row)
        elif isinstance(part, set):
            continue
        else:
            _check_row(part)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "klines": lambda p: parse_klines(p, "XUSDT", "1m", NOW),
    "coinbase": lambda p: parse_candles(p, "BTCUSDT", "1m", NOW),
    "kraken": lambda p: parse_ohlc(p, "BTCUSDT", "1m", NOW),
    "force_order": lambda p: parse_force_order_frame(p, None),
    "premium_index": lambda p: parse_premium_index(p, None),
    "funding_history": lambda p: parse_funding_history(p, "BTCUSDT"),
    "open_interest": lambda p: parse_open_interest(p, 95_000.0),
    "open_interest_hist": lambda p: parse_open_interest_hist(p, "BTCUSDT"),
    "all_liquidation": lambda p: parse_all_liquidation(p, None),
    "tickers": lambda p: parse_tickers(p, None),
    "okx_instruments": parse_instruments,
    "okx_liquidations": lambda p: parse_liquidation_items(p if isinstance(p, list) else [p], CONTRACTS, None),
    "fear_greed": parse_fng,
    "gate": lambda p: parse_public_liquidates(p, GATE, None),
    "htx": lambda p: parse_liquidation_orders(p, None),
    "deribit": lambda p: parse_deribit_trades(p, {"BTC-PERPETUAL": "BTCUSDT"}),
    "hyperliquid": lambda p: parse_hyperliquid_trades(p, {"BTC": "BTCUSDT"}, VAULT),
}


def _real_payloads() -> dict[str, Any]:
    """Return one real (or real-shaped, as noted) payload per parser, to garble."""
    (combined,) = jsonl(FIXTURES / "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl")
    bybit = next(f for f in live_frames() if str(f.get("topic", "")).startswith("allLiquidation."))
    okx = next(f for f in live_frames() if f.get("arg", {}).get("channel") == "liquidation-orders")
    okx_item = okx["data"][0] | {"instId": "BTC-USDT-SWAP"}
    klines = json.loads((FIXTURES / "binance_api_v3_klines_1m_20241116_symbol_unrecorded.json").read_text())[
        :3
    ]
    premium = json.loads((FIXTURES / "binance_fapi_v1_premiumIndex_all_symbols_20250617.json").read_text())[
        :3
    ]
    corpus = FIXTURES.parent / "corpus"
    deribit = json.loads(
        (corpus / "deribit_trades_BTC-PERPETUAL_crypto_msg_parser_20210321.json").read_text()
    )
    return {
        "gate": json.loads((corpus / "gate_docs_public_liquidates.json").read_text()),
        "htx": next(f for f in live_frames() if str(f.get("topic", "")).startswith("public.")),
        # The recorded trades with the documented flag added (synthetic), so that a row comes out.
        "deribit": [dict(t, liquidation="MT") for t in deribit["params"]["data"]],
        "hyperliquid": json.loads((corpus / "hyperliquid_trades_BTC_live_probe_20260904.json").read_text()),
        "klines": klines,
        "coinbase": [[1760371200, 64012.5, 64188.0, 64050.1, 64120.9, 12.3456]],  # the reference's example
        "kraken": {
            "error": [],
            "result": {"XXBTZUSD": [[1768953540, "1", "2", "0.5", "1.5", "1.2", "3", 4]]},
        },
        "force_order": combined,
        "premium_index": premium,
        "funding_history": [
            {
                "symbol": "BTCUSDT",
                "fundingTime": 1768924800009,
                "fundingRate": "0.00005652",
                "markPrice": "90652.79605072",
            }
        ],
        "open_interest": json.loads(
            (FIXTURES / "binance_fapi_v1_openInterest_BTCUSDT_20240604.json").read_text()
        ),
        "open_interest_hist": [
            {
                "symbol": "BTCUSDT",
                "sumOpenInterest": "1",
                "sumOpenInterestValue": "2",
                "timestamp": "1768953300000",
            }
        ],
        "all_liquidation": bybit,
        "tickers": {
            "retCode": 0,
            "retMsg": "OK",
            "time": NOW,
            "result": {
                "list": [
                    {
                        "symbol": "BTCUSDT",
                        "fundingRate": "-0.00005",
                        "nextFundingTime": "1768982400000",
                        "markPrice": "95000",
                        "openInterest": "10",
                        "openInterestValue": "950000",
                    }
                ]
            },
        },
        "okx_instruments": {
            "code": "0",
            "msg": "",
            "data": [{"instId": "BTC-USDT-SWAP", "ctVal": "0.01", "ctMult": "1", "ctValCcy": "BTC"}],
        },
        "okx_liquidations": [okx_item],
        "fear_greed": {
            "data": [{"value": "61", "value_classification": "Greed", "timestamp": "1768435200"}],
            "metadata": {"error": None},
        },
    }


REAL = _real_payloads()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def test_every_parser_accepts_its_real_payload() -> None:
    for name, parse in PARSERS.items():
        result = parse(REAL[name])
        parts = result if type(result) is tuple else (result,)
        rows = [r for p in parts if isinstance(p, Parsed) for r in p.rows] or [
            p for p in parts if not isinstance(p, (Parsed, set))
        ]
        assert rows, f"{name}: the real payload gave no row"
        _safe(lambda parse=parse, name=name: parse(REAL[name]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PARSERS)), payload=json_values)
def test_arbitrary_json_never_escapes_the_skip_path(name: str, payload: Any) -> None:
    _safe(lambda: PARSERS[name](payload))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data(), new=json_values)
def test_real_payload_with_one_field_garbled(name: str, data: st.DataObject, new: Any) -> None:
    path = data.draw(st.sampled_from(_paths(REAL[name])))
    _safe(lambda: PARSERS[name](_replace(REAL[name], path, new)))


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=60), json_values.map(json.dumps)))
def test_stream_frames_of_any_text_never_crash_the_handlers(text: str) -> None:
    registry = HealthRegistry(lambda: NOW)
    watched = frozenset({"BTCUSDT"})
    handlers = [
        ForceOrderStream(
            BinanceFuturesFeedConfig(),
            watched,
            None,  # type: ignore[arg-type]  # no connection is made: only on_text runs
            registry.register(f"b{id(text)}", {"liquidations"}, watched, stale_after_s=60),
            _NullFailures(),  # type: ignore[arg-type]
            Tuning(),
            _NullBuffer(),  # type: ignore[arg-type]
        ),
        BybitLiquidationStream(
            BybitFeedConfig(),
            watched,
            None,  # type: ignore[arg-type]
            registry.register(f"y{id(text)}", {"liquidations"}, watched, stale_after_s=60),
            _NullFailures(),  # type: ignore[arg-type]
            Tuning(),
            _NullBuffer(),  # type: ignore[arg-type]
            registry.rejections,
        ),
        HtxLiquidationStream(
            HtxFeedConfig(),
            {"BTC-USDT": "BTCUSDT"},
            None,  # type: ignore[arg-type]
            registry.register(f"h{id(text)}", {"liquidations"}, watched, stale_after_s=60),
            _NullFailures(),  # type: ignore[arg-type]
            Tuning(),
            _NullBuffer(),  # type: ignore[arg-type]
        ),
        DeribitLiquidationStream(
            DeribitFeedConfig(),
            {"BTC-PERPETUAL": "BTCUSDT"},
            None,  # type: ignore[arg-type]
            registry.register(f"d{id(text)}", {"liquidations"}, watched, stale_after_s=60),
            _NullFailures(),  # type: ignore[arg-type]
            Tuning(),
            _NullBuffer(),  # type: ignore[arg-type]
            registry.rejections,
        ),
        HyperliquidLiquidationStream(
            HyperliquidFeedConfig(),
            {"BTC": "BTCUSDT"},
            None,  # type: ignore[arg-type]
            registry.register(f"l{id(text)}", {"liquidations"}, watched, stale_after_s=60),
            _NullFailures(),  # type: ignore[arg-type]
            Tuning(),
            _NullBuffer(),  # type: ignore[arg-type]
            registry.rejections,
        ),
    ]
    for handler in handlers:
        with contextlib.suppress(FeedError):  # a whole frame refused is the skip path
            handler.on_text(text)


class _NullFailures:
    """Stands in for FailureLog where only on_text runs."""

    def skipped(self, key: str, reasons: list[str]) -> bool:
        return bool(reasons)

    def failure(self, key: str, message: str) -> bool:
        return bool(message)


class _NullBuffer:
    """Stands in for LiquidationBuffer; checks every row it is given."""

    def add(self, rows: list[Liquidation]) -> None:
        for row in rows:
            _check_row(row)
