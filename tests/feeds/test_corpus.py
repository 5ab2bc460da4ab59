"""Every real third-party payload in tests/data/ through the parsers, compared with its documented meaning.

The payloads are other projects' live captures (tests/data/fixtures/, and cryptofeed's recorded OKX
instruments in tests/data/corpus/) and the venues' own documentation examples (tests/data/corpus/); both
READMEs name each file's source and licence. What a payload *means* is taken from the documents, not
from our parser: the side of the *position* liquidated (Binance's ``S``
and OKX's ``side`` are the forced order's side, Bybit's ``S`` and OKX's ``posSide`` the position's), the
USD value (Binance: average price x filled quantity; OKX: contracts x ctVal x bankruptcy price; Bybit:
size x bankruptcy price), and the time (epoch ms, seconds for alternative.me and Coinbase).

``test_every_file_is_covered`` keeps the corpus and this table in step: a file added to either folder
without a check here fails it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.binance_futures import (
    parse_force_order_frame,
    parse_funding_history,
    parse_open_interest,
    parse_open_interest_hist,
    parse_premium_index,
)
from feeds.binance_spot import parse_klines
from feeds.bybit import parse_all_liquidation, parse_tickers
from feeds.deribit import parse_trades as parse_deribit_trades
from feeds.etf_flows import parse_inflow_chart
from feeds.fear_greed import parse_fng
from feeds.gate import parse_public_liquidates
from feeds.htx import parse_liquidation_orders
from feeds.hyperliquid import parse_trades as parse_hyperliquid_trades
from feeds.hyperliquid_positions import AccountBook, parse_clearinghouse_state
from feeds.instruments import Instrument
from feeds.okx import Contract, parse_instruments, parse_liquidation_items
from feeds.positioning import (
    parse_binance_depth,
    parse_binance_ratio,
    parse_bybit_depth,
    parse_bybit_ratio,
    parse_dvol,
    parse_hyperliquid,
    parse_okx_funding,
    parse_okx_open_interest,
)
from feeds.positioning_venues import (
    parse_deribit_book_summary,
    parse_gate_tickers,
    parse_okx_long_short,
    parse_okx_taker_volume,
    parse_predicted_fundings,
)
from tests.feeds.helpers import FIXTURES, jsonl

CORPUS = FIXTURES.parent / "corpus"
LONG_SIDE_OF_ORDER = {
    "SELL": "long",
    "BUY": "short",
    "sell": "long",
    "buy": "short",
}  # a forced SELL closes a long
NOW = 1_800_000_000_000  # after every payload: their candles are all closed

Check = Callable[[], int]  # runs the parser over one file, asserts its meaning, returns items checked


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# --- liquidations -------------------------------------------------------------------------------------------


def binance_force_order(event: dict[str, Any]) -> int:
    """Check one forceOrder event: position side from the order side, USD = ap x z, time = T."""
    order = event["o"]
    (row,) = parse_force_order_frame(event, None).rows
    assert row.symbol == order["s"].upper() and row.side == LONG_SIDE_OF_ORDER[order["S"]]
    assert row.usd == pytest.approx(float(order["ap"]) * float(order["z"]), rel=1e-12)
    assert row.ts == order["T"]
    return 1


def check_binance_docs_force_order() -> int:
    event = _json(CORPUS / "binance_docs_forceOrder.json")
    binance_force_order(event)
    (row,) = parse_force_order_frame(event, None).rows
    # The documented example: a forced SELL of 0.014 BTC at 9910, so a long of $138.74 liquidated.
    assert (row.side, row.usd, row.ts) == ("long", pytest.approx(138.74), 1_568_014_460_893)
    return 1


def check_binance_combined_stream_frame() -> int:
    (frame,) = jsonl(FIXTURES / BINANCE_FRAME)
    return binance_force_order(frame["data"])  # ap != p and l != z: the filled notional is ap x z


def check_binance_collector_csv() -> int:
    with (FIXTURES / "binance_forceOrder_liquidations_allsymbols_20251022_excerpt.csv").open(
        encoding="utf-8"
    ) as fh:
        rows = list(csv.DictReader(fh))
    for record in rows:
        t = _utc_ms(record["timestamp"])
        event = {
            "e": "forceOrder",
            "E": t,
            "o": {"s": record["symbol"], "S": record["side"], "ap": record["avg_price"],
                  "z": record["filled_qty"], "p": record["avg_price"], "q": record["filled_qty"], "T": t},
        }  # fmt: skip
        (row,) = parse_force_order_frame(event, None).rows
        assert row.side == LONG_SIDE_OF_ORDER[record["side"]]
        # The collector stored the USD value itself: ours must agree with it.
        assert row.usd == pytest.approx(float(record["usd_value"]), rel=1e-9)
    return len(rows)


def bybit_frame(frame: dict[str, Any]) -> int:
    """Check an allLiquidation frame: Bybit's S is the position side (Buy: a long was liquidated)."""
    parsed = parse_all_liquidation(frame, None)
    assert parsed.skipped == []
    for row, item in zip(parsed.rows, frame["data"], strict=True):
        assert row.side == {"Buy": "long", "Sell": "short"}[item["S"]]
        assert row.usd == pytest.approx(float(item["v"]) * float(item["p"]), rel=1e-12)
        assert row.ts == item["T"]
    return len(parsed.rows)


