"""The emulator's config snippet is a valid Tripwire config (test_scheduler.py in tests/feeds runs on it)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from bot.config import load_config, parse_config
from tests.conftest import ROOT
from tests.emulators.exchanges.tripwire_toml import EXAMPLE_CONFIG, tripwire_feeds_toml, write_config


def test_snippet_is_a_valid_tripwire_feeds_section() -> None:
    data = tomllib.loads(
        'symbols = ["BTCUSDT"]\n' + tripwire_feeds_toml("http://127.0.0.1:8766", "ws://127.0.0.1:8766")
    )
    config = parse_config(data)
    feeds = config.feeds
    assert feeds.binance_spot.base_url == feeds.coinbase.base_url == "http://127.0.0.1:8766"
    assert feeds.binance_futures.ws_url == "ws://127.0.0.1:8766/market"
    assert feeds.okx.ws_url.endswith("/ws/v5/public") and feeds.bybit.ws_url.endswith("/v5/public/linear")
    assert feeds.fear_greed.base_url == feeds.okx.rest_url == feeds.bybit.rest_url == "http://127.0.0.1:8766"


def test_write_config_creates_a_runnable_config_from_the_example(tmp_path: Path) -> None:
    path = tmp_path / "live.toml"
    assert write_config(path, "http://127.0.0.1:8766", "ws://127.0.0.1:8766") is True
    config = load_config(path)
    example = load_config(EXAMPLE_CONFIG)
    # The example's rules and options, with every feed on the emulator.
    assert config.rules == example.rules and config.symbols == example.symbols
    assert config.feeds.kraken.base_url == config.feeds.okx.rest_url == "http://127.0.0.1:8766"
    assert config.feeds.bybit.ws_url == "ws://127.0.0.1:8766/v5/public/linear"
    assert config.feeds.binance_spot.poll_seconds == example.feeds.binance_spot.poll_seconds


def test_write_config_keeps_an_existing_file_but_its_feed_urls(tmp_path: Path) -> None:
    path = tmp_path / "live.toml"
    write_config(path, "http://127.0.0.1:8766", "ws://127.0.0.1:8766")
    edited = path.read_text().replace('path = "tripwire.db"', '# mine\npath = "live.db"')
    edited = edited.replace("poll_seconds = 15", "poll_seconds = 30")
    path.write_text(edited)
    # The emulator started again on another port.
    assert write_config(path, "http://127.0.0.1:9000", "ws://127.0.0.1:9000") is False
    text = path.read_text()
    assert '# mine\npath = "live.db"' in text
    config = load_config(path)
    assert config.feeds.binance_spot.poll_seconds == 30
    assert config.feeds.binance_futures.ws_url == "ws://127.0.0.1:9000/market"
    assert "8766" not in text


def test_the_command_line_writes_the_config(tmp_path: Path) -> None:
    path = tmp_path / "live.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.exchanges", "--port", "0", "--write-config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"wrote {path} at the emulator: tripwire run --config {path}\n" in lines
    (base,) = [line.split()[3] for line in lines if line.startswith("exchange emulator on")]
    assert load_config(path).feeds.coinbase.base_url == base
