"""`tripwire healthcheck` against a running HTTP server, and against the database without one."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.app import App
from bot.config import Secrets
from bot.ops.heartbeat import STALE_AFTER_S, beat, heartbeat_path, write_beat
from bot.ops.metrics import Registry
from bot.ops.readiness import CheckResult
from bot.ops.web import WebServer
from storage.db import open_database
from tests.bot.test_app import live_config
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.helpers import wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, http: str = "") -> Path:
    path = tmp_path / "tripwire.toml"
    path.write_text(f'symbols = ["BTCUSDT"]\n[storage]\npath = "{tmp_path / "t.db"}"\n{http}')
    return path


async def test_probes_healthz_and_readyz_of_the_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    # Configured for every address, as in a container, the probe goes through loopback (where the
    # test's server listens: these tests never open a port beyond 127.0.0.1).
    config = _config(tmp_path, f'[http]\nenabled = true\nhost = "0.0.0.0"\nport = {port}\n')
    ready = [True]
    server = WebServer(Registry(), {"feeds": lambda: CheckResult(ready[0], "")}, host="127.0.0.1", port=port)
    async with server:
        # main() blocks on urllib, so it runs in a thread while the loop serves the request.
        assert await asyncio.to_thread(main, ["healthcheck", "--config", str(config)]) == 0
        assert f"http://127.0.0.1:{port}/healthz answered 200" in capsys.readouterr().out
        ready[0] = False
        assert await asyncio.to_thread(main, ["healthcheck", "--ready", "--config", str(config)]) == 1
        assert "/readyz answered HTTP 503" in capsys.readouterr().err
        # Liveness does not depend on readiness.
        assert await asyncio.to_thread(main, ["healthcheck", "--config", str(config)]) == 0
    assert await asyncio.to_thread(main, ["healthcheck", "--timeout", "1", "--config", str(config)]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_without_http_a_database_alone_is_not_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    assert main(["healthcheck", "--config", str(config)]) == 1
    assert "does not exist" in capsys.readouterr().err
    # A readable database says nothing about the bot: it stays readable after the bot stopped.
    open_database(tmp_path / "t.db").conn.close()
    assert main(["healthcheck", "--config", str(config)]) == 1
    assert "no heartbeat" in capsys.readouterr().err


async def test_without_http_healthy_while_the_bot_runs_and_not_after(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = await make_emulator(shift_to="now")
    db = tmp_path / "t.db"
    config = _config(tmp_path)
    app = App(live_config(emu, db), Secrets(), token=None, console=io.StringIO())
    await app.start()
    try:
        # The first beat is written by the bot's loop as soon as it runs (off the loop, in a thread).
        beat_file = heartbeat_path(db)
        assert beat_file is not None
        await wait_for(beat_file.exists, within=5, what="the first heartbeat")
        assert await asyncio.to_thread(main, ["healthcheck", "--config", str(config)]) == 0
        assert "healthy: heartbeat 0 s ago" in capsys.readouterr().out
    finally:
        await app.stop()
    assert await asyncio.to_thread(main, ["healthcheck", "--config", str(config)]) == 1
    assert "no heartbeat" in capsys.readouterr().err


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What a killed bot leaves behind: a heartbeat that is no longer rewritten.
    config = _config(tmp_path)
    open_database(tmp_path / "t.db").conn.close()
    path = heartbeat_path(tmp_path / "t.db")
    assert path is not None
    write_beat(path, time.time() - STALE_AFTER_S - 1)
    assert main(["healthcheck", "--config", str(config)]) == 1
    assert "the bot was killed or its event loop is stuck" in capsys.readouterr().err
    write_beat(path, time.time())
    assert main(["healthcheck", "--config", str(config)]) == 0


async def test_the_beat_is_rewritten_and_removed_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "x.heartbeat"
    stop = asyncio.Event()
    task = asyncio.create_task(beat(path, stop, every_s=0.05))
    await asyncio.sleep(0.02)
    first = path.read_text()
    await asyncio.sleep(0.1)
    assert path.read_text() != first
    stop.set()
    await task
    assert not path.exists()
