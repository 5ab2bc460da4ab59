"""Parse Prometheus text exposition output for tests: the reference parser plus the rules it lets slide.

``prometheus_client``'s parser is the reference for values, labels and escaping, but it accepts samples
with no TYPE line, families split in two, and TYPE lines after their samples. ``parse_strict`` rejects
those as well, so a rendering bug cannot hide behind a lenient parser.
"""

from __future__ import annotations

import itertools
import math
import re

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})?'
    r" (?P<value>\S+)$"
)
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def _go_float(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("+", ""))
    if not re.match(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text):
        raise AssertionError(f"value {text!r} is not a number Prometheus reads")
    return float(text)


def parse_strict(text: str) -> dict[str, Metric]:
    """Check the format's structural rules, then return the reference parser's families by name."""
    assert text.endswith("\n"), "exposition must end with a line feed"
    seen: set[str] = set()
    family = family_type = None
    helped: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"line {number}: {line!r}"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in seen, f"{where}: family {name} appears twice"
            helped, family, family_type = name, None, None
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == helped, f"{where}: TYPE must follow the HELP of the same family"
            assert kind in _SUFFIXES, f"{where}: unknown type"
            base = name.removesuffix("_total") if kind == "counter" else name
            assert kind != "counter" or name.endswith("_total"), f"{where}: counter must be named *_total"
            seen.add(name)
            family, family_type = base, kind
            continue
        assert not line.startswith("#"), f"{where}: unexpected comment"
        match = _SAMPLE.match(line)
        assert match, f"{where}: not a valid sample line"
        assert family is not None and family_type is not None, f"{where}: sample before its TYPE line"
        suffix = match["name"][len(family) :] if match["name"].startswith(family) else None
        assert suffix in _SUFFIXES[family_type], f"{where}: sample does not belong to {family}"
        _go_float(match["value"])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families


def histogram_rows(family: Metric, **labels: str) -> tuple[list[tuple[float, float]], float, float]:
    """Return ([(le, cumulative count)], sum, count) of one histogram series, checking its invariants."""
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in family.samples
        if s.name.endswith("_bucket") and {k: v for k, v in s.labels.items() if k != "le"} == labels
    ]
    (total,) = [s.value for s in family.samples if s.name.endswith("_sum") and s.labels == labels]
    (count,) = [s.value for s in family.samples if s.name.endswith("_count") and s.labels == labels]
    assert buckets and math.isinf(buckets[-1][0]), "the last bucket must be le=+Inf"
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets), "buckets must be in increasing order"
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets)), "buckets must be cumulative"
    assert buckets[-1][1] == count, "le=+Inf must equal _count"
    return buckets, total, count
