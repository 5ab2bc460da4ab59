"""Each benchmark still runs: ``python -m bench.<name> --smoke`` at tiny sizes, times never judged."""

from __future__ import annotations

import pytest

from bench import (
    backends,
    candle_latency,
    charts,
    command_queries,
    delivery,
    indicators,
    ingest,
    latency,
    liqmap,
    live,
    memory,
    queries,
    replay,
    rule_loading,
    scale_out,
    startup,
    takeover,
)

BENCHMARKS = {
    "replay": replay.main,
    "ingest": ingest.main,
    "latency": latency.main,
    "candle_latency": candle_latency.main,
    "live": live.main,
    "memory": memory.main,
    "queries": queries.main,
    "delivery": delivery.main,
    "startup": startup.main,
    "charts": charts.main,
    "indicators": indicators.main,
    "command_queries": command_queries.main,
    "rule_loading": rule_loading.main,
    "liqmap": liqmap.main,
    "backends": backends.main,
    "scale_out": scale_out.main,
    "takeover": takeover.main,
}


@pytest.mark.parametrize("main", list(BENCHMARKS.values()), ids=list(BENCHMARKS))
def test_benchmark_smoke_run_prints_its_figures(main: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(main)
    assert main(["--smoke"]) == 0  # --smoke exits 0 whatever the times: only that it works is checked
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "\n== " in out
    assert any(line.startswith(("PASS", "FAIL", "info")) for line in out.splitlines())


def test_python_dash_m_bench_runs_every_benchmark() -> None:
    from bench.__main__ import BENCHMARKS as RUN_ALL

    assert [name for name, _ in RUN_ALL] == list(BENCHMARKS)