def check_bybit_docs_all_liquidation() -> int:
    frame = _json(CORPUS / "bybit_docs_allLiquidation.json")
    (row,) = parse_all_liquidation(frame, None).rows
    assert (row.symbol, row.side, row.usd) == ("ROSEUSDT", "short", pytest.approx(899.8))
    return bybit_frame(frame)


def okx_items(items: list[Any], contracts: dict[str, Contract]) -> int:
    """Check OKX liquidation details: posSide (else the order side), USD = sz x ctVal x bkPx, time = ts."""
    parsed, unknown = parse_liquidation_items(items, contracts, None)
    assert unknown == set() and parsed.skipped == []
    details = [(item, d) for item in items for d in item["details"]]
    for row, (item, detail) in zip(parsed.rows, details, strict=True):
        contract = contracts[item["instId"]]
        pos = detail.get("posSide")
        assert row.side == (pos if pos in ("long", "short") else LONG_SIDE_OF_ORDER[detail["side"]])
        expected = float(detail["sz"]) * contract.ct_val * float(detail["bkPx"])
        assert row.usd == pytest.approx(expected, rel=1e-12)
        assert row.ts == int(detail["ts"])
    return len(parsed.rows)


OKX_INSTRUMENTS = "okx_public_instruments_swap_cryptofeed_20220513.json"


def okx_contracts() -> dict[str, Contract]:
    """Return the contracts of cryptofeed's recorded /api/v5/public/instruments?instType=SWAP answer."""
    return {c.inst_id: c for c in parse_instruments(_json(CORPUS / OKX_INSTRUMENTS)).rows}


def check_okx_instruments() -> int:
    payload = _json(CORPUS / OKX_INSTRUMENTS)
    parsed = parse_instruments(payload)
    assert parsed.skipped == [] and len(parsed.rows) == len(payload["data"]) == 166
    for contract, item in zip(parsed.rows, payload["data"], strict=True):
        # ctVal in ctValCcy: the base coin for linear (USDT) swaps, USD for inverse (coin-margined) ones.
        assert contract.ct_val == float(item["ctVal"]) and contract.ct_mult == float(item["ctMult"])
        assert contract.inverse == (item["ctType"] == "inverse")
    contracts = okx_contracts()
    assert (contracts["BTC-USDT-SWAP"].ct_val, contracts["BTC-USDT-SWAP"].inverse) == (0.01, False)
    assert (contracts["BTC-USD-SWAP"].ct_val, contracts["BTC-USD-SWAP"].inverse) == (100.0, True)
    return len(parsed.rows)


def check_okx_docs_liquidation_orders() -> int:
    frame = _json(CORPUS / "okx_docs_liquidation_orders_ws.json")
    # The docs example (2023) comes without its instrument; IOST-USDT-SWAP's ctVal is taken from the
    # recorded instruments answer (2022: 1000 IOST), assuming OKX did not change it in between. posSide
    # short with order side buy: a short of 13 contracts x 1000 x 0.007831 = $101.80 was liquidated.
    contracts = {"IOST-USDT-SWAP": okx_contracts()["IOST-USDT-SWAP"]}
    counted = okx_items(frame["data"], contracts)
    (row,) = parse_liquidation_items(frame["data"], contracts, None)[0].rows
    assert (row.symbol, row.side, row.ts) == ("IOSTUSDT", "short", 1_692_266_434_010)
    assert row.usd == pytest.approx(101.803)
    return counted


