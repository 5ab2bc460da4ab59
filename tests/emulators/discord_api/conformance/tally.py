"""The session-wide totals of the conformance check, for pytest's terminal summary."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..recording import RecordedRequest
from .check import Report, check_requests


@dataclass
class Tally:
    """Totals over every test that ran the check."""

    tests: int = 0
    requests: int = 0
    faked_responses: int = 0
    mismatches: int = 0
    expected: int = 0
    routes: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def add(self, report: Report, seconds: float) -> None:
        """Fold one test's report in."""
        self.tests += 1
        self.requests += report.requests
        self.faked_responses += report.faked_responses
        self.mismatches += len(report.mismatches)
        self.expected += len(report.expected)
        self.routes |= report.routes
        self.seconds += seconds

    def as_json(self) -> dict[str, object]:
        """Return the totals as JSON-able data (a pytest-xdist worker sends them to the controller)."""
        return {
            "tests": self.tests,
            "requests": self.requests,
            "faked_responses": self.faked_responses,
            "mismatches": self.mismatches,
            "expected": self.expected,
            "routes": sorted(self.routes),
            "seconds": self.seconds,
        }

    def merge(self, data: dict[str, object]) -> None:
        """Fold in the totals a worker sent (``as_json``)."""
        for name in ("tests", "requests", "faked_responses", "mismatches", "expected"):
            setattr(self, name, getattr(self, name) + int(data[name]))  # type: ignore[call-overload]
        self.routes |= set(data["routes"])  # type: ignore[call-overload]
        self.seconds += float(data["seconds"])  # type: ignore[arg-type]

    def summary_lines(self) -> list[str]:
        """Return the lines printed at the end of the run."""
        return [
            f"{self.requests} requests in {self.tests} tests checked against Discord's OpenAPI document "
            f"({len(self.routes)} distinct operations; {self.faked_responses} fault-injected responses "
            f"exempt); {self.mismatches} mismatches; {self.expected} bad requests sent on purpose by tests "
            f"marked discord_invalid_requests; {self.seconds:.2f} s spent checking",
            "operations: " + ", ".join(sorted(self.routes)),
        ]


#: The one tally of this test session (the discord_emu fixture adds to it).
TALLY = Tally()


def check_and_tally(
    records: Iterable[RecordedRequest],
    *,
    invalid_requests_expected: bool = False,
    even_accepted: bool = False,
) -> Report:
    """Check recorded requests (see check_requests), add the result to TALLY and return it."""
    started = time.perf_counter()
    report = check_requests(
        records, invalid_requests_expected=invalid_requests_expected, even_accepted=even_accepted
    )
    TALLY.add(report, time.perf_counter() - started)
    return report
