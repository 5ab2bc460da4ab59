"""Time shift (recorded data ending "now") and the command-line mode."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from tests.emulators._helpers import get, ms, recv_json
from tests.emulators.conftest import EmulatorFactory
from tests.emulators.exchanges import Clock, free_port

DAY = 86_400_000
BREAKOUT = ms("2026-01-13T22:00")
REPO = Path(__file__).resolve().parents[2]


def test_clock_shifts_by_whole_days_and_round_trips() -> None:
    recorded_end = ms("2026-01-20T23:59:59.999")
    clock = Clock.create(ms("2026-03-01T10:30"), recorded_end, frozen=True)
    assert clock.offset_ms == ms("2026-03-01T00:00") - ms("2026-01-20T00:00")
    assert clock.offset_ms % DAY == 0 and clock.now_ms() == ms("2026-03-01T10:30")
    assert clock.recorded(clock.served(BREAKOUT)) == BREAKOUT
    assert clock.recorded_now_ms() == ms("2026-01-20T10:30")
    unshifted = Clock.create(None, recorded_end)
    assert (unshifted.offset_ms, unshifted.now_ms(), unshifted.shifted) == (0, recorded_end, False)


async def test_shift_to_an_epoch_moves_every_series_and_hides_the_future(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(shift_to=ms("2026-03-01T10:30"), freeze_clock=True)
    shift = ms("2026-03-01T00:00") - ms("2026-01-20T00:00")
    base = emu.base_url
    _, _, klines = await get(
        http, base + "/api/v3/klines", symbol="BTCUSDT", interval="1h", startTime=BREAKOUT + shift, limit=1
    )
    assert klines[0][:5] == [
        BREAKOUT + shift,
        "94087.23000000",
        "96495.00000000",
        "94087.23000000",
        "95757.21000000",
    ]
    _, _, latest = await get(http, base + "/api/v3/klines", symbol="BTCUSDT", interval="1h", limit=2)
    assert [k[0] for k in latest] == [ms("2026-03-01T09:00"), ms("2026-03-01T10:00")]  # nothing after now
    _, _, funding = await get(http, base + "/fapi/v1/fundingRate", symbol="BTCUSDT", limit=1)
    assert (
        funding[0]["fundingTime"] == 1768896000001 + shift
    )  # the 2026-01-20 08:00 row; 16:00 is still ahead
    _, _, fng = await get(http, base + "/fng/")
    assert (
        fng["data"][0]["timestamp"] == str(ms("2026-03-01T00:00") // 1000) and fng["data"][0]["value"] == "32"
    )
    assert fng["data"][0]["time_until_update"] == str(
        (ms("2026-03-02T00:00") - ms("2026-03-01T10:30")) // 1000
    )
    _, _, premium = await get(http, base + "/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert premium["time"] == ms("2026-03-01T10:30") and premium["nextFundingTime"] == ms("2026-03-01T16:00")
    _, _, okx = await get(
        http, base + "/api/v5/public/liquidation-orders", instType="SWAP", instFamily="BTC-USDT"
    )
    assert int(okx["data"][0]["details"][0]["ts"]) == ms("2026-03-01T10:30")  # the excerpt ends "now"


async def test_shift_to_now_serves_fresh_candles_and_stamps_live_frames(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(shift_to="now", liq_rate=50)
    now = time.time() * 1000
    _, _, latest = await get(http, emu.base_url + "/api/v3/klines", symbol="BTCUSDT", interval="1h", limit=1)
    assert now - 3_600_000 < latest[0][0] <= now and latest[0][0] % 3_600_000 == 0
    async with http.ws_connect(emu.ws_url + "/market/ws/!forceOrder@arr") as ws:
        event = await recv_json(ws)
    assert abs(event["E"] - time.time() * 1000) < 5000 and event["E"] == event["o"]["T"]


async def test_command_line_serves_prints_config_and_stops_on_sigint(http: aiohttp.ClientSession) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.exchanges",
        "--port",
        str(port),
        "--shift-to-now",
        "--liq-rate",
        "20",
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        printed = ""
        async with asyncio.timeout(15):
            while "[feeds.fear_greed]" not in printed:
                line = await proc.stdout.readline()
                assert line, "the emulator exited before printing its config"
                printed += line.decode()
        assert f'rest_url = "http://127.0.0.1:{port}"' in printed
        _, _, fng = await get(http, f"http://127.0.0.1:{port}/fng/")
        assert fng["data"][0]["value"] == "32"
        await asyncio.sleep(0.2)
        async with http.get(f"http://127.0.0.1:{port}/_control/state") as resp:
            state = json.loads(await resp.read())
        assert state["shifted"] is True and state["replay"]["binance"] >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            code = await proc.wait()
    assert code == 0