def check_okx_collector_csv() -> int:
    # The collector's README: size in contracts, USD = size x ctVal x price, ctVal 0.01 BTC and 0.1 ETH.
    contracts = {
        "BTC-USDT-SWAP": Contract("BTC-USDT-SWAP", "BTC-USDT", 0.01, 1.0, inverse=False),
        "ETH-USDT-SWAP": Contract("ETH-USDT-SWAP", "ETH-USDT", 0.1, 1.0, inverse=False),
    }
    with (FIXTURES / "okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv").open(encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    items = [
        {
            "instId": f"{r['uly']}-SWAP",
            "details": [
                {
                    "posSide": r["pos_side"],
                    "sz": r["size"],
                    "bkPx": r["price"],
                    "ts": str(_utc_ms(r["datetime"])),
                }
            ],
        }
        for r in records
    ]
    return okx_items(items, contracts)


def check_live_frames() -> int:
    frames = jsonl(FIXTURES / LIVE_FRAMES)
    counted = 0
    for frame in frames:
        if str(frame.get("topic", "")).startswith("allLiquidation."):
            counted += bybit_frame(frame)
        elif frame.get("e") == "forceOrder":  # Binance's testnet and Aster: Binance's shape
            counted += binance_force_order(frame)
        elif frame.get("arg", {}).get("channel") == "liquidation-orders":
            contracts = {
                i["instId"]: Contract(i["instId"], i["instFamily"], 1.0, 1.0, inverse=False)
                for i in frame["data"]
            }
            counted += okx_items(frame["data"], contracts)
        else:
            counted += htx_frame(frame)
    assert counted == len(frames)
    return counted


def htx_frame(frame: dict[str, Any]) -> int:
    """HTX: ``direction`` is the forced order's side, ``amount`` coins, ``trade_turnover`` USDT."""
    # The other venues' parsers must refuse HTX's shape, not misread it.
    assert parse_all_liquidation(frame, None).rows == []
    assert parse_force_order_frame(frame, None).rows == []
    rows = parse_liquidation_orders(frame, None).rows
    assert len(rows) == len(frame["data"])
    for row, item in zip(rows, frame["data"], strict=True):
        assert row.side == LONG_SIDE_OF_ORDER[item["direction"]]  # buy closes a short
        assert (row.symbol, row.ts, row.qty) == (item["contract_code"], item["created_at"], item["amount"])
        assert row.usd == item["trade_turnover"] == pytest.approx(item["amount"] * item["price"])
    return len(rows)


def check_gate_docs() -> int:
    """Gate's example: size -124 contracts is a sell, closing a **long**, at 215.1."""
    frame = _json(CORPUS / "gate_docs_public_liquidates.json")
    # BTC_USD is Gate's BTC-settled contract (the example's URL is /ws/btc); one contract stands for 1
    # USD there, a size read here per contract (contract_size 1) to check side, time and price.
    contracts = {"BTC_USD": Instrument("gate", "perp", "BTC_USD", "BTC", "USD")}
    parsed, unknown = parse_public_liquidates(frame, contracts, None)
    (row,) = parsed.rows
    assert (row.side, row.price, row.qty, row.ts) == ("long", 215.1, 124.0, 1_541_486_601_123)
    assert unknown == set()
    return 1


GATE_LIVE = "gate_public_liquidates_live_frames_gateio_websocket_api_issue132_20260810.jsonl"


def check_gate_live_frames() -> int:
    """Gate's live frames: a bare ``result`` object, its time in ``time`` (ms), the price a string."""
    frames = jsonl(CORPUS / GATE_LIVE)
    contracts = {
        name: Instrument("gate", "perp", name, name.split("_")[0], "USDT")
        for name in ("HEI_USDT", "LAB_USDT")
    }
    rows = [row for frame in frames for row in parse_public_liquidates(frame, contracts, None)[0].rows]
    # Negative sizes are sells, closing longs; one contract per row here (contract_size 1).
    assert [(r.symbol, r.side, r.price, r.qty, r.ts) for r in rows] == [
        ("HEI_USDT", "long", 0.13827, 23.0, 1_786_327_033_531),
        ("HEI_USDT", "long", 0.13761, 9.0, 1_786_327_035_701),
        ("LAB_USDT", "long", 0.11824, 9.0, 1_786_327_040_872),
    ]
    return len(rows)


def check_deribit_capture() -> int:
    """Deribit's live trades carry no ``liquidation`` field: ordinary trades, so no rows."""
    frame = _json(CORPUS / "deribit_trades_BTC-PERPETUAL_crypto_msg_parser_20210321.json")
    trades = frame["params"]["data"]
    parsed = parse_deribit_trades(trades, {"BTC-PERPETUAL": "BTCUSDT"})
    assert parsed.rows == [] and parsed.skipped == []
    # The same trades as the documented field would flag them (synthetic: "T" added, "the taker side was
    # under liquidation"): the taker bought, so a short was closed; the inverse amount is USD.
    flagged = [dict(t, liquidation="T") for t in trades]
    rows = parse_deribit_trades(flagged, {"BTC-PERPETUAL": "BTCUSDT"}).rows
    assert [(r.side, r.usd, r.ts) for r in rows] == [
        ("short", 5580.0, 1_616_321_478_553),
        ("short", 60.0, 1_616_321_478_553),
    ]
    assert rows[0].qty == pytest.approx(5580.0 / 56168.0)
    return len(trades)


def check_hyperliquid_capture() -> int:
    """Two live BTC trades between ordinary accounts: no backstop liquidation among them."""
    frame = _json(CORPUS / "hyperliquid_trades_BTC_live_probe_20260904.json")
    vault = frozenset({"0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"})
    assert parse_hyperliquid_trades(frame, {"BTC": "BTCUSDT"}, vault).rows == []
    # Read as if the first trade's buyer were the liquidator vault: it took over a long.
    buyer = frozenset({frame["data"][0]["users"][0]})
    (row,) = parse_hyperliquid_trades(frame, {"BTC": "BTCUSDT"}, buyer).rows
    assert (row.side, row.price, row.qty) == ("long", 80639.0, 0.00022)
    return len(frame["data"])


# --- funding, open interest, candles, Fear & Greed ----------------------------------------------------------


def check_premium_index_docs() -> int:
    one = parse_premium_index(_json(CORPUS / "binance_docs_premiumIndex.json"), None).rows
    listed = parse_premium_index(_json(CORPUS / "binance_docs_premiumIndex_all.json"), None).rows
    assert one == listed
    (row,) = one
    assert (row.symbol, row.rate, row.mark_price, row.ts) == (
        "BTCUSDT",
        0.00038246,
        11793.63104562,
        1_597_370_495_002,
    )
    assert row.next_funding_time == 1_597_392_000_000 and not row.settled  # an estimate, not a settlement
    return 2


def check_premium_index_all_symbols() -> int:
    payload = _json(FIXTURES / "binance_fapi_v1_premiumIndex_all_symbols_20250617.json")
    parsed = parse_premium_index(payload, None)
    assert parsed.skipped == [] and len(parsed.rows) == len(payload)
    for row, item in zip(parsed.rows, payload, strict=True):
        assert (row.symbol, row.rate, row.ts) == (
            item["symbol"],
            float(item["lastFundingRate"]),
            item["time"],
        )
        assert row.next_funding_time == (item["nextFundingTime"] or None)
    return len(payload)


def check_funding_history_docs() -> int:
    rows = parse_funding_history(_json(CORPUS / "binance_docs_fundingRate.json"), "BTCUSDT").rows
    assert [(r.ts, r.rate, r.settled) for r in rows] == [
        (1_570_608_000_000, -0.0375, True),
        (1_570_636_800_000, 0.0001, True),
    ]
    return len(rows)


def check_open_interest_docs() -> int:
    row = parse_open_interest(_json(CORPUS / "binance_docs_openInterest.json"), None)
    assert (row.symbol, row.contracts, row.ts, row.usd) == ("BTCUSDT", 10659.509, 1_589_437_530_011, None)
    return 1


def check_open_interest_capture() -> int:
    row = parse_open_interest(
        _json(FIXTURES / "binance_fapi_v1_openInterest_BTCUSDT_20240604.json"), 70_000.0
    )
    assert (row.symbol, row.contracts, row.ts) == ("BTCUSDT", 80579.225, 1_717_514_517_019)
    assert row.usd == pytest.approx(80579.225 * 70_000.0)  # one side, in base units, at the mark price given
    return 1


def check_open_interest_hist_docs() -> int:
    rows = parse_open_interest_hist(_json(CORPUS / "binance_docs_openInterestHist.json"), "BTCUSDT").rows
    assert [(r.ts, r.contracts, r.usd) for r in rows] == [
        (1_583_127_900_000, 20403.637, 150570784.07809979),
        (1_583_128_200_000, 20401.367, 149940752.14464448),
    ]
    return len(rows)


def check_bybit_docs_tickers() -> int:
    funding, interest = parse_tickers(_json(CORPUS / "bybit_docs_tickers_inverse.json"), None)
    (rate,) = funding.rows
    assert (rate.symbol, rate.rate, rate.mark_price, rate.ts) == (
        "BTCUSD",
        0.0001,
        114898.43,
        1_760_352_369_814,
    )
    assert rate.next_funding_time == 1_760_371_200_000
    # Open interest of an inverse contract (USD contracts, both sides) is the instrument registry's to
    # convert; here only that a row is read at the response time.
    assert [r.ts for r in interest.rows] == [1_760_352_369_814]
    return 2


def klines(path: Path) -> int:
    payload = _json(path)
    parsed = parse_klines(payload, "BTCUSDT", "1m" if "1m" in path.name else "5m", NOW)
    assert parsed.skipped == [] and len(parsed.rows) == len(payload)
    for row, item in zip(parsed.rows, payload, strict=True):
        assert row.open_time == item[0] and row.closed
        assert (row.o, row.h, row.l, row.c) == tuple(float(x) for x in item[1:5])
        assert (row.volume, row.quote_volume) == (float(item[5]), float(item[7]))
    return len(payload)


def check_fng_sample() -> int:
    rows = parse_fng(_json(CORPUS / "alternative_me_fng_sample_brrd_tutorial.json")).rows
    # Dated by publication day (seconds at 00:00 UTC), oldest first, the published labels kept.
    assert [(r.date, r.value, r.classification) for r in rows] == [
        ("2026-04-26", 33, "Fear"),
        ("2026-04-27", 47, "Neutral"),
    ]
    return len(rows)


def check_hyperliquid_docs_state() -> int:
    """The documented clearinghouseState: one isolated 20x ETH long liquidated at 2866.27 (entry 2986.3)."""
    (position,) = parse_clearinghouse_state(
        "0x0", _json(CORPUS / "hyperliquid_info_clearinghouseState_docs_example.json")
    )
    assert (position.coin, position.side, position.size, position.entry) == ("ETH", "long", 0.0335, 2986.3)
    assert (position.liquidation_px, position.leverage, position.margin) == (2866.26936529, 20.0, "isolated")
    assert position.value_usd == 100.02765
    return 1


def check_hyperliquid_cassette_state() -> int:
    """The SDK's recorded account: 12 cross positions; shorts liquidated above entry, longs covered."""
    positions = parse_clearinghouse_state(
        "0x5e9e", _json(FIXTURES / "hyperliquid_info_clearinghouseState_mainnet_20230327.json")
    )
    assert len(positions) == 12 and {p.margin for p in positions} == {"cross"}
    for p in positions:
        # A short is liquidated above its entry; a long's price is null when its margin covers any fall.
        assert p.liquidation_px is None or (p.side == "short" and p.liquidation_px > p.entry)
    return len(positions)


def check_hyperliquid_trades_parties() -> int:
    """Two recorded BTC fills naming [buyer, seller]: three accounts to sample, none a liquidation."""
    frame = _json(FIXTURES / "hyperliquid_ws_trades_BTC_first_two_20260728.json")
    vault = frozenset({"0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"})
    assert parse_hyperliquid_trades(frame, {"BTC": "BTCUSDT"}, vault).rows == []
    assert AccountBook(10).add_trades(frame) == 3
    return len(frame["data"])


def check_binance_ratio_docs() -> int:
    rows = parse_binance_ratio(
        _json(CORPUS / "binance_docs_globalLongShortAccountRatio.json"), "BTCUSDT", "accounts", "5m"
    ).rows
    # longShortRatio as published (the example's parts do not divide to it), longAccount the long share.
    assert [(r.ts, r.ratio, r.long_share) for r in rows] == [
        (1583139600000, 0.1960, 0.6622),
        (1583139900000, 1.9559, 0.6617),
    ]
    return len(rows)


def check_binance_taker_docs() -> int:
    rows = parse_binance_ratio(
        _json(CORPUS / "binance_docs_takerlongshortRatio.json"), "BTCUSDT", "taker_volume", "5m"
    ).rows
    assert [(r.ts, r.ratio) for r in rows] == [(1585614900000, 1.5586), (1583139900000, 1.3104)]
    assert rows[0].long_share == pytest.approx(387.33 / (387.33 + 248.503))
    return len(rows)


def check_bybit_account_ratio_docs() -> int:
    (row,) = parse_bybit_ratio(_json(CORPUS / "bybit_docs_account_ratio.json"), "BTCUSDT", "1d").rows
    assert (row.ts, row.long_share) == (1695772800000, 0.5777)
    assert row.ratio == pytest.approx(0.5777 / 0.4223)
    return 1


def check_deribit_dvol_docs() -> int:
    rows = parse_dvol(_json(CORPUS / "deribit_docs_get_volatility_index_data.json"), "BTC", "1m").rows
    assert [(r.ts, r.open, r.close) for r in rows] == [
        (1598019300000, 0.210084879, 0.212860821),
        (1598019360000, 0.212869011, 0.212987527),
        (1598019420000, 0.212987723, 0.212992597),
    ]
    return len(rows)


def check_sosovalue_docs() -> int:
    read = 1_700_000_000_000 * 2  # any time after the days: the read time is stored, never a day's time
    rows = parse_inflow_chart(_json(CORPUS / "sosovalue_docs_historicalInflowChart_btc.json"), "BTC", read)
    # Oldest first, the docs' figures as published (2024-04-12 an outflow), each with its source.
    assert [(r.date, r.net_usd, r.cum_net_usd) for r in rows] == [
        ("2024-04-11", 91269283.0, 12581438056.095),
        ("2024-04-12", -55066297.0, 13534833596.095),
    ]
    assert rows[1].ts == 1712880000000 and {(r.source, r.fetched_at) for r in rows} == {("sosovalue", read)}
    return len(rows)


def check_sosovalue_live_shape() -> int:
    payload = _json(CORPUS / "sosovalue_live_direct_list_btc_third_party_2026.json")
    rows = parse_inflow_chart(payload, "BTC", 1_900_000_000_000)
    assert [(r.date, r.net_usd) for r in rows] == [
        ("2026-06-01", -483760871.6),
        ("2026-06-02", -519190448.94),
        ("2026-07-31", -265372778.16),
    ]
    return len(rows)


def check_sosovalue_synthetic_eth() -> int:
    payload = _json(CORPUS / "sosovalue_synthetic_historicalInflowChart_eth.json")
    rows = parse_inflow_chart(payload, "ETH", 1_900_000_000_000)
    assert (rows[0].asset, rows[0].date, rows[0].net_usd) == ("ETH", "2026-01-12", -5300000.0)
    return len(rows)


def check_hyperliquid_asset_contexts_docs() -> int:
    coins = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "HPOS": "HPOSUSDT"}
    funding, interest = parse_hyperliquid(
        _json(CORPUS / "hyperliquid_docs_metaAndAssetCtxs.json"), coins, NOW
    )
    # assetCtxs[i] belongs to universe[i]; openInterest in coins, valued at markPx; funding per hour.
    assert [(r.symbol, r.contracts, r.usd) for r in interest.rows] == [
        ("BTCUSDT", 688.11, pytest.approx(688.11 * 14.3161)),
        ("ETHUSDT", 1882.55, pytest.approx(1882.55 * 6.0436)),
        ("HPOSUSDT", 2912.05, pytest.approx(2912.05 * 8.4542)),
    ]
    assert {r.rate for r in funding.rows} == {0.0000125} and not any(r.settled for r in funding.rows)
    return len(interest.rows)


