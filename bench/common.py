"""Shared benchmark plumbing: timing, figure lines with targets, and the machine they ran on."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal


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
