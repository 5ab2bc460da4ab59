"""SoSoValue's ETF inflow chart endpoint refuses what the API documents: no key, too many calls, no type."""

from __future__ import annotations

import aiohttp

from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.etf import API_KEY, KEY_HEADER, PATH, REQUESTS_PER_MINUTE


async def post(
    http: aiohttp.ClientSession, emu: ExchangeEmulator, body: object, key: str | None = API_KEY
) -> tuple[int, object]:
    headers = {} if key is None else {KEY_HEADER: key}
    async with http.post(emu.base_url + PATH, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_answers_the_documented_example_for_the_btc_type(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, exchange_emu, {"type": "us-btc-spot"})
    assert status == 200
    assert isinstance(body, dict) and body["code"] == 0 and body["msg"] is None
    days = body["data"]["list"]
    assert [d["date"] for d in days] == ["2024-04-12", "2024-04-11"]  # newest first
    assert days[0]["totalNetInflow"] == -55066297.0


async def test_a_missing_or_wrong_key_is_401_auth_required(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    for key in (None, "", "wrong-key"):
        status, body = await post(http, exchange_emu, {"type": "us-btc-spot"}, key)
        assert status == 401 and isinstance(body, dict) and body["code"] == "AUTH_REQUIRED"


async def test_more_than_twenty_calls_a_minute_is_429_rate_limited(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    statuses = [
        (await post(http, exchange_emu, {"type": "us-eth-spot"}))[0] for _ in range(REQUESTS_PER_MINUTE + 1)
    ]
    assert statuses == [200] * REQUESTS_PER_MINUTE + [429]
    status, body = await post(http, exchange_emu, {"type": "us-btc-spot"})
    assert status == 429 and isinstance(body, dict) and body["code"] == "RATE_LIMITED"


async def test_a_missing_or_unknown_type_is_a_failure_code(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    for body in ({}, {"type": ""}, {"type": "us-sol-spot"}, ["us-btc-spot"]):
        status, answer = await post(http, exchange_emu, body)
        assert status == 200 and isinstance(answer, dict) and answer["code"] == 1 and answer["data"] is None
