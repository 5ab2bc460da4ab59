"""Issue 17, finding 8: a SIGTERM delivers what is queued through a Discord session that is still open.

The real app runs against the exchange and Discord emulators and gets a real SIGTERM while one alert's
send is in flight (the emulator holds it) and more alerts are queued behind it. Before the fix Discord
closed before the outbox's last pass: the send in flight met ``RuntimeError: Session is closed`` (logged
with a traceback), every row lost an attempt, and the queued alerts waited for the next start. The alerts
here are synthetic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Secrets
from storage.db import open_database
from storage.repo import Repo
from tests.bot.discord.support import bot_messages, queue_alerts
from tests.bot.test_app import live_config, on_emulator
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID
from tests.emulators.exchanges.fixtures import EmulatorFactory

IN_FLIGHT = ["Sent as SIGTERM arrives"]
QUEUED = [f"Queued at SIGTERM {n}" for n in range(1, 4)]


@pytest.mark.parametrize("run", range(3))
async def test_finding_8_sigterm_delivers_queued_alerts_before_discord_closes(
    make_emulator: EmulatorFactory,
    discord_emu: DiscordEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run: int,
) -> None:
    emu = await make_emulator(shift_to="now")
    db = tmp_path / "live.db"
    config = live_config(emu, db, discord=on_emulator(discord_emu))
    app = App(config, Secrets(), token=discord_emu.config.token, discord_options=client_options())
    running = asyncio.create_task(app.run())
    await asyncio.wait_for(app.ready.wait(), timeout=30)
    assert app.parts is not None
    parts = app.parts
    target = f"channel:{ALERTS_CHANNEL_ID}"
    # The emulator holds the first send, so the SIGTERM lands while it is in flight.
    held = discord_emu.delay_next("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", 0.3 + 0.1 * run)
    queue_alerts(parts.repo, target, IN_FLIGHT, rule_id="r1", guild_id=GUILD_ID, now=app.now_ms())
    parts.dispatcher.wake()
    await discord_emu.wait_until(lambda: held.hits == 1, timeout=10)
    queued = queue_alerts(parts.repo, target, QUEUED, rule_id="r1", guild_id=GUILD_ID, now=app.now_ms())

    with caplog.at_level(logging.INFO):
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(running, timeout=30)

    assert code == 0
    # Grouping is on (the default 20 s window): the first send posts one alert, the last pass edits the
    # queued ones into that message.
    [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    shown = message.embeds[0]["description"]
    positions = [shown.index(f"**{title}**") for title in IN_FLIGHT + QUEUED]
    assert positions == sorted(positions)
    repo = Repo(open_database(db))
    try:
        rows = [repo.outbox_row(i) for i in range(queued[0] - 1, queued[-1] + 1)]
        # Each delivered by its first and only attempt: none was charged for the shutdown.
        assert [(r.status, r.attempts) for r in rows if r is not None] == [("delivered", 1)] * 4
        assert repo.outbox_depth() == 0
    finally:
        repo.close()
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    assert "Session is closed" not in caplog.text
    finished = [r.getMessage() for r in caplog.records if r.name == "bot.ops.shutdown"]
    assert "shutdown complete" in finished