def check_okx_open_interest_docs() -> int:
    (row,) = parse_okx_open_interest(
        _json(CORPUS / "okx_docs_open_interest.json"), {"BTC-USDT-SWAP": "BTCUSDT"}
    ).rows
    # oiCcy is the coins (one side), oiUsd their value; the contracts (oi) are not what is stored.
    assert (row.symbol, row.ts, row.contracts, row.usd) == ("BTCUSDT", 1597026383085, 555.55, 50000.0)
    return 1


def check_okx_funding_docs() -> int:
    (row,) = parse_okx_funding(_json(CORPUS / "okx_docs_funding_rate.json"), "BTCUSDT").rows
    assert (row.ts, row.rate, row.next_funding_time, row.settled) == (
        1743588686291,
        0.0000182221218054,
        1743609600000,
        False,
    )
    return 1


def check_binance_depth_docs() -> int:
    bands = parse_binance_depth(_json(CORPUS / "binance_docs_depth.json"), "BTCUSDT")
    # One level a side, both inside ±0.5 % of the mid: every band holds them, none reaches its edge.
    assert [(b.band_bp, b.bid_usd, b.ask_usd) for b in bands] == [
        (bp, 4.0 * 431.0, pytest.approx(4.000002 * 12.0)) for bp in (50, 100, 200)
    ]
    assert not any(b.bid_complete or b.ask_complete for b in bands) and bands[0].ts == 1589436922959
    return 1


