"""`tripwire healthcheck` against a running HTTP server, and against the database without one."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.cli.health import probe_url
from bot.config import HttpConfig
from bot.ops.metrics import Registry
from bot.ops.readiness import CheckResult
from bot.ops.web import WebServer
from storage.db import open_database


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


def test_without_http_it_checks_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    assert main(["healthcheck", "--config", str(config)]) == 1
    assert "does not exist" in capsys.readouterr().err
    open_database(tmp_path / "t.db").conn.close()
    assert main(["healthcheck", "--config", str(config)]) == 0
    assert "readable" in capsys.readouterr().out
    (tmp_path / "t.db").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"t.db{suffix}").unlink(missing_ok=True)
    assert main(["healthcheck", "--config", str(config)]) == 1
    assert "not a SQLite database" in capsys.readouterr().err


def test_a_broken_config_is_unhealthy_not_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Docker reserves exit status 2 for health checks.
    assert main(["healthcheck", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:9108/healthz"),
        ("0.0.0.0", "http://127.0.0.1:9108/healthz"),
        ("::", "http://[::1]:9108/healthz"),
        ("10.0.0.5", "http://10.0.0.5:9108/healthz"),
    ],
)
def test_probe_url_reaches_wildcard_binds_through_loopback(host: str, url: str) -> None:
    assert probe_url(HttpConfig(enabled=True, host=host), ready=False) == url
