"""A stand-in child process for ``tripwire launch``'s supervisor tests (SYNTHETIC: not Tripwire).

``python -m tests.bot.launch_child JOURNAL NAME BEHAVIOUR`` appends ``NAME start``, and ``NAME term`` when
SIGTERM arrives (then exits 0), to JOURNAL, one line each with the time. BEHAVIOUR: ``run`` (until
SIGTERM), ``crash-twice`` (exit 1 at its first two starts, then run), ``usage`` (exit 2 at once).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def note(journal: Path, line: str) -> None:
    """Append ``line`` and the time to the journal."""
    with journal.open("a") as out:
        out.write(f"{line} {time.time():.3f}\n")


def main() -> int:
    """Behave as asked."""
    journal, name, behaviour = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def term(_signum: int, _frame: object) -> None:
        note(journal, f"{name} term")
        sys.exit(0)

    signal.signal(signal.SIGTERM, term)
    starts = (
        sum(1 for line in journal.read_text().splitlines() if line.startswith(f"{name} start"))
        if journal.exists()
        else 0
    )
    note(journal, f"{name} start")
    with journal.with_suffix(".pids").open("a") as pids:  # so a failed test can end what it started
        pids.write(f"{os.getpid()}\n")
    if behaviour == "usage":
        return 2
    if behaviour == "crash-twice" and starts < 2:
        return 1

    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
