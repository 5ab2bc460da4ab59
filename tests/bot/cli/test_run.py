"""``tripwire run`` as a person starts it: a process with its token and endpoints in the environment,
feeds on the local exchange emulator, Discord on the local Discord emulator, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, MEMBER_ID, MOD_ROLE_ID, OWNER_ID
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml

ROOT = Path(__file__).resolve().parents[3]
# The error funnel's answer to an exception the bot did not expect (bot/discord's tree).
SOMETHING_WENT_WRONG = "Something went wrong on my side"
# A plausible value for a required string option, by name; anything else gets "x" (a user error is an answer).
STRING_VALUES = {"symbol": "btc", "detector": "level_cross", "settings": "level=95000", "rule": "btc-level"}
# The alert paths run for real (a rule created, a backtest answered), not only up to "needs a symbol".
ALERT_VALUES = {
    "detector": "level_cross",
    "symbol": "btc",
    "settings": "level=95000",
    "channel": ALERTS_CHANNEL_ID,
}
ALERT_PATHS = (["alert", "add"], ["alert", "test"])
# Required option values by Discord option type: integer, boolean, user, channel, role, number.
TYPED_VALUES: dict[int, Any] = {4: 1, 5: False, 6: MEMBER_ID, 7: ALERTS_CHANNEL_ID, 8: MOD_ROLE_ID, 10: 1}


def leaf_commands(command: dict[str, Any]) -> list[tuple[list[str], list[dict[str, Any]]]]:
    """Return (path, options) of every runnable command in a synced command payload."""
    options = command.get("options") or []
    nested = [o for o in options if o["type"] in (1, 2)]
    if not nested:
        return [([command["name"]], options)]
    return [([command["name"], *path], opts) for o in nested for path, opts in leaf_commands(o)]


# An ATTACHMENT option (type 11, /alert import's file) gets a small rules file the member "uploads".
RULES_FILE = b'[[rules]]\nid = "btc-file"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = 99000\n'


def required_values(options: list[dict[str, Any]], emu: DiscordEmulator) -> dict[str, Any]:
    """Fill every required option: its first choice, a plausible value, or the type's value."""
    values: dict[str, Any] = {}
    for option in options:
        if not option.get("required"):
            continue
        if option.get("choices"):
            values[option["name"]] = option["choices"][0]["value"]
        elif option["type"] == 3:
            values[option["name"]] = STRING_VALUES.get(option["name"], "x")
        elif option["type"] == 11:
            values[option["name"]] = emu.upload("rules.toml", RULES_FILE)
        else:
            values[option["name"]] = TYPED_VALUES[option["type"]]
    return values


async def _read_until(stream: asyncio.StreamReader, marker: str, within: float) -> str:
    """Return what ``stream`` printed up to and including the first line containing ``marker``."""
    seen: list[str] = []

    async def read() -> None:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the process ended before printing {marker!r}:\n{''.join(seen)}")
            seen.append(line)
            if marker in line:
                return

    await asyncio.wait_for(read(), timeout=within)
    return "".join(seen)


async def test_run_serves_slash_commands_on_discord_and_stops_on_sigint(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    exchange = await make_emulator(shift_to="now")
    config = tmp_path / "tripwire.toml"
    config.write_text(
        f'symbols = ["BTCUSDT"]\n[storage]\npath = "{tmp_path / "live.db"}"\n'
        + tripwire_feeds_toml(exchange.base_url, exchange.ws_url)
    )
    token = discord_emu.config.token
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRIPWIRE_DISCORD_TOKEN": token,
        "TRIPWIRE_DISCORD_API_BASE": discord_emu.api_base,
        "TRIPWIRE_DISCORD_GATEWAY_URL": discord_emu.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        log = await _read_until(process.stderr, "ready in", within=30)
        assert "Discord on" in log.splitlines()[-1]
        # No guild_ids in the config: the commands are synced globally.
        assert {c["name"] for c in discord_emu.commands_synced(None)} >= {"price", "alert", "setup"}
        # The bot answers while the feeds backfill; the price is there once the spot candles are.
        for _ in range(40):
            reply = await discord_emu.slash("price", {"symbol": "btc"})
            if reply.embeds or "No price data" not in (reply.content or ""):
                break
            await asyncio.sleep(0.5)
        assert reply.embeds[0]["title"].startswith("BTC is at $"), reply.content
        # Every command it synced answers (an answer, or a user error: never a timeout, never the funnel's
        # unexpected-error message, never a request the strict emulator refuses).
        answered = []
        replies = {}
        for command in discord_emu.commands_synced(None):
            for path, options in leaf_commands(command):
                values = required_values(options, discord_emu) | (ALERT_VALUES if path in ALERT_PATHS else {})
                reply = await discord_emu.slash(path, values, user_id=OWNER_ID, timeout=15)
                shown = (reply.content or "") + "".join(str(e) for e in reply.embeds)
                assert shown and SOMETHING_WENT_WRONG not in shown, (path, shown)
                answered.append(" ".join(path))
                replies[" ".join(path)] = reply
        print(f"{len(answered)} commands answered: {', '.join(answered)}")
        # /alert add created the rule, in the running process's database.
        created = replies["alert add"]
        assert created.embeds and created.embeds[0]["title"].startswith("Alert "), created.content
        rule_id = created.embeds[0]["title"].split()[1]
        with sqlite3.connect(tmp_path / "live.db") as db:
            stored = db.execute(
                "SELECT detector, symbol, channel_id FROM rules WHERE id = ?", (rule_id,)
            ).fetchall()
        assert stored == [("level_cross", "BTCUSDT", ALERTS_CHANNEL_ID)], (rule_id, stored)
        # /alert test replayed the same rule and answered with its backtest.
        tested = replies["alert test"]
        assert tested.embeds and tested.embeds[0]["title"].startswith("Backtest: "), tested.content
        print(f"/alert add: {created.embeds[0]['title']}; /alert test: {tested.embeds[0]['title']}")
        refused = [r for r in discord_emu.requests if r.status >= 400 and not r.injected]
        assert not refused, [(r.method, r.path, r.status) for r in refused]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert token not in log + out.decode() + err.decode()
