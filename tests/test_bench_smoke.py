"""Each benchmark still runs: ``python -m bench.<name> --smoke`` at tiny sizes, times never judged."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench
from bench.__main__ import BENCHMARKS as RUN_ALL

BENCHMARKS = dict(RUN_ALL)
# Benchmarks with a main() that `python -m bench` leaves out: the SIGKILL runs (durability, webhooks), whose
# behaviour the durability tests check at small sizes, and liq_venues (tests/test_bench_liq_venues.py).
RUN_ALONE = {"durability", "liq_venues", "webhooks"}


@pytest.mark.parametrize("main", list(BENCHMARKS.values()), ids=list(BENCHMARKS))
def test_benchmark_smoke_run_prints_its_figures(main: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(main)
    assert main(["--smoke"]) == 0  # --smoke exits 0 whatever the times: only that it works is checked
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "\n== " in out
    assert any(line.startswith(("PASS", "FAIL", "info")) for line in out.splitlines())


def test_python_dash_m_bench_runs_every_benchmark() -> None:
    """Every bench module with a main() is in `python -m bench`'s list, or named as run alone."""
    folder = Path(bench.__file__).parent
    with_main = {
        p.stem for p in folder.glob("*.py") if "\ndef main(" in p.read_text() and p.stem != "__main__"
    }
    assert with_main - RUN_ALONE == set(BENCHMARKS)