def check_bybit_orderbook_docs() -> int:
    bands = parse_bybit_depth(_json(CORPUS / "bybit_docs_orderbook.json"), "BTCUSDT")
    assert bands[0].bid_usd == pytest.approx(16638.27 * 0.305749)
    assert bands[0].ask_usd == pytest.approx(16638.64 * 0.008479)
    assert bands[0].ts == 1672765737733
    return 1


GATE_TICKERS = "gate_futures_tickers_BTC_USDT_crypto_msg_parser_20220602.json"
DERIBIT_BOOK = "deribit_book_summary_BTC_crypto_msg_parser_20220604.jsonl"
PREDICTED = "hyperliquid_predictedFundings_BTC_ETH_live_20260903.json"


def check_gate_tickers_capture() -> int:
    # The ticker item of Gate's live futures.tickers frame has the REST tickers' fields; total_size is in
    # contracts of 0.0001 BTC (BTC_USDT's quanto_multiplier), "funding_rate" the running period's rate.
    frame = _json(CORPUS / GATE_TICKERS)
    btc = Instrument("gate", "perp", "BTC_USDT", "BTC", "USDT", contract_size=0.0001)
    funding, interest = parse_gate_tickers(frame["result"], {"BTC_USDT": btc}, 1654162715000)
    ((oi,), (rate,)) = interest.rows, funding.rows
    assert oi.symbol == "BTCUSDT" and oi.contracts == pytest.approx(75441.3619)
    assert oi.usd == pytest.approx(75441.3619 * 29908)
    assert (rate.rate, rate.mark_price, rate.settled, rate.ts) == (-0.00004, 29908.0, False, 1654162715000)
    return 1


