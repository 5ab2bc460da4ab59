"""Each benchmark still runs: ``python -m bench.<name> --smoke`` at tiny sizes, times never judged."""

from __future__ import annotations

import pytest

from bench import charts, delivery, memory, queries, replay


@pytest.mark.parametrize(
    "main",
    [replay.main, memory.main, delivery.main, queries.main, charts.main],
    ids=["replay", "memory", "delivery", "queries", "charts"],
)
def test_benchmark_smoke_run_prints_its_figures(main: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(main)
    assert main(["--smoke"]) == 0  # --smoke exits 0 whatever the times: only that it works is checked
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "\n== " in out
    assert any(line.startswith(("PASS", "FAIL", "info")) for line in out.splitlines())
