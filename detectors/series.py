"""Look up sparse series (open interest, funding) at a point in time, refusing stale values."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Protocol, TypeVar


class _Timed(Protocol):
    @property
    def ts(self) -> int: ...


P = TypeVar("P", bound=_Timed)


def point_at(points: Sequence[P], t: int, max_age_ms: int) -> P | None:
    """Return the newest point with ``ts <= t``, or None if there is none or it is older than max_age_ms."""
    i = bisect_right(points, t, key=lambda p: p.ts)
    if i == 0:
        return None
    point = points[i - 1]
    return point if t - point.ts <= max_age_ms else None
