"""`tripwire run` end to end: the real app against the local exchange and Discord emulators."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.__main__ import main
from bot.app import App
from bot.config import Config, Secrets, parse_config
from bot.ops.maintenance import JOB_ID as RETENTION_JOB_ID
from feeds.base import KINDS
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS, Liquidation
from tests.bot.promtext import parse_strict
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MOD_ROLE_ID
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.etf import API_KEY as ETF_KEY
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import wait_for

TABLES = ("candles", "liquidations", "funding", "open_interest", "fear_greed")
SYMBOLS = ("BTCUSDT", "ETHUSDT")
# Every (table, source, symbol) the feeds of tripwire_feeds_toml store for SYMBOLS (coinbase and kraken
# are only the spot fallback). Candles are keyed "<symbol> <interval>" and Fear & Greed by "-", as
# Repo.stats() and `tripwire db stats` name them. What the emulator serves for ETHUSDT funding and open
# interest and for Bybit's BTC/ETH liquidations is derived from other recordings (see its README).
EXPECTED_SLICES = frozenset(
    {("candles", "binance", f"{symbol} 1m") for symbol in SYMBOLS}
    | {("liquidations", source, symbol) for source in ("binance", "bybit", "okx") for symbol in SYMBOLS}
    | {(table, source, symbol) for table in ("funding", "open_interest") for source in ("binance", "bybit")
       for symbol in SYMBOLS}
    # The positioning feed's cross-venue open interest and funding (issue 19).
    | {(table, source, symbol) for table in ("funding", "open_interest")
       for source in ("okx", "hyperliquid", "gate", "deribit") for symbol in SYMBOLS}
    | {("fear_greed", "alternative.me", "-")}
)  # fmt: skip


def live_config(
    emu: ExchangeEmulator, db: Path, symbols: Sequence[str] = ("BTCUSDT",), **extra: Any
) -> Config:
    """Return a config for the symbols (BTCUSDT by default) with every feed on the emulator."""
    data: dict[str, Any] = {
        "symbols": list(symbols),
        "storage": {"path": str(db)},
        **tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url)),
        **extra,
    }
    return parse_config(data)


def on_emulator(discord_emu: DiscordEmulator) -> dict[str, Any]:
    """Return the ``[discord]`` table of a config talking to the Discord emulator's guild."""
    return {"guild_ids": [GUILD_ID], "api_base": discord_emu.api_base, "gateway_url": discord_emu.gateway_url}


def seed_known_liquidations(db: Path, now: int) -> None:
    """Store one small BTC liquidation on Binance two days back: Binance has been watched since then.

    Synthetic row (not a recording): it only tells cascade rules their baseline period is known (a fresh
    database knows no baseline, and a cascade rule waits a day for one).
    """
    repo = Repo(open_database(db))
    repo.insert_liquidations(
        [Liquidation("BTCUSDT", now - 2 * DAY_MS, "binance", "short", 95e3, 0.1, 9_500.0)]
    )
    repo.close()


def missing_slices(app: App) -> set[tuple[str, str, str]]:
    """Return the expected (table, source, symbol) slices that have no stored row yet."""
    assert app.parts is not None
    stored = {(s.table, s.source, s.symbol) for s in app.parts.repo.stats().spans if s.rows}
    return set(EXPECTED_SLICES - stored)


