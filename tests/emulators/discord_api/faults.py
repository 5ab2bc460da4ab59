"""On-demand REST faults: the next N requests matching a method and path pattern get a chosen answer."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass


def path_matches(pattern: str, path: str) -> bool:
    """Match a path against a glob (`*` = one segment, `**` = anything) or a `{name}` template."""
    if "{" in pattern:
        pattern = re.sub(r"\{[^}]+\}", "*", pattern)
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern.replace("**", "*"))
    regex = "^" + "[^/]*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(regex, path) is not None


@dataclass
class Fault:
    """One injected behaviour; `times` counts down as matching requests consume it."""

    method: str
    path: str
    times: int = 1
    status: int | None = None
    code: int | None = None
    message: str | None = None
    retry_after: float = 0.5
    is_global: bool = False
    # X-RateLimit-Scope of an injected 429: "user", "global" or "shared" (a per-resource limit, which
    # rate-limits.mdx says does not count toward the invalid-request limit). None: from is_global.
    scope: str | None = None
    delay: float = 0.0
    # Without a Via header discord.py (http.py HTTPClient.request) takes a 429 for a Cloudflare ban
    # and raises at once instead of retrying.
    via: bool = True
    # Raw body to send instead of the JSON one (e.g. an HTML error page from a proxy).
    raw_body: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Return whether this fault applies to a request."""
        return (self.method in ("*", method.upper())) and path_matches(self.path, path)

    @property
    def exhausted(self) -> bool:
        """Return whether every planned hit has been served."""
        return self.hits >= self.times


class FaultInjector:
    """Hold pending faults in order; the first live match wins."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Queue a fault and return it (its `hits` shows how often it fired)."""
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one hit of the first live fault matching the request, if any."""
        for fault in self.faults:
            if not fault.exhausted and fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        self.faults.clear()