def check_deribit_book_summary_capture() -> int:
    perpetual, dated = jsonl(CORPUS / DERIBIT_BOOK)
    watched = {"BTC-PERPETUAL": "BTCUSDT"}
    funding, interest = parse_deribit_book_summary(perpetual, watched)
    ((oi,), (rate,)) = interest.rows, funding.rows
    # An inverse perpetual's open interest is in USD; its coins are that over the mark price.
    assert (oi.ts, oi.usd) == (1654340303741, 560105870.0)
    assert oi.contracts == pytest.approx(560105870 / 29700.53)
    assert (rate.rate, rate.mark_price, rate.settled) == (0.00000214, 29700.53, False)
    # A dated future (BTC-24JUN22) is not the perpetual: no row.
    none_funding, none_oi = parse_deribit_book_summary(dated, watched)
    assert not none_funding.rows and not none_oi.rows and not none_funding.skipped
    return 2


def check_okx_rubik_long_short_docs() -> int:
    (row,) = parse_okx_long_short(
        _json(CORPUS / "okx_docs_rubik_long_short_account_ratio.json"), "BTCUSDT", "5m"
    ).rows
    assert (row.ts, row.source, row.metric, row.period, row.ratio) == (
        1630502100000,
        "okx",
        "accounts",
        "5m",
        1.25,
    )
    assert row.long_share == pytest.approx(1.25 / 2.25)
    return 1


