"""Hyperliquid's POST /info on the emulator: recorded and stand-in account states, the IP weight limit."""

from __future__ import annotations

import json

import aiohttp

from feeds.hyperliquid_positions import parse_clearinghouse_state
from tests.conftest import DATA
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory

RECORDED = "0x5e9ee1089755c3435139848e47e6635505d5a13a"


async def post(http: aiohttp.ClientSession, emu: ExchangeEmulator, body: object) -> tuple[int, bytes]:
    async with http.post(f"{emu.base_url}/info", data=json.dumps(body)) as response:
        return response.status, await response.read()


async def test_the_recorded_account_is_served_byte_exact_and_others_as_stand_ins(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, exchange_emu, {"type": "clearinghouseState", "user": RECORDED})
    recorded = DATA / "fixtures" / "hyperliquid_info_clearinghouseState_mainnet_20230327.json"
    assert status == 200 and body == recorded.read_bytes()
    positions = []
    for n in range(1, 21):
        user = f"0x{n:040x}"
        status, body = await post(http, exchange_emu, {"type": "clearinghouseState", "user": user})
        assert status == 200
        positions += parse_clearinghouse_state(user, json.loads(body))
        # The same account answers the same positions (derived from its address) at the same clock.
        again = await post(http, exchange_emu, {"type": "clearinghouseState", "user": user})
        assert again[1] == body
    # Some accounts hold BTC or ETH, some nothing (not opened yet, liquidated since, or never).
    assert 0 < len({p.user for p in positions}) < 20 and {p.coin for p in positions} == {"BTC", "ETH"}
    for p in positions:
        if p.margin == "isolated":
            # An isolated long is liquidated below its entry, a short above.
            assert p.liquidation_px is not None
            assert (p.liquidation_px < p.entry) if p.side == "long" else (p.liquidation_px > p.entry)
    status, body = await post(http, exchange_emu, {"type": "metaAndAssetCtxs"})
    meta, ctxs = json.loads(body)
    assert [a["name"] for a in meta["universe"]] == ["BTC", "ETH"]
    assert float(ctxs[0]["openInterest"]) > 0 and float(ctxs[0]["markPx"]) > 50_000


async def test_bad_bodies_and_addresses_are_refused_with_422(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    for body in ({"type": "clearinghouseState", "user": "0x123"}, {"user": RECORDED}, "not json"):
        status, text = await post(http, exchange_emu, body)
        assert (status, text) == (422, b"Failed to deserialize the JSON body into the target type")


async def test_the_ip_weight_limit_refuses_with_429(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(hyperliquid_weight_limit=30)
    assert (await post(http, emu, {"type": "metaAndAssetCtxs"}))[0] == 200  # weight 20
    for _ in range(5):  # 5 x 2 = 10: the limit reached exactly
        assert (await post(http, emu, {"type": "clearinghouseState", "user": RECORDED}))[0] == 200
    assert (await post(http, emu, {"type": "clearinghouseState", "user": RECORDED}))[0] == 429
    assert emu.hyperliquid_info.weight.refused == 1
