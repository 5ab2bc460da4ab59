"""`tripwire run` with the example config and no [[routes]], on the local exchange and Discord emulators.

Issue 22: with Discord on and no routes, the example rules fired and nothing was posted or logged. Now a
one-server bot posts them in the server's `/setup alert_channel`; until that is set, the start log and
`/status` say how many rules have no destination and why.
"""

from __future__ import annotations

import logging
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Secrets, parse_config
from tests.bot.test_app import on_emulator, seed_known_liquidations
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
_EXAMPLE = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))["rules"]
EXAMPLE_RULES = len(_EXAMPLE)
# A switched-off rule (the example's liquidation-map ones) never fires: it is not "without a destination".
ENABLED_EXAMPLE_RULES = sum(1 for rule in _EXAMPLE if rule.get("enabled", True))
NO_DESTINATION = "⚠️ Alerts with no destination"


def example_app(emu: ExchangeEmulator, discord_emu: DiscordEmulator, db: Path) -> App:
    """Return the app of config.example.toml, its feeds and Discord on the emulators, no [[routes]]."""
    data: dict[str, Any] = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert "routes" not in data and len(data["rules"]) == EXAMPLE_RULES
    data.update(tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url)))
    data["storage"] = {**data["storage"], "path": str(db)}
    data["discord"] = {**data["discord"], **on_emulator(discord_emu)}
    return App(
        parse_config(data), Secrets(), token=discord_emu.config.token, discord_options=client_options()
    )


def status_fields(reply: Any) -> dict[str, str]:
    """Return the /status embed's fields by name."""
    return {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}


async def test_without_routes_or_alert_channel_the_start_log_and_status_count_the_rules_with_nowhere_to_go(
    make_emulator: EmulatorFactory,
    discord_emu: DiscordEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = await make_emulator(shift_to="now")
    app = example_app(emu, discord_emu, tmp_path / "live.db")
    caplog.set_level(logging.INFO, logger="bot.app")
    await app.start()
    try:
        said = [
            r.getMessage() for r in caplog.records if r.name == "bot.app" and r.levelno == logging.WARNING
        ]
        [warning] = [m for m in said if "no destination" in m]
        assert ENABLED_EXAMPLE_RULES < EXAMPLE_RULES  # the count leaves the switched-off rules out
        assert warning.startswith(f"{ENABLED_EXAMPLE_RULES} rules have no destination (btc-30d-range, ")
        assert f"server {GUILD_ID} has no alert channel yet. Run /setup alert_channel there" in warning
        ready = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ready in")]
        assert f"{ENABLED_EXAMPLE_RULES} rules ({ENABLED_EXAMPLE_RULES} without a destination)" in ready[0]
        await discord_emu.wait_until(lambda: discord_emu.commands_synced(GUILD_ID) != [], timeout=10)
        reply = await discord_emu.slash("status", {}, user_id=MEMBER_ID)
        assert status_fields(reply)[NO_DESTINATION] == warning

        # Once the backfill is in, the cascade rules say they learn their baseline first (a fresh database
        # knows no liquidation from before the start): a rule holding back is never silent either.
        def told(rule_id: str) -> list[str]:
            prefix = f"rule {rule_id}: "
            return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]

        await wait_for(lambda: told("eth-liquidations"), within=30, what="the cascade rules' outlook")
        for rule_id in ("btc-liquidations", "eth-liquidations"):
            [said] = told(rule_id)
            assert "cannot fire before" in said, said
    finally:
        await app.stop()


async def test_with_setup_alert_channel_the_example_rules_alerts_are_posted_there(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")  # no recorded liquidations: only the one pushed below
    db = tmp_path / "live.db"
    seed_known_liquidations(db, int(time.time() * 1000))
    app = example_app(emu, discord_emu, db)
    await app.start()
    try:
        await discord_emu.wait_until(lambda: discord_emu.commands_synced(GUILD_ID) != [], timeout=10)
        setup = await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
        fields = status_fields(setup)
        assert fields["Config-file rules"] == (
            f"{ENABLED_EXAMPLE_RULES} config-file rules that no [[routes]] entry names post here."
        )
        assert NO_DESTINATION not in status_fields(await discord_emu.slash("status", {}, user_id=MEMBER_ID))

        await wait_for(
            lambda: len(emu.ws_connections("binance")) > 0, within=10, what="the liquidation stream"
        )
        now = int(time.time() * 1000)
        # A forced BUY closes a short: $28.5M of BTC shorts liquidated on Binance, over the example
        # btc-liquidations rule's $20M.
        frame = {
            "e": "forceOrder",
            "E": now,
            "o": {"s": "BTCUSDT", "S": "BUY", "o": "LIMIT", "f": "IOC", "q": "300", "p": "95000",
                  "ap": "95000", "X": "FILLED", "l": "300", "z": "300", "T": now},
        }  # fmt: skip
        assert await emu.push_ws("binance", frame) >= 1
        await discord_emu.wait_until(lambda: discord_emu.messages_in(ALERTS_CHANNEL_ID), timeout=15)
        [message] = discord_emu.messages_in(ALERTS_CHANNEL_ID)
        assert message.embeds[0]["title"].startswith("$28.5M of BTC shorts liquidated in 1h")

        # /status and /history list the same alert (issue 22: /status listed one /history did not).
        assert app.parts is not None
        [event] = app.parts.repo.events(limit=10)
        assert event.rule_id == "btc-liquidations"
        status = status_fields(await discord_emu.slash("status", {}, user_id=MEMBER_ID))
        assert "`btc-liquidations`" in status["Last alerts"]
        history = await discord_emu.slash("history", {}, user_id=MEMBER_ID)
        assert f"#{event.id}" in history.embeds[0]["description"]
    finally:
        await app.stop()