async def test_run_without_discord_ingests_every_source_and_stops_clean(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 100 frames/s per venue: Binance's first BTCUSDT liquidation is the 168th event of its recording.
    emu = await make_emulator(shift_to="now", liq_rate=100)
    db = tmp_path / "live.db"
    app = App(live_config(emu, db, SYMBOLS), Secrets(), token=None, console=io.StringIO())
    before = set(asyncio.all_tasks())
    await app.start()
    try:
        try:
            await wait_for(lambda: not missing_slices(app), within=20, what="rows of every source and symbol")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; none yet from {sorted(missing_slices(app))}") from None
        assert app.parts is not None
        # Every kind a feed provides is fresh; the ETF feed is off by default (it needs a key), so its
        # kind has no provider and counts as stale: the engine holds an etf_flow rule's signals back.
        unprovided = {kind for kind in KINDS if not app.parts.health.providers(kind)}
        assert unprovided == {"etf_flow"}
        for symbol in SYMBOLS:
            assert app.parts.health.stale_kinds(symbol) == unprovided, symbol
    finally:
        await app.stop()
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert not leaked, leaked
    # The database was closed cleanly and `tripwire db stats` shows what was ingested, per source and
    # symbol, and nothing from a source the config does not use.
    assert main(["db", "stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    for table in TABLES:
        line = next(line for line in out if line.strip().startswith(table + " "))
        assert not line.strip().endswith(" 0 rows"), line
    listed = out[out.index("observations by source and symbol:") + 1 :]
    slices = [re.fullmatch(r"  (\S+) +(\S+) +(.+?) +([\d,]+) rows  .+", line) for line in listed]
    assert all(slices), listed
    shown = {m.group(1, 2, 3): int(m[4].replace(",", "")) for m in slices if m}
    assert set(shown) == EXPECTED_SLICES and all(shown.values()), listed


def free_port() -> int:
    """Return a TCP port nothing listens on now (the config refuses port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def scrape(app: App) -> dict[str, Any]:
    """Return the metric families the app serves on /metrics."""
    assert app.parts is not None and app.parts.web is not None
    async with aiohttp.ClientSession() as session, session.get(f"{app.parts.web.url}/metrics") as resp:
        assert resp.status == 200
        return parse_strict(await resp.text())


async def check_metrics_are_kept(app: App, discord_emu: DiscordEmulator) -> None:
    """Check that the metrics the parts update themselves move in the running app."""
    assert app.parts is not None and app.parts.scheduler is not None
    families = await scrape(app)
    (count,) = [
        s for s in families["tripwire_evaluation_duration_seconds"].samples if s.name.endswith("_count")
    ]
    assert count.value >= 1  # the evaluation that raised the cascade was timed
    # The 503 the emulator answered the first post with (discord.py does not retry a 503; the outbox did).
    assert {s.labels["kind"]: s.value for s in families["tripwire_discord_errors"].samples} == {
        "server_error": 1
    }
    assert families["tripwire_retention_last_success_timestamp_seconds"].samples == []  # never ran yet
    # The daily retention job, run now, reports what it did.
    job = app.parts.scheduler.get_job(RETENTION_JOB_ID)
    assert await job.func(*job.args, **job.kwargs) is not None
    families = await scrape(app)
    assert families["tripwire_retention_last_success_timestamp_seconds"].samples[0].value > 0


async def test_run_with_discord_posts_a_live_cascade_to_the_routed_channel(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")  # no recorded liquidations: only the one pushed below
    seed_known_liquidations(tmp_path / "live.db", int(time.time() * 1000))
    config = live_config(
        emu,
        tmp_path / "live.db",
        discord=on_emulator(discord_emu),
        http={"enabled": True, "port": free_port()},
        routes=[{"guild_id": GUILD_ID, "channel_id": ALERTS_CHANNEL_ID, "role_id": MOD_ROLE_ID}],
        rules=[
            {
                "id": "btc-cascade",
                "detector": "liquidation_cascade",
                "symbol": "BTCUSDT",
                "min_usd": 1_000_000,
                "multiple": 1,
            }
        ],
    )
    app = App(
        config,
        Secrets(),
        token=discord_emu.config.token,
        discord_options=client_options(),
    )
    await app.start()
    try:
        assert app.parts is not None and app.parts.bot is not None
        await discord_emu.wait_until(lambda: discord_emu.commands_synced(GUILD_ID) != [], timeout=10)
        await wait_for(
            lambda: len(emu.ws_connections("binance")) > 0, within=10, what="the liquidation stream"
        )
        now = int(time.time() * 1000)
        # A forced BUY closes a short: $4.75M of BTC shorts liquidated on Binance.
        frame = {
            "e": "forceOrder",
            "E": now,
            "o": {"s": "BTCUSDT", "S": "BUY", "o": "LIMIT", "f": "IOC", "q": "50", "p": "95000",
                  "ap": "95000", "X": "FILLED", "l": "50", "z": "50", "T": now},
        }  # fmt: skip
        refused = discord_emu.fail_next("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", 503)
        assert await emu.push_ws("binance", frame) >= 1
        await discord_emu.wait_until(lambda: discord_emu.messages_in(ALERTS_CHANNEL_ID), timeout=15)
        assert refused.hits == 1
        (message,) = discord_emu.messages_in(ALERTS_CHANNEL_ID)
        assert "BTC shorts liquidated" in message.embeds[0]["title"]
        assert f"<@&{MOD_ROLE_ID}>" in (message.payload["content"] or "")
        (request,) = [
            r
            for r in discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")
            if r.status == 200
        ]
        allowed = request.json["allowed_mentions"]
        assert allowed["parse"] == [] and [int(r) for r in allowed["roles"]] == [MOD_ROLE_ID]
        await check_metrics_are_kept(app, discord_emu)
    finally:
        await app.stop()
    assert Repo(open_database(tmp_path / "live.db")).outbox_depth() == 0


def positioning_missing(repo: Repo) -> set[tuple[str, str, str]]:
    """Return the positioning (kind, source, symbol) slices the app has stored no row of yet.

    Kinds beyond funding and open interest (EXPECTED_SLICES): long/short readings of Binance (four
    metrics), Bybit and OKX rubik (accounts, taker volume), Deribit's DVOL, Hyperliquid's predicted funding
    of itself, Binance and Bybit, order-book depth of Binance and Bybit, and the ETF days of BTC and ETH.
    """
    want = (
        {("long_short", f"binance {m}", s) for m in ("accounts", "top_accounts", "top_positions",
         "taker_volume") for s in SYMBOLS}
        | {("long_short", "bybit accounts", s) for s in SYMBOLS}
        | {("long_short", f"okx {m}", s) for m in ("accounts", "taker_volume") for s in SYMBOLS}
        | {("implied_vol", "deribit", c) for c in ("BTC", "ETH")}
        | {("predicted_funding", f"hyperliquid {v}", s) for v in ("hyperliquid", "binance", "bybit")
           for s in SYMBOLS}
        | {("depth", v, s) for v in ("binance", "bybit") for s in SYMBOLS}
        | {("etf_flows", "sosovalue", c) for c in ("BTC", "ETH")}
    )  # fmt: skip
    have: set[tuple[str, str, str]] = set()
    for s in SYMBOLS:
        have |= {("long_short", f"{r.source} {r.metric}", s) for r in repo.long_short(s)}
        have |= {
            ("predicted_funding", f"{r.source} {r.venue}", s) for r in repo.latest_predicted_funding(s, 0)
        }
        have |= {("depth", r.source, s) for r in repo.depth(s)}
    for c in ("BTC", "ETH"):
        have |= {("implied_vol", r.source, c) for r in repo.implied_vol(c)}
        have |= {("etf_flows", r.source, c) for r in repo.etf_flows(c)}
    return want - have


async def test_run_stores_every_positioning_kind_for_btc_and_eth(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Issue 19's "the live app on the emulators stores every kind for BTC and ETH from every enabled
    # venue": the kinds the stats slices do not show, with the ETF feed switched on with the emulator's key.
    emu = await make_emulator(shift_to="now")
    data: dict[str, Any] = {
        "symbols": list(SYMBOLS),
        "storage": {"path": str(tmp_path / "live.db")},
        **tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url)),
    }
    data["feeds"]["etf"]["enabled"] = True
    app = App(parse_config(data), Secrets(etf_api_key=ETF_KEY), token=None, console=io.StringIO())
    await app.start()
    try:
        assert app.parts is not None
        repo = app.parts.repo
        try:
            await wait_for(lambda: not positioning_missing(repo), within=30, what="every positioning kind")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; none yet of {sorted(positioning_missing(repo))}") from None
    finally:
        await app.stop()
