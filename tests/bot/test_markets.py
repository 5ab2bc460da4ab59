"""Market names in the config and in /alert add: resolved to what the venues trade, or refused clearly."""

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
from bot.engine import Engine
from bot.errors import UserError
from bot.markets import canonical_symbol, canonicalise_config_data
from bot.service import Service
from feeds.base import Tuning
from feeds.instrument_fetch import InstrumentLists
from feeds.logonce import FailureLog
from storage.repo import Repo
from tests.bot.support import Clock, discord_engine
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


@pytest.mark.parametrize(
    ("written", "symbol"),
    [
        ("1000PEPEUSDT", "PEPEUSDT"),
        ("SHIB1000USDT", "SHIBUSDT"),
        ("SHIB", "SHIBUSDT"),
        ("pepe", "PEPEUSDT"),
        ("PEPE-USDT-SWAP", "PEPEUSDT"),
        ("ETH/USDT", "ETHUSDT"),
        ("BTCFDUSD", "BTCFDUSD"),
        ("1000000MOGUSDT", "MOGUSDT"),
        ("SOLUSTD", "SOLUSTD"),  # no known quote and too long for a bare coin: left for the lists to judge
    ],
)
def test_canonical_symbol(written: str, symbol: str) -> None:
    assert canonical_symbol(written) == symbol


def test_config_names_are_made_canonical_everywhere_and_said_where() -> None:
    data = {
        "symbols": ["BTCUSDT", "1000PEPEUSDT", "SHIB"],
        "rules": [{"id": "p", "detector": "level_cross", "symbol": "1000PEPEUSDT", "level": 0.00002}],
        "discord": {"presence_symbol": "SHIB"},
    }
    fixed, renamed = canonicalise_config_data(data)
    assert fixed["symbols"] == ["BTCUSDT", "PEPEUSDT", "SHIBUSDT"] and data["symbols"][1] == "1000PEPEUSDT"
    assert [str(r) for r in renamed] == [
        "symbols[1]: 1000PEPEUSDT is read as PEPEUSDT (prices and sizes per coin)",
        "symbols[2]: SHIB is read as SHIBUSDT (prices and sizes per coin)",
        "rules[0].symbol: 1000PEPEUSDT is read as PEPEUSDT (prices and sizes per coin)",
        "discord.presence_symbol: SHIB is read as SHIBUSDT (prices and sizes per coin)",
    ]
    config = parse_config(data)
    assert config.symbols == ["BTCUSDT", "PEPEUSDT", "SHIBUSDT"] and config.rules[0]["symbol"] == "PEPEUSDT"


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
    from storage.db import open_database

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


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


async def test_alert_symbols_resolve_through_the_venues_lists(
    repo: Repo, engine: Engine, exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = twenty_config(tmp_path, exchange_emu)
    config = parse_config({**tomllib.loads(path.read_text()), "symbols": ["BTCUSDT", "PEPE", "SHIB"]})
    service = Service(repo, engine, config, Clock(1))
    assert service.resolve_market("1000PEPEUSDT") == ("PEPEUSDT", "1000PEPEUSDT -> PEPEUSDT")  # before lists
    lists = InstrumentLists(
        config.feeds,
        http,
        lambda: 1,
        FailureLog(logging.getLogger("t"), lambda: 1),
        None,
        Tuning(),
    )
    await lists.refresh()
    service.instruments = lists.registry
    symbol, note = service.resolve_market("SHIB1000USDT")
    assert (
        symbol == "SHIBUSDT"
        and note is not None
        and note.startswith("SHIB1000USDT -> SHIBUSDT (SHIB/USDT): ")
    )
    assert service.resolve_symbol("pepe") == "PEPEUSDT"
    with pytest.raises(UserError) as typo:
        service.resolve_symbol("PEPPE")
    assert str(typo.value) == "PEPPE is not a market any venue lists. Did you mean PEPEUSDT?"
    with pytest.raises(UserError) as unwatched:
        service.resolve_symbol("DOGE")
    assert "Tripwire does not watch it: add DOGEUSDT to `symbols`." in str(unwatched.value)
    with pytest.raises(UserError) as delisted:
        service.resolve_symbol("LUNAUSDT")
    assert str(delisted.value).startswith("LUNAUSDT is not trading on any venue: binance spot LUNAUSDT")


def test_status_lists_a_refused_symbol_with_its_venue_and_reason() -> None:
    from bot.app import HealthStatuses
    from bot.discord.render import status_embed
    from bot.service import StatusView
    from feeds.health import HealthRegistry

    health = HealthRegistry(lambda: 1)
    health.register("binance_spot", {"candles"}, ["BTCUSDT"], stale_after_s=60).success(1)
    health.rejections.reject("binance", "NOPEUSDT", "binance_spot /api/v3/klines: HTTP 400 (Invalid symbol.)")
    statuses = HealthStatuses(health).statuses()
    assert [(s.name, s.state) for s in statuses] == [("binance_spot", "ok"), ("binance NOPEUSDT", "refused")]
    assert statuses[1].detail == "binance_spot /api/v3/klines: HTTP 400 (Invalid symbol.)"
    view = StatusView("1", 0.0, 0, 0, tuple(statuses), (), 0, 0, 0)
    feeds = next(f for f in status_embed(view).fields if f.name == "Feeds")
    assert "⛔ binance NOPEUSDT: refused" in feeds.value and "Invalid symbol." in feeds.value
