"""``tripwire check-config``: each configured market resolved against the venues' lists, or refused."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import main
from bot.config import parse_config
from feeds.base import Tuning
from feeds.instrument_fetch import InstrumentLists
from feeds.logonce import FailureLog
from storage.db import open_database
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml

# Twenty names as a community writes them: majors, 1000x coins, a stablecoin pair, a delisted pair, a typo.
TWENTY = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
    "LTCUSDT",
    "TRXUSDT",
    "SUIUSDT",
    "APTUSDT",
    "ARBUSDT",
    "OPUSDT",
    "1000PEPEUSDT",
    "SHIB",
    "BTCFDUSD",
    "LUNAUSDT",
    "SOLUSTD",
]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put back the root logger's handlers: ``main`` points them at this test's captured stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def twenty_config(tmp_path: Path, emu: ExchangeEmulator) -> Path:
    path = tmp_path / "twenty.toml"
    symbols = ", ".join(f'"{s}"' for s in TWENTY)
    db = tmp_path / "tripwire.db"
    path.write_text(
        f'symbols = [{symbols}]\n\n[storage]\npath = "{db}"\n\n'
        + tripwire_feeds_toml(emu.base_url, emu.ws_url)
    )
    return path


async def test_check_config_resolves_or_refuses_each_of_twenty_markets(
    tmp_path: Path, exchange_emu: ExchangeEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = twenty_config(tmp_path, exchange_emu)
    code = await asyncio.to_thread(main, ["check-config", str(path), "--fetch"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "symbols[15]: 1000PEPEUSDT is read as PEPEUSDT (prices and sizes per coin)" in out
    assert "symbols[16]: SHIB is read as SHIBUSDT (prices and sizes per coin)" in out
    pepe = next(line for line in out.splitlines() if line.startswith("symbols[15]: PEPEUSDT -> "))
    assert "binance_futures perp 1000PEPEUSDT (x1000)" in pepe and "bybit perp 1000PEPEUSDT (x1000)" in pepe
    assert "binance spot PEPEUSDT" in pepe
    shib = next(line for line in out.splitlines() if line.startswith("symbols[16]: SHIBUSDT -> "))
    assert "bybit perp SHIB1000USDT (x1000)" in shib and "binance_futures perp 1000SHIBUSDT (x1000)" in shib
    fdusd = next(line for line in out.splitlines() if line.startswith("symbols[17]: BTCFDUSD -> "))
    assert "(BTC/FDUSD): binance spot BTCFDUSD." in fdusd
    problems = [line for line in err.splitlines() if line.startswith(f"{path}: ")]  # not the log lines
    luna = f"{path}: symbols[18]: LUNAUSDT is not trading on any venue: binance spot LUNAUSDT, not trading"
    assert problems[0].startswith(luna)
    assert "SETTLING" in problems[0]
    typo = "SOLUSTD is not a market any venue lists. Did you mean SOLUSDT, SOLUSDC, SOLVUSDT?"
    assert problems[1] == f"{path}: symbols[19]: {typo}"
    assert len(problems) == 2 and err.splitlines()[-1] == "2 problem(s) found"


async def test_check_config_uses_the_cached_lists_offline(
    tmp_path: Path,
    exchange_emu: ExchangeEmulator,
    http: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = twenty_config(tmp_path, exchange_emu)
    config = parse_config(tomllib.loads(path.read_text()))
    db = open_database(config.storage.path)
    lists = InstrumentLists(
        config.feeds,
        http,
        lambda: 1,
        FailureLog(logging.getLogger("t"), lambda: 1),
        Repo(db),
        Tuning(),
    )
    await lists.refresh()
    db.conn.close()
    await exchange_emu.stop()  # the venues are gone: only the cache is left
    code = await asyncio.to_thread(main, ["check-config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and f"cached in {config.storage.path}" in out.splitlines()[1]
    assert err.splitlines()[-1] == "2 problem(s) found"
