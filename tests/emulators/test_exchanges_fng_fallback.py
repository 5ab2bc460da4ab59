"""alternative.me Fear & Greed and the Coinbase/Kraken spot fallbacks."""

from __future__ import annotations

from decimal import Decimal

import aiohttp

from tests.emulators._helpers import get, ms, rows
from tests.emulators.exchanges import ExchangeEmulator

BREAKOUT_S = ms("2026-01-13T22:00") // 1000


# -- alternative.me --------------------------------------------------------------------------------------
async def test_fng_default_is_the_newest_value_with_time_until_update(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, _, body = await get(http, exchange_emu.base_url + "/fng/", format="json")
    assert status == 200
    assert body == {
        "name": "Fear and Greed Index",
        "data": [
            {
                "value": "32",
                "value_classification": "Fear",
                "timestamp": str(ms("2026-01-20T00:00") // 1000),
                "time_until_update": "0",
            }
        ],
        "metadata": {"error": None},
    }


async def test_fng_full_history_is_newest_first_with_strings(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, exchange_emu.base_url + "/fng/", limit=0, format="json")
    data = body["data"]
    long = rows("alternative_me_fear_greed_2018-02-01_2026-01-20.csv")
    assert len(data) == len(long) == 2907
    stamps = [int(d["timestamp"]) for d in data]
    assert stamps == sorted(stamps, reverse=True) and stamps[-1] == ms("2018-02-01T00:00") // 1000
    assert all(isinstance(d["value"], str) and isinstance(d["timestamp"], str) for d in data)
    assert ["time_until_update" in d for d in data] == [True] + [False] * (len(data) - 1)


async def test_fng_labels_published_where_known_and_derived_elsewhere(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, exchange_emu.base_url + "/fng/", limit=0)
    by_day = {int(d["timestamp"]) * 1000: d for d in body["data"]}
    for r in rows("alternative_me_fear_greed_2025-12-01_2026-01-20.csv"):
        item = by_day[ms(r["date"] + "T00:00")]
        assert (item["value"], item["value_classification"]) == (r["value"], r["classification"])
    # 2026-01-15: the index rose to 61, its highest since October.
    assert by_day[ms("2026-01-15T00:00")]["value_classification"] == "Greed"
    # Days before the labelled file get the emulator-derived bands.
    derived = {d["value_classification"] for ts, d in by_day.items() if ts < ms("2025-12-01T00:00")}
    assert derived == {"Extreme Fear", "Fear", "Neutral", "Greed", "Extreme Greed"}
    assert by_day[ms("2018-02-02T00:00")] == {
        "value": "15",
        "value_classification": "Extreme Fear",
        "timestamp": "1517529600",
    }


# -- Coinbase ----------------------------------------------------------------------------------------------
async def test_coinbase_candles_order_and_values(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/products/BTC-USD/candles"
    status, _, body = await get(http, url, granularity=3600, start=BREAKOUT_S - 3600, end=BREAKOUT_S + 3600)
    assert status == 200
    assert [c[0] for c in body] == [BREAKOUT_S + 3600, BREAKOUT_S, BREAKOUT_S - 3600]  # newest first
    # [time, low, high, open, close, volume]: low before high.
    assert body[1] == [BREAKOUT_S, 94087.23, 96495.0, 94087.23, 95757.21, 3452.31954]
    _, _, iso = await get(
        http, url, granularity=3600, start="2026-01-13T22:00:00Z", end="2026-01-13T22:00:00Z"
    )
    assert iso == [body[1]]


async def test_coinbase_validates_granularity_and_the_300_candle_cap(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/products/BTC-USD/candles"
    status, _, body = await get(http, url, granularity=120)
    assert (status, body) == (400, {"message": "Unsupported granularity"})
    status, _, body = await get(http, url, granularity=60, start=BREAKOUT_S, end=BREAKOUT_S + 300 * 60)
    assert status == 400 and "exceeds 300" in body["message"]
    status, _, body = await get(http, url, granularity=60, start=BREAKOUT_S, end=BREAKOUT_S + 299 * 60)
    assert status == 200 and len(body) == 300
    _, _, latest = await get(http, url, granularity=60)
    assert len(latest) == 300 and latest[0][0] == ms("2026-01-20T23:59") // 1000
    status, _, _ = await get(http, exchange_emu.base_url + "/products/DOGE-USD/candles", granularity=60)
    assert status == 404


# -- Kraken ------------------------------------------------------------------------------------------------
async def test_kraken_ohlc_shape_last_and_since(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/0/public/OHLC"
    status, _, body = await get(http, url, pair="XBTUSD", interval=60)
    assert status == 200 and body["error"] == []
    entries, last = body["result"]["XXBTZUSD"], body["result"]["last"]
    assert len(entries) == 480  # every recorded hour: fewer than Kraken's 720
    assert last == entries[-2][0] and entries[-1][0] == ms("2026-01-20T23:00") // 1000
    breakout = next(e for e in entries if e[0] == BREAKOUT_S)
    row = next(
        r
        for r in rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv")
        if r["timestamp"].startswith("2026-01-13 22")
    )
    vwap = Decimal(row["quote_volume"]) / Decimal(row["volume"])
    assert breakout == [
        BREAKOUT_S,
        "94087.2",
        "96495.0",
        "94087.2",
        "95757.2",
        f"{vwap:.1f}",
        "3452.31954000",
        510671,
    ]

    _, _, polled = await get(http, url, pair="XBTUSD", interval=60, since=last)
    assert [e[0] for e in polled["result"]["XXBTZUSD"]] == [
        entries[-1][0]
    ]  # the current candle is always there


async def test_kraken_errors_are_http_200_with_messages(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/0/public/OHLC"
    status, _, unknown = await get(http, url, pair="DOGEXYZ")
    assert (status, unknown) == (200, {"error": ["EQuery:Unknown asset pair"]})
    _, _, bad = await get(http, url, pair="XBTUSD", interval=7)
    assert bad == {"error": ["EGeneral:Invalid arguments"]}
    _, _, eth = await get(http, url, pair="ETHUSD", interval=1440)
    assert list(eth["result"]) == ["XETHZUSD", "last"] and len(eth["result"]["XETHZUSD"]) == 11
