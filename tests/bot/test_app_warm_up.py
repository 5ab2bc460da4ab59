"""`tripwire run` backfills the history an indicator rule of the config needs, from the venue's klines.

The real app against the exchange emulator (its recorded hours shifted to now): a 4h RSI rule makes the
spot feed (1m candles) fetch Binance's own 4h candles at start, enough for the rule's warm-up, so the rule
is warm as soon as the feeds have started instead of two and a half days later.
"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path
from typing import Any

from bot.alerts.warmup import warming
from bot.app import App
from bot.config import Secrets, parse_config
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import wait_for

RSI_4H = {
    "id": "btc-rsi-4h",
    "detector": "rsi",
    "symbol": "BTCUSDT",
    "interval": "4h",
    "period": 14,
    "above": 70,
}


async def test_a_4h_rsi_rule_of_the_config_is_warm_once_the_feeds_started(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    feeds: dict[str, Any] = tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url))["feeds"]
    for name in ("binance_futures", "bybit", "okx", "fear_greed"):
        feeds[name]["enabled"] = False  # only the spot candles matter here
    feeds["binance_spot"]["backfill_days"] = 0.1  # two and a half hours of minutes: far from 16 4h candles
    config = parse_config(
        {
            "symbols": ["BTCUSDT"],
            "storage": {"path": str(tmp_path / "w.db")},
            "feeds": feeds,
            "rules": [RSI_4H],
        }
    )
    app = App(config, Secrets(), token=None, console=io.StringIO())
    parts = await app.start()
    try:
        await wait_for(
            lambda: parts.feeds.started and bool(parts.feeds.feeds), within=20, what="feeds started"
        )
        rows = lambda: parts.repo.candles("BTCUSDT", "4h", source="binance")  # noqa: E731
        await wait_for(lambda: len(rows()) >= 17, within=20, what="17 closed 4h candles")
        [rule] = [r for r in parts.engine.rules() if r.id == "btc-rsi-4h"]
        assert warming(rule.detector.settings, parts.history, "BTCUSDT", app.now_ms()) == ()
        asked = [r.query for r in emu.requests("/api/v3/klines") if r.query.get("interval") == "4h"]
        assert len(asked) == 1 and int(asked[0]["limit"]) <= 1000
        assert all(r.closed and r.open_time % (4 * 3_600_000) == 0 for r in rows())
    finally:
        await app.stop()
