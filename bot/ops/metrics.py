"""A small metrics registry that renders the Prometheus text exposition format (version 0.0.4).

No global state and no dependency: the app builds one ``Registry`` and registers two kinds of metrics.

* **Owned** metrics (``counter``, ``gauge``, ``histogram``) hold their own values; code that observes
  something calls ``inc``/``set``/``observe`` on them (evaluation durations, Discord errors).
* **Collected** metrics (``counter_from``, ``gauge_from``, or any ``register(collector)``) read a value
  that another object already keeps each time ``/metrics`` is scraped (the engine's counters, the
  outbox depth, feed lag), so nothing is counted twice and the objects stay unaware of metrics.

Rendering follows the format's rules: one ``# HELP`` and ``# TYPE`` line per family before its samples,
counters exposed with the ``_total`` suffix, histograms as cumulative ``_bucket{le=...}`` samples ending
in ``le="+Inf"`` plus ``_sum`` and ``_count``, label values escaped (backslash, double quote, newline).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

MetricType = Literal["counter", "gauge", "histogram"]
LabelValues = tuple[str, ...]
# What a collected metric's reader returns: one value (no labels), or a value per tuple of label values.
Reading = float | Mapping[LabelValues, float]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Prometheus client libraries' default buckets, in seconds: from 5 ms to 10 s.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of output: the family name plus ``suffix`` (``_total``, ``_bucket``...), labels, value."""

    suffix: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric name with its help text, type and current samples."""

    name: str
    help: str
    type: MetricType
    samples: list[Sample] = field(default_factory=list)


Collector = Callable[[], Iterable[MetricFamily]]


def _check_names(name: str, labelnames: Sequence[str], reserved: Sequence[str] = ()) -> None:
    if not _METRIC_NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    for label in labelnames:
        if not _LABEL_NAME.match(label) or label.startswith("__") or label in reserved:
            raise ValueError(f"invalid label name {label!r} for {name}")
    if len(set(labelnames)) != len(labelnames):
        raise ValueError(f"duplicate label names for {name}")


def _label_values(name: str, labelnames: Sequence[str], labels: Mapping[str, str]) -> LabelValues:
    if set(labels) != set(labelnames):
        raise ValueError(f"{name} takes labels {list(labelnames)}, got {sorted(labels)}")
    return tuple(str(labels[n]) for n in labelnames)


class _Metric:
    """The parts every owned metric shares: name, help, label names, a lock."""

    type: MetricType

    def __init__(
        self, name: str, help: str, labelnames: Sequence[str] = (), reserved: Sequence[str] = ()
    ) -> None:
        _check_names(name, labelnames, reserved)
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        # Metrics are updated from the event loop and from worker threads (the retention job).
        self._lock = threading.Lock()

    def _pairs(self, values: LabelValues) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labelnames, values, strict=True))

    def collect(self) -> MetricFamily:
        """Return the current samples."""
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (rendered as ``<name>_total``)."""

    type: MetricType = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self._values: dict[LabelValues, float] = {}
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (never negative) to the series named by ``labels``."""
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot decrease")
        key = _label_values(self.name, self.labelnames, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """Return the current value of one series (0 when it was never incremented)."""
        return self._values.get(_label_values(self.name, self.labelnames, labels), 0.0)

    def collect(self) -> MetricFamily:
        """Return the current samples."""
        with self._lock:
            items = sorted(self._values.items())
        return MetricFamily(
            self.name, self.help, "counter", [Sample("_total", self._pairs(k), v) for k, v in items]
        )


class Gauge(_Metric):
    """A value that goes up and down."""

    type: MetricType = "gauge"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        """Set the series named by ``labels`` to ``value``."""
        key = _label_values(self.name, self.labelnames, labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (may be negative) to the series named by ``labels``."""
        key = _label_values(self.name, self.labelnames, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def collect(self) -> MetricFamily:
        """Return the current samples."""
        with self._lock:
            items = sorted(self._values.items())
        return MetricFamily(self.name, self.help, "gauge", [Sample("", self._pairs(k), v) for k, v in items])


class Histogram(_Metric):
    """Counts observations into cumulative buckets (for durations: how many took at most N seconds)."""

    type: MetricType = "histogram"

    def __init__(
        self, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        super().__init__(name, help, labelnames, reserved=("le",))
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"histogram {name} needs distinct finite bucket bounds")
        self.bounds = (*bounds, math.inf)
        # Per series: per-bucket counts (not cumulative), sum, count.
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}
        if not self.labelnames:
            self._series[()] = ([0] * len(self.bounds), [0.0, 0.0])

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = _label_values(self.name, self.labelnames, labels)
        with self._lock:
            counts, totals = self._series.setdefault(key, ([0] * len(self.bounds), [0.0, 0.0]))
            for i, bound in enumerate(self.bounds):
                if value <= bound:
                    counts[i] += 1
                    break
            totals[0] += value
            totals[1] += 1

    @contextmanager
    def time(self, **labels: str) -> Iterator[None]:
        """Observe how many seconds the block took (also when it raised)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started, **labels)

    def collect(self) -> MetricFamily:
        """Return the current samples."""
        samples: list[Sample] = []
        with self._lock:
            series = sorted((k, (list(c), list(t))) for k, (c, t) in self._series.items())
        for key, (counts, (total, count)) in series:
            pairs = self._pairs(key)
            cumulative = 0
            for bound, n in zip(self.bounds, counts, strict=True):
                cumulative += n
                samples.append(Sample("_bucket", (*pairs, ("le", format_value(bound))), cumulative))
            samples.append(Sample("_sum", pairs, total))
            samples.append(Sample("_count", pairs, count))
        return MetricFamily(self.name, self.help, "histogram", samples)


class Registry:
    """The metrics of one running bot, rendered on demand for ``/metrics``."""

    def __init__(self) -> None:
        self._collectors: list[Collector] = []
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def _claim(self, name: str, metric_type: MetricType) -> None:
        # Names a family renders; a gauge "x_total" beside a counter "x" would clash in the output.
        rendered = {
            "counter": (f"{name}_total",),
            "gauge": (name,),
            "histogram": (name, f"{name}_bucket", f"{name}_sum", f"{name}_count"),
        }[metric_type]
        with self._lock:
            clash = self._names.intersection(rendered)
            if clash:
                raise ValueError(f"metric {name} clashes with an already registered {sorted(clash)[0]}")
            self._names.update(rendered)

    def register(self, collector: Collector, names: Iterable[tuple[str, MetricType]] = ()) -> None:
        """Add a collector; ``names`` lists the families it yields, so clashes are found now."""
        for name, metric_type in names:
            self._claim(name, metric_type)
        self._collectors.append(collector)

    def _owned(self, metric: _Metric) -> None:
        self.register(lambda: (metric.collect(),), [(metric.name, metric.type)])

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        """Create and register a counter (``name`` without the ``_total`` suffix)."""
        if name.endswith("_total"):
            raise ValueError(f"counter {name}: leave out _total, it is added when rendering")
        metric = Counter(name, help, labelnames)
        self._owned(metric)
        return metric

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        """Create and register a gauge."""
        metric = Gauge(name, help, labelnames)
        self._owned(metric)
        return metric

    def histogram(
        self, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        """Create and register a histogram."""
        metric = Histogram(name, help, labelnames, buckets)
        self._owned(metric)
        return metric

    def _from(
        self,
        metric_type: MetricType,
        name: str,
        help: str,
        labelnames: Sequence[str],
        read: Callable[[], Reading | None],
    ) -> None:
        _check_names(name, labelnames)
        suffix = "_total" if metric_type == "counter" else ""

        def collect() -> Iterable[MetricFamily]:
            reading = read()
            if reading is None:  # nothing to report yet (no gateway latency before connecting)
                return ()
            items = {(): reading} if isinstance(reading, int | float) else reading
            samples = []
            for values, value in sorted(items.items()):
                if len(values) != len(labelnames):
                    raise ValueError(f"{name}: got label values {values} for labels {list(labelnames)}")
                samples.append(Sample(suffix, tuple(zip(labelnames, values, strict=True)), float(value)))
            return (MetricFamily(name, help, metric_type, samples),)

        self.register(collect, [(name, metric_type)])

    def counter_from(
        self, name: str, help: str, labelnames: Sequence[str], read: Callable[[], Reading | None]
    ) -> None:
        """Register a counter whose values ``read()`` returns at each scrape (kept elsewhere, growing)."""
        if name.endswith("_total"):
            raise ValueError(f"counter {name}: leave out _total, it is added when rendering")
        self._from("counter", name, help, labelnames, read)

    def gauge_from(
        self, name: str, help: str, labelnames: Sequence[str], read: Callable[[], Reading | None]
    ) -> None:
        """Register a gauge whose values ``read()`` returns at each scrape."""
        self._from("gauge", name, help, labelnames, read)

    def collect(self) -> list[MetricFamily]:
        """Return every family; a collector that fails is logged and left out, not the whole scrape."""
        families: list[MetricFamily] = []
        for collector in list(self._collectors):
            try:
                families.extend(collector())
            except Exception as exc:
                log.warning(
                    "metrics collector %r failed: %s", getattr(collector, "__qualname__", collector), exc
                )
        return families

    def render(self) -> str:
        """Return every metric in the Prometheus text exposition format."""
        return render(self.collect())


def format_value(value: float) -> str:
    """Format a sample value or bucket bound the way Prometheus parses it (+Inf, -Inf, NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escape_label_value(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Escape a HELP text: backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[MetricFamily]) -> str:
    """Render families in the text exposition format (one HELP and TYPE per family, samples after)."""
    lines: list[str] = []
    for family in families:
        # The 0.0.4 format names a counter's HELP/TYPE lines like its samples, with _total.
        head = f"{family.name}_total" if family.type == "counter" else family.name
        lines.append(f"# HELP {head} {escape_help(family.help)}")
        lines.append(f"# TYPE {head} {family.type}")
        for sample in family.samples:
            labels = ""
            if sample.labels:
                labels = "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample.labels) + "}"
            lines.append(f"{family.name}{sample.suffix}{labels} {format_value(sample.value)}")
    return "\n".join(lines) + "\n" if lines else ""
