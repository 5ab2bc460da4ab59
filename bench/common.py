"""Shared benchmark plumbing: timing, figure lines with targets, the machine, the setups several start from.

The setups: a config with the example rules and every feed off, a PostgreSQL schema of their own.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from bot.config import Config

# Every exchange feed a benchmark's config switches off: nothing may leave this machine.
FEEDS = ("binance_spot", "coinbase", "kraken", "binance_futures", "bybit", "okx", "fear_greed")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure with its target; ``better`` says which direction passes."""

    name: str
    value: float
    unit: str
    target: float | None = None
    better: Literal["higher", "lower"] = "lower"
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """Return whether the target is met (None when there is no target)."""
        if self.target is None:
            return None
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    def line(self) -> str:
        """Format as one line: name, value, target, PASS/FAIL."""
        sign = ">=" if self.better == "higher" else "<="
        target = f"target {sign} {_fmt(self.target)} {self.unit}" if self.target is not None else "no target"
        verdict = {True: "PASS", False: "FAIL", None: "info"}[self.passed]
        note = f"  ({self.note})" if self.note else ""
        return f"{verdict:<4}  {self.name:<44} {_fmt(self.value):>12} {self.unit:<10} {target}{note}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """Measure wall time of a block; the yielded callable returns elapsed seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB.

    Linux's VmHWM belongs to the process's own memory; ru_maxrss is carried over fork and exec, so a child
    started by a large parent (``python -m bench`` after the replay) would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """Return this process's resident set size in MB now, or None where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Make the peak resident set size the current one (Linux 4.0+); return whether it could be reset.

    So the peak of one step is measured, not that of an earlier, larger one in the same process.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def machine() -> str:
    """Describe the machine the figures come from."""
    cores = os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    python = platform.python_version()
    return f"{cpu} ({platform.machine()}), {cores} cores, Python {python}, {platform.system()}"


def parser(description: str) -> argparse.ArgumentParser:
    """Return an argument parser with the common --smoke flag."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check the script works, ignore times")
    return p


def report(title: str, figures: list[Figure]) -> bool:
    """Print figures under a title; return True when every target passed."""
    print(f"== {title}")
    for fig in figures:
        print(fig.line())
    return all(f.passed is not False for f in figures)


def write_example_config(directory: Path, settings: Sequence[str]) -> Path:
    """Write ``directory``/tripwire.toml: both symbols, ``settings``, every feed off, the example rules.

    Return its path.
    """
    example = (resources.files("bot.scenario") / "config.example.toml").read_text(encoding="utf-8")
    rules = example[example.index("\n[[rules]]\n") :]
    head = ['symbols = ["BTCUSDT", "ETHUSDT"]', *settings]
    for feed in FEEDS:
        head += [f"[feeds.{feed}]", "enabled = false"]
    path = directory / "tripwire.toml"
    path.write_text("\n".join(head) + "\n\n" + rules, encoding="utf-8")
    return path


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Create an empty schema on the server at ``url``, yield a URL using it, drop it afterwards."""
    import psycopg  # here: most benchmarks need no PostgreSQL, and some measure what they import

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        joiner = "&" if "?" in url else "?"
        yield f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def default_config() -> Config:
    """Return the configuration with the default rules (config.example.toml, as bundled)."""
    from bot.config import load_config  # here, not at the top: bench.common is imported by every bench

    with resources.as_file(resources.files("bot.scenario") / "config.example.toml") as path:
        return load_config(Path(path))
