"""What the multi-process tests share: the bundled scenario's price path, market-role configs, processes.

The price path is the bundled scenario's BTCUSDT hourly closes from 2026-01-13 00:00 to 2026-01-14 20:00
UTC (the $95,000 breakout: 91,483 → 97,655), taken as their running maximum (each level is crossed once,
upward, so what must fire does not depend on when a process was down) and scaled onto the price the
exchange emulator serves now, so that every level lies above anything recorded in the backfilled hours.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.tripwire_toml import feed_urls

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_CSV = ROOT / "bot" / "scenario" / "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv"
PATH_FROM, PATH_TO = "2026-01-13 00:00", "2026-01-14 20:00"
# Levels of the breakout, every $500 from $92,000 to $97,500 of the scenario's own prices (12 rules).
LEVELS = tuple(Decimal(92_000 + 500 * i) for i in range(12))
HOUR_MS = 3_600_000


def scenario_closes() -> list[Decimal]:
    """Return the scenario's BTCUSDT hourly closes of the breakout, in time order."""
    with SCENARIO_CSV.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if PATH_FROM <= r["timestamp"][:16] <= PATH_TO]
    return [Decimal(r["close"]) for r in rows]


def running_max(prices: list[Decimal]) -> list[Decimal]:
    """Return the new highs of ``prices`` (each one higher than every earlier one)."""
    highs: list[Decimal] = []
    for price in prices:
        if not highs or price > highs[-1]:
            highs.append(price)
    return highs


@dataclass(frozen=True)
class PricePath:
    """The scaled path to stream and the scaled levels the rules watch."""

    prices: list[Decimal]
    levels: list[Decimal]


def price_path(emu: ExchangeEmulator, symbol: str = "BTCUSDT") -> PricePath:
    """Return the scenario's path scaled to open 1 % above the highest price served in the last 3 hours."""
    recorded_now = emu.ctx.clock.recorded_now_ms()
    series = emu.ctx.data.candles(symbol, "1m") or []
    recent = [c.high for c in series if recorded_now - 3 * HOUR_MS <= c.open_time <= recorded_now]
    closes = running_max(scenario_closes())
    scale = max(recent) * Decimal("1.01") / closes[0]
    cent = Decimal("0.01")
    return PricePath(
        [(p * scale).quantize(cent) for p in closes], [(lv * scale).quantize(cent) for lv in LEVELS]
    )


def market_config(
    emu: ExchangeEmulator, pg_url: str, levels: list[Decimal], poll_seconds: float
) -> dict[str, Any]:
    """Return a config with only Binance spot candles (streamed) on the emulator and one rule per level."""
    feeds: dict[str, dict[str, Any]] = {
        name: {**urls, "enabled": name == "binance_spot"}
        for name, urls in feed_urls(emu.base_url, emu.ws_url).items()
    }
    feeds["binance_spot"] |= {
        "candles": "stream",
        "interval": "1m",
        "backfill_days": 0.05,
        "fallback": "none",
    }
    return {
        "symbols": ["BTCUSDT"],
        "storage": {"url": pg_url},
        "roles": {"lease_poll_seconds": poll_seconds},
        "engine": {"evaluate_seconds": 1},
        "watchdog": {"enabled": False},
        "discord": {"guild_ids": [GUILD_ID]},
        "feeds": feeds,
        "routes": [{"guild_id": GUILD_ID, "channel_id": ALERTS_CHANNEL_ID}],
        "rules": [
            {
                "id": f"level-{i:02d}",
                "detector": "level_cross",
                "symbol": "BTCUSDT",
                "level": float(level),
                "direction": "up",
                "use_wicks": True,  # the live price, not the minute's close
            }
            for i, level in enumerate(levels)
        ],
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as TOML to ``path`` and return it."""
    path.write_text(tomli_w.dumps(config))
    return path


@dataclass
class Process:
    """One ``tripwire`` child process whose stderr goes to a file the test reads."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: Any = None
    started: float = 0.0

    def start(self, cwd: Path) -> Process:
        """Start it."""
        import subprocess

        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        self.started = time.monotonic()
        with self.log.open("ab") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bot", *self.args], cwd=cwd, env=env, stdout=err, stderr=err
            )
        return self

    def text(self) -> str:
        """Return what it logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def logged(self, marker: str) -> bool:
        """Return whether it logged ``marker``; fail at once if it ended without it."""
        if marker in self.text():
            return True
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.popen.returncode} before {marker!r}:\n{self.text()}"
            )
        return False