def check_okx_rubik_taker_docs() -> int:
    (row,) = parse_okx_taker_volume(_json(CORPUS / "okx_docs_rubik_taker_volume.json"), "BTCUSDT", "1D").rows
    # [ts, sellVol, buyVol]: sells first.
    assert (row.ts, row.metric, row.period) == (1630425600000, "taker_volume", "1d")
    assert row.ratio == pytest.approx(7149.4855 / 7596.2651)
    assert row.long_share == pytest.approx(7149.4855 / (7149.4855 + 7596.2651))
    return 1


def check_predicted_fundings_capture() -> int:
    rows = parse_predicted_fundings(
        _json(CORPUS / PREDICTED), {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}, 1788460183896
    ).rows
    got = {(r.symbol, r.venue): (r.rate, r.next_funding_time, r.interval_h) for r in rows}
    assert got == {
        ("BTCUSDT", "binance"): (0.00009858, 1788480000000, 8.0),
        ("BTCUSDT", "hyperliquid"): (0.0012026746, 1788458400000, 1.0),
        ("ETHUSDT", "hyperliquid"): (-0.0010026023, 1788458400000, 1.0),
    }
    assert {r.source for r in rows} == {"hyperliquid"}
    return 3


BINANCE_FRAME = "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl"
LIVE_FRAMES = "live_liquidation_ws_frames_bybit_okx_htx_aster_binancetestnet_20260917.jsonl"
CHECKS: dict[str, Check] = {
    "corpus/binance_docs_forceOrder.json": check_binance_docs_force_order,
    "corpus/binance_docs_premiumIndex.json": check_premium_index_docs,
    "corpus/binance_docs_premiumIndex_all.json": check_premium_index_docs,
    "corpus/binance_docs_fundingRate.json": check_funding_history_docs,
    "corpus/binance_docs_openInterest.json": check_open_interest_docs,
    "corpus/binance_docs_openInterestHist.json": check_open_interest_hist_docs,
    "corpus/bybit_docs_allLiquidation.json": check_bybit_docs_all_liquidation,
    "corpus/bybit_docs_tickers_inverse.json": check_bybit_docs_tickers,
    "corpus/okx_docs_liquidation_orders_ws.json": check_okx_docs_liquidation_orders,
    "corpus/alternative_me_fng_sample_brrd_tutorial.json": check_fng_sample,
    "corpus/gate_docs_public_liquidates.json": check_gate_docs,
    f"corpus/{GATE_LIVE}": check_gate_live_frames,
    "corpus/deribit_trades_BTC-PERPETUAL_crypto_msg_parser_20210321.json": check_deribit_capture,
    "corpus/hyperliquid_trades_BTC_live_probe_20260904.json": check_hyperliquid_capture,
    "corpus/hyperliquid_info_clearinghouseState_docs_example.json": check_hyperliquid_docs_state,
    "fixtures/hyperliquid_info_clearinghouseState_mainnet_20230327.json": check_hyperliquid_cassette_state,
    "fixtures/hyperliquid_ws_trades_BTC_first_two_20260728.json": check_hyperliquid_trades_parties,
    "corpus/binance_docs_globalLongShortAccountRatio.json": check_binance_ratio_docs,
    "corpus/binance_docs_takerlongshortRatio.json": check_binance_taker_docs,
    "corpus/bybit_docs_account_ratio.json": check_bybit_account_ratio_docs,
    "corpus/deribit_docs_get_volatility_index_data.json": check_deribit_dvol_docs,
    "corpus/hyperliquid_docs_metaAndAssetCtxs.json": check_hyperliquid_asset_contexts_docs,
    "corpus/sosovalue_docs_historicalInflowChart_btc.json": check_sosovalue_docs,
    "corpus/sosovalue_live_direct_list_btc_third_party_2026.json": check_sosovalue_live_shape,
    "corpus/sosovalue_synthetic_historicalInflowChart_eth.json": check_sosovalue_synthetic_eth,
    "corpus/okx_docs_open_interest.json": check_okx_open_interest_docs,
    "corpus/okx_docs_funding_rate.json": check_okx_funding_docs,
    "corpus/binance_docs_depth.json": check_binance_depth_docs,
    "corpus/bybit_docs_orderbook.json": check_bybit_orderbook_docs,
    f"corpus/{GATE_TICKERS}": check_gate_tickers_capture,
    f"corpus/{DERIBIT_BOOK}": check_deribit_book_summary_capture,
    "corpus/okx_docs_rubik_long_short_account_ratio.json": check_okx_rubik_long_short_docs,
    "corpus/okx_docs_rubik_taker_volume.json": check_okx_rubik_taker_docs,
    f"corpus/{PREDICTED}": check_predicted_fundings_capture,
    f"corpus/{OKX_INSTRUMENTS}": check_okx_instruments,
    f"fixtures/{BINANCE_FRAME}": check_binance_combined_stream_frame,
    "fixtures/binance_forceOrder_liquidations_allsymbols_20251022_excerpt.csv": check_binance_collector_csv,
    "fixtures/okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv": check_okx_collector_csv,
    f"fixtures/{LIVE_FRAMES}": check_live_frames,
    "fixtures/binance_fapi_v1_premiumIndex_all_symbols_20250617.json": check_premium_index_all_symbols,
    "fixtures/binance_fapi_v1_openInterest_BTCUSDT_20240604.json": check_open_interest_capture,
    "fixtures/binance_fapi_v1_klines_BTCUSDT_5m_20251105.json": lambda: klines(
        FIXTURES / "binance_fapi_v1_klines_BTCUSDT_5m_20251105.json"
    ),
    "fixtures/binance_api_v3_klines_1m_20241116_symbol_unrecorded.json": lambda: klines(
        FIXTURES / "binance_api_v3_klines_1m_20241116_symbol_unrecorded.json"
    ),
}
# Payload files (43) and the items in them the checks compare one by one (tests/data/corpus/README.md).
EXPECTED_ITEMS = 2_214


def test_every_file_is_covered() -> None:
    on_disk = {
        f"{p.parent.name}/{p.name}"
        for folder in (FIXTURES, CORPUS)
        for p in folder.iterdir()
        if p.suffix in (".json", ".jsonl", ".csv")
    }
    assert on_disk == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_payload_means_what_its_documents_say(name: str) -> None:
    assert CHECKS[name]() > 0


def test_the_corpus_count() -> None:
    assert sum(check() for check in CHECKS.values()) == EXPECTED_ITEMS
