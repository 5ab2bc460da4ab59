"""The session-wide totals of the conformance check, for pytest's terminal summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from .check import Report


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

    def summary_lines(self) -> list[str]:
        """Return the lines printed at the end of the run."""
        return [
            f"{self.requests} requests in {self.tests} tests checked against Discord's OpenAPI document "
            f"({len(self.routes)} distinct operations; {self.faked_responses} fault-injected responses "
            f"exempt); {self.mismatches} mismatches; {self.expected} invalid requests sent on purpose and "
            f"refused; {self.seconds:.2f} s spent checking",
            "operations: " + ", ".join(sorted(self.routes)),
        ]


#: The one tally of this test session (the discord_emu fixture adds to it).
TALLY = Tally()
