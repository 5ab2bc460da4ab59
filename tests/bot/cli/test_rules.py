"""``tripwire rules export|import`` on a database file: a dry run by default, --apply to write."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.__main__ import main
from storage.db import open_database
from storage.repo import Repo
from storage.rows import RuleRow

GUILD = 1001
OTHER_GUILD = 1002
MEMBER = 2002
CONFIG = 'symbols = ["BTCUSDT", "ETHUSDT"]\n'


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """Return (config, database) with two channel rules and one personal rule in GUILD."""
    config = tmp_path / "tripwire.toml"
    config.write_text(CONFIG)
    db = tmp_path / "tripwire.db"
    repo = Repo(open_database(db))
    rows = [
        RuleRow("btc-95k", "discord", "level_cross", "BTCUSDT", {"level": 95000.0, "direction": "up"},
                guild_id=GUILD, owner_id=1, channel_id=3001, cooldown_s=600),
        RuleRow("eth-pct", "discord", "pct_move", "ETHUSDT", {"pct": 4.0}, guild_id=GUILD, owner_id=1,
                channel_id=3001, cooldown_s=0, note="fast moves"),
        RuleRow("mine", "discord", "level_cross", "ETHUSDT", {"level": 3500.0}, guild_id=GUILD,
                owner_id=MEMBER, deliver="dm", cooldown_s=600),
    ]  # fmt: skip
    with repo.transaction():
        for row in rows:
            repo.save_rule(row)
    repo.close()
    return config, db


def rules_of(db: Path, guild: int) -> list[RuleRow]:
    repo = Repo(open_database(db))
    try:
        return repo.rules(guild_id=guild)
    finally:
        repo.close()


def test_export_writes_the_servers_channel_rules_and_import_applies_only_with_apply(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = files
    out = tmp_path / "rules.toml"
    common = ["--config", str(config), "--db", str(db)]
    assert main(["rules", "export", "--guild", str(GUILD), "--out", str(out), *common]) == 0
    assert capsys.readouterr().out.strip() == f"2 rules written to {out}"
    tables = tomllib.loads(out.read_text())["rules"]
    assert [t["id"] for t in tables] == ["btc-95k", "eth-pct"]

    assert main(["rules", "import", str(out), "--guild", str(OTHER_GUILD), *common]) == 0
    shown = capsys.readouterr().out
    assert "create" in shown and "2 to create, 0 to change, 0 unchanged" in shown
    assert "dry run: nothing was changed" in shown
    assert rules_of(db, OTHER_GUILD) == []

    assert main(["rules", "import", str(out), "--guild", str(OTHER_GUILD), "--apply", *common]) == 0
    assert "picks the rules up when it next starts" in capsys.readouterr().out
    copied = rules_of(db, OTHER_GUILD)
    assert sorted((r.detector, r.settings["level"] if "level" in r.settings else r.settings["pct"], r.note,
                   r.cooldown_s, r.owner_id) for r in copied) == [
        ("level_cross", 95000.0, None, 600, None),
        ("pct_move", 4.0, "fast moves", 0, None),
    ]  # fmt: skip


def test_a_members_export_and_a_bad_file_on_the_command_line(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = files
    common = ["--config", str(config), "--db", str(db)]
    assert main(["rules", "export", "--guild", str(GUILD), "--member", str(MEMBER), *common]) == 0
    [table] = tomllib.loads(capsys.readouterr().out)["rules"]
    assert (table["id"], table["deliver"]) == ("mine", "dm")

    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "x"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = -1\n')
    assert main(["rules", "import", str(bad), "--guild", str(GUILD), *common]) == 2
    assert "rules[0] (x): level: Input should be greater than 0" in capsys.readouterr().err
    assert main(["rules", "import", str(tmp_path / "missing.toml"), "--guild", str(GUILD), *common]) == 2
    assert "cannot read" in capsys.readouterr().err
