"""``tripwire replay --discord``: the replay posting through the live bot's Discord sink to the emulator,
resuming on its database without posting twice, its pace, and its refusals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.alerts.routing import AlertRouter
from bot.config import Secrets
from bot.discord.replay import replay_to_discord
from bot.errors import UserError
from bot.notify.console import ConsoleSink
from feeds.replay import parse_time
from storage.db import open_database
from storage.repo import Repo
from tests.bot.discord.noise_support import BTC_LINES, ETH_LINES, listed, scenario_config
from tests.bot.durability import write_config
from tests.bot.scenario import scenario_data
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID


def posted(emu: DiscordEmulator, channel: int) -> list[str]:
    """Return the alert lines of the bot's messages in a channel."""
    return [line for m in emu.messages_in(channel) if m.source == "channel" for line in listed(m)]


async def test_the_breakout_is_posted_once_even_when_replayed_again_on_its_database(
    discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    config = scenario_config()
    repo = Repo(open_database(tmp_path / "replay.db"))
    options = {"start": parse_time("2026-01-13T22:00Z"), "end": parse_time("2026-01-13T23:00Z")}
    router = lambda r: AlertRouter(r, config.routes, console=False, discord=True)  # noqa: E731
    token = discord_emu.config.token
    try:
        first = await replay_to_discord(
            config, Secrets(), token, scenario_data(), repo, [], router, **options
        )
        again = await replay_to_discord(
            config, Secrets(), token, scenario_data(), repo, [], router, **options
        )
    finally:
        repo.close()

    assert first.fired == 8 and first.delivered == 8 and again.fired == 0 and again.delivered == 0
    assert posted(discord_emu, ALERTS_CHANNEL_ID) == BTC_LINES
    assert posted(discord_emu, GENERAL_CHANNEL_ID) == ETH_LINES


async def test_the_pace_spreads_simulated_hours_over_wall_time(
    discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    config = scenario_config()
    repo = Repo(open_database(":memory:"))
    console = tmp_path / "out.txt"
    router = lambda r: AlertRouter(r, config.routes, console=True, discord=True)  # noqa: E731
    began = time.monotonic()
    with console.open("w") as stream:
        summary = await replay_to_discord(
            config,
            Secrets(),
            discord_emu.config.token,
            scenario_data(),
            repo,
            [ConsoleSink(stream)],
            router,
            start=parse_time("2026-01-13T18:00Z"),
            end=parse_time("2026-01-13T23:00Z"),
            pace=0.2,
        )
    took = time.monotonic() - began
    repo.close()
    # Five simulated hours at 0.2 s each; the console printed every alert Discord got (in four messages
    # for BTC: the 19:00 golden cross, the 20:00 4h RSI, the 21:00 run-up and the 23:00 breakout, folds
    # included).
    assert 0.95 <= took < 5.0 and summary.evaluated_ticks == 6
    printed = console.read_text().splitlines()
    assert len(printed) == summary.fired == 13
    messages = [m for m in discord_emu.messages_in(ALERTS_CHANNEL_ID) if m.source == "channel"]
    assert len(messages) == 4 and posted(discord_emu, ALERTS_CHANNEL_ID)[3:] == BTC_LINES


async def test_a_token_discord_refuses_is_a_clear_error(discord_emu: DiscordEmulator) -> None:
    config = scenario_config()
    repo = Repo(open_database(":memory:"))
    router = lambda r: AlertRouter(r, config.routes, console=False, discord=True)  # noqa: E731
    with pytest.raises(UserError, match="Discord refused the token"):
        await replay_to_discord(config, Secrets(), "not-the-token", scenario_data(), repo, [], router)
    repo.close()


def test_discord_replay_needs_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRIPWIRE_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("TRIPWIRE_DISCORD_TOKEN_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["replay", "--discord"]) == 2
    assert "--discord needs the bot token in TRIPWIRE_DISCORD_TOKEN" in capsys.readouterr().err


def test_discord_replay_needs_somewhere_to_post(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "a-token")
    monkeypatch.chdir(tmp_path)
    assert main(["replay", "--discord", "--to", "2026-01-02"]) == 2  # the example config has no routes
    assert "--discord: nothing would be posted; add [[routes]]" in capsys.readouterr().err
    # With routes it gets as far as connecting (nothing listens on the discard port).
    config = write_config(tmp_path)
    monkeypatch.setenv("TRIPWIRE_DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    monkeypatch.setenv("TRIPWIRE_DISCORD_GATEWAY_URL", "ws://127.0.0.1:9/")
    assert main(["replay", "--discord", "--config", str(config), "--to", "2026-01-02"]) == 2
    assert "--discord: could not connect to Discord" in capsys.readouterr().err
