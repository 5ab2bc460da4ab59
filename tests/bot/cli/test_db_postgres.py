"""`tripwire db migrate|stats|prune|vacuum|copy` on PostgreSQL, and `[storage] url` in the config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import ConfigError, load_config
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS, Candle

NOW = time.time_ns() // 1_000_000
OLD = NOW - 4000 * DAY_MS  # beyond every default retention


def _fill(database: str | Path) -> None:
    repo = Repo(open_database(database))
    repo.upsert_candles(
        [
            Candle("BTCUSDT", "1h", 1_768_341_600_000, "binance", 1, 2, 0.5, 1.5, 10.0),
            Candle("BTCUSDT", "1h", OLD - OLD % 3_600_000, "binance", 1, 2, 0.5, 1.5, 10.0),
        ]
    )
    repo.close()


def test_migrate_stats_prune_and_vacuum_take_a_postgresql_url(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "schema v" in out and "up to date" in out and "postgresql://postgres@127.0.0.1" in out
    _fill(pg_url)
    assert main(["db", "stats", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "candles" in out and "2 rows" in out and "BTCUSDT 1h" in out and "2026-01-13 22:00" in out
    assert main(["db", "prune", "--db", pg_url, "--dry-run"]) == 0
    assert "would delete 1 rows" in capsys.readouterr().out
    assert main(["db", "prune", "--db", pg_url]) == 0
    assert "deleted 1 rows" in capsys.readouterr().out
    assert main(["db", "vacuum", "--db", pg_url]) == 0
    assert "MB ->" in capsys.readouterr().out
    repo = Repo(open_database(pg_url))
    assert repo.conn.execute("SELECT COUNT(*) FROM candles").fetchone()[0] == 1
    repo.close()


def test_copy_goes_to_postgresql_and_back_and_refuses_a_target_holding_rows(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.db"
    _fill(source)
    repo = Repo(open_database(source))
    outbox_id = repo.enqueue(
        event_id=None, sink="discord", target="channel:1", kind="ops", payload={}, now=NOW
    )
    repo.mark_delivered(outbox_id, NOW, "123")
    repo.close()
    assert main(["db", "copy", "--from", f"sqlite:{source}", "--to", pg_url]) == 0
    assert "copied" in capsys.readouterr().out
    copy = Repo(open_database(pg_url))
    row = copy.outbox_row(outbox_id)
    assert row is not None and (row.status, row.remote_id) == ("delivered", "123")
    # New ids follow the copied ones (the sequence moved), so nothing collides with a copied row.
    assert (
        copy.enqueue(event_id=None, sink="discord", target="c", kind="ops", payload={}, now=NOW) > outbox_id
    )
    copy.close()
    # Copying again into the same (now filled) database would duplicate everything: refused.
    assert main(["db", "copy", "--from", str(source), "--to", pg_url]) == 2
    assert "already holds rows" in capsys.readouterr().err
    back = tmp_path / "back.db"
    assert main(["db", "copy", "--from", pg_url, "--to", str(back)]) == 0
    again = Repo(open_database(back))
    assert again.conn.execute("SELECT COUNT(*) FROM candles").fetchone()[0] == 2
    assert again.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 2
    again.close()
    assert main(["db", "copy", "--from", pg_url, "--to", str(back)]) == 2
    assert "exists" in capsys.readouterr().err


def test_a_database_argument_of_another_scheme_or_holding_a_password_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "bot.db"
    open_database(source).conn.close()
    copy = ["db", "copy", "--from", str(source), "--to"]
    assert main([*copy, "postgresql://tripwire:hunter2@127.0.0.1/test"]) == 2
    err = capsys.readouterr().err
    assert "PGPASSWORD" in err and "hunter2" not in err
    assert main([*copy, "postgresql+psycopg://tripwire@127.0.0.1/test"]) == 2
    assert "postgresql+psycopg:// is not a database" in capsys.readouterr().err
    assert main(["db", "stats", "--db", "mysql://tripwire@127.0.0.1/test"]) == 2
    assert "mysql:// is not a database" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.db"]  # no SQLite file of an odd name


def _config(tmp_path: Path, storage: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(f'symbols = ["BTCUSDT"]\n[storage]\n{storage}\n', encoding="utf-8")
    return path


def test_storage_url_names_postgresql_or_a_sqlite_file_and_never_holds_a_password(tmp_path: Path) -> None:
    url = "postgresql://tripwire@db.internal:5432/tripwire"
    assert load_config(_config(tmp_path, f'url = "{url}"')).storage.database == url
    assert load_config(_config(tmp_path, 'url = "bot.db"')).storage.database == Path("bot.db")
    assert load_config(_config(tmp_path, "")).storage.database == Path("tripwire.db")
    with pytest.raises(ConfigError, match="PGPASSWORD"):
        load_config(_config(tmp_path, 'url = "postgresql://tripwire:hunter2@db/tripwire"'))
    with pytest.raises(ConfigError, match=r"either storage\.path or storage\.url"):
        load_config(_config(tmp_path, f'path = "x.db"\nurl = "{url}"'))
    # Another scheme (a typo, SQLAlchemy's spelling) is refused, not opened as a SQLite file of that name.
    for other in ("postgresql+psycopg://tripwire:hunter2@db/t", "postgress://db/t", "sqlite:///bot.db"):
        with pytest.raises(ConfigError, match=r"storage\.url: .*:// is not a database") as refused:
            load_config(_config(tmp_path, f'url = "{other}"'))
        assert "hunter2" not in str(refused.value)
