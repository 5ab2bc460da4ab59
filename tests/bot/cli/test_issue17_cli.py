"""Issue 17, findings 11 and 12: every CLI mistake ends in one line and exit 2; the database is private."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from storage import db as storage_db
from storage.db import open_database
from storage.repo import Repo
from tests.emulators.discord_api import DiscordEmulator

ROOT = Path(__file__).resolve().parents[3]


def _one_line_exit_2(code: int, capsys: pytest.CaptureFixture[str], *, count_line: bool = False) -> str:
    """Return the one line of stderr, checking the exit status was 2 (check-config adds its count line)."""
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == (2 if count_line else 1), err
    return lines[0]


def test_finding_11_deeply_nested_toml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Synthetic: a TOML array nested 5,000 deep, which tomllib parses recursively.
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    line = _one_line_exit_2(main(["check-config", str(path)]), capsys, count_line=True)
    assert "nested too deeply" in line
    line = _one_line_exit_2(main(["replay", "--config", str(path)]), capsys)
    assert "nested too deeply" in line


def test_finding_11_db_that_is_a_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_line_exit_2(main(["replay", "--db", str(tmp_path)]), capsys)
    assert "is a directory" in line
    line = _one_line_exit_2(main(["db", "migrate", "--db", str(tmp_path)]), capsys)
    assert "is a directory" in line


def test_finding_11_db_in_a_missing_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "x" / "y" / "z.db"
    line = _one_line_exit_2(main(["db", "migrate", "--db", str(target)]), capsys)
    assert "does not exist" in line
    assert not (tmp_path / "x").exists()  # nothing created on the way


@pytest.mark.parametrize("pace", ["inf", "-1", "nan"])
def test_finding_11_replay_pace_must_be_finite_seconds(pace: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2(main(["replay", "--pace", pace]), capsys)
    assert line.startswith("tripwire: --pace:")


async def test_finding_11_refused_token_exits_2_with_one_line(
    discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "tripwire.toml"
    config.write_text(f'symbols = ["BTCUSDT"]\n[storage]\npath = "{tmp_path / "live.db"}"\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRIPWIRE_DISCORD_TOKEN": "synthetic.not-the-token.x",
        "TRIPWIRE_DISCORD_API_BASE": discord_emu.api_base,
        "TRIPWIRE_DISCORD_GATEWAY_URL": discord_emu.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "-q",
        "-q",
        "run",
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    text = err.decode().strip()
    assert process.returncode == 2, text
    assert "Traceback" not in text
    assert text.splitlines()[-1].startswith("tripwire: Discord refused the bot token"), text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_finding_12_database_wal_shm_and_backup_are_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.umask(0o022)  # the usual umask, under which a plain open() gives 0644
    try:
        path = tmp_path / "tripwire.db"
        # A database at schema v1, so that opening it with this Tripwire backs it up before migrating.
        every = storage_db.load_migrations()
        monkeypatch.setattr(storage_db, "load_migrations", lambda: every[:1])
        Repo(open_database(path)).close()
        monkeypatch.setattr(storage_db, "load_migrations", lambda: every)
        repo = Repo(open_database(path))
        repo.ping()
        backup = tmp_path / "tripwire.db.v1.bak"
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), backup):
            assert file.exists(), file
            assert _mode(file) == 0o600, (file, oct(_mode(file)))
        repo.close()
    finally:
        os.umask(old)
