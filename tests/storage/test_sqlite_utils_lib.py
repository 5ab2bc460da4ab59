"""The bot's processes start without numpy: sqlite-utils is imported with it hidden (issue 24, memory)."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    ).stdout.strip()


def test_the_composition_root_and_an_open_database_leave_numpy_unimported() -> None:
    out = _modules_after(
        "import sys, bot.app; from storage.db import open_database; db = open_database(':memory:'); "
        "db.execute('select 1'); print('numpy' in sys.modules, 'numpy' in sys.modules.keys())"
    )
    assert out == "False False"


def test_numpy_imported_before_is_seen_by_sqlite_utils_and_stays_importable() -> None:
    out = _modules_after("import numpy, storage.db, sqlite_utils.db as d; print(d.np is numpy)")
    assert out == "True"
    # Hidden only while sqlite-utils imports: numpy imports normally afterwards (a chart draws).
    out = _modules_after("import storage.db, sys; import numpy; print(sys.modules['numpy'] is numpy)")
    assert out == "True"
