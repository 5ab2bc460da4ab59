"""``tripwire run --role discord``: its arguments are checked before anything starts, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


def write_config(tmp_path: Path, storage: str) -> Path:
    config = tmp_path / "t.toml"
    config.write_text(f'symbols = ["BTCUSDT"]\n[storage]\n{storage}\n', encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --shards A-B and --shard-count N"),
        (["--shards", "0-1"], "needs --shards A-B and --shard-count N"),
        (["--shards", "2-5", "--shard-count", "4"], "not a range within 0-3"),
        (["--shards", "x", "--shard-count", "4"], "write a range like 0-3"),
        (["--shards", "0-1", "--shard-count", "2", "--no-discord"], "cannot run with --no-discord"),
    ],
)
def test_bad_cluster_arguments_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    config = write_config(tmp_path, 'url = "postgresql://postgres@127.0.0.1:5432/test"')
    assert main(["run", "--config", str(config), "--role", "discord", *extra]) != 0
    assert message in capsys.readouterr().err


def test_shards_without_the_discord_role_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f'path = "{tmp_path / "t.db"}"')
    assert main(["run", "--config", str(config), "--shards", "0-1", "--shard-count", "2"]) != 0
    assert "--shards and --shard-count go with --role discord" in capsys.readouterr().err


def test_a_cluster_on_sqlite_is_refused_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "test-token")
    config = write_config(tmp_path, f'path = "{tmp_path / "t.db"}"')
    code = main(
        ["run", "--config", str(config), "--role", "discord", "--shards", "0-1", "--shard-count", "2"]
    )
    assert code != 0
    assert "--role discord needs PostgreSQL" in capsys.readouterr().err
