"""How far the host clock is from the venues', from their ``Date`` headers and server-time fields.

With the host ten minutes ahead every exchange looked stale and alerts were held back; ten minutes behind,
everything looked fine and alerts came ten minutes late. ``VenueClock`` measures the offset and, when
asked, corrects for it: ``now_ms()`` is the host time plus the measured offset, and the feeds' health,
the detectors and the row time window read it.

Each answer gives one sample: the venue's time minus the middle of our request's send and receive times.
A ``Date`` header (RFC 9110 section 6.6.1, an IMF-fixdate) has one-second resolution and is truncated, so
its instant is taken as the middle of its second (error at most half a second plus half the round trip).
A server-time field (Binance ``serverTime``, Bybit v5 ``time``, OKX ``ts``) is in milliseconds.

One venue must not be able to move our clock: the offset is the median of the venues' own medians of
their last samples, and a correction larger than ``max_correction_ms`` is not applied (it is reported:
a venue, or the host, is badly wrong, and trusting a venue's 2099 would let its rows in).
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from feeds.base import NowMs
from storage.rows import HOUR_MS

log = logging.getLogger(__name__)

# Samples kept per venue; the median of a few rides out one slow answer.
SAMPLES_PER_VENUE = 5
# An hour: beyond that the host or a venue is broken, and correcting would be the larger risk.
DEFAULT_MAX_CORRECTION_MS = HOUR_MS
# Offsets below this are noise (Date headers have one-second resolution): never corrected.
DEADBAND_MS = 1_000

SkewListener = Callable[[int, dict[str, int]], None]


def parse_http_date(value: str) -> int | None:
    """Return a Date header's instant in epoch ms (the middle of its second), or None if unreadable."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; one without a zone is not one
    return int(when.timestamp() * 1000) + 500


class VenueClock:
    """The venues' time as seen from here: the measured offset and, optionally, the corrected clock."""

    def __init__(
        self,
        host_now_ms: NowMs,
        *,
        correct: bool = True,
        alert_after_ms: int = 30_000,
        max_correction_ms: int = DEFAULT_MAX_CORRECTION_MS,
    ) -> None:
        self.host_now_ms = host_now_ms
        self.correct = correct
        self.alert_after_ms = alert_after_ms
        self.max_correction_ms = max_correction_ms
        self._samples: dict[str, deque[int]] = {}
        self.offset_ms = 0  # venues' time minus the host's (positive: the host is behind)
        self.applied_ms = 0  # the part of it now_ms() adds
        self._listeners: list[SkewListener] = []
        self._told = False

    def now_ms(self) -> int:
        """Return the host time corrected by the measured offset (when correction is on)."""
        return self.host_now_ms() + self.applied_ms

    def subscribe(self, listener: SkewListener) -> None:
        """Call ``listener(offset_ms, per_venue)`` once, the first time the offset passes the threshold."""
        self._listeners.append(listener)

    def observe_date(self, venue: str, header: str, sent_ms: int, received_ms: int) -> None:
        """Take a sample from an answer's Date header (host times of sending and receiving)."""
        at = parse_http_date(header)
        if at is not None:
            self._add(venue, at - (sent_ms + received_ms) // 2)

    def observe_server_time(self, venue: str, server_ms: int, sent_ms: int, received_ms: int) -> None:
        """Take a sample from a server-time field in milliseconds."""
        self._add(venue, server_ms - (sent_ms + received_ms) // 2)

    def venue_offsets(self) -> dict[str, int]:
        """Return each venue's median offset (ms)."""
        return {venue: int(statistics.median(s)) for venue, s in self._samples.items() if s}

    def describe(self) -> str:
        """Return one line for /status and the log: the offset and whether it is corrected."""
        offset = self.offset_ms
        if not self._samples:
            return "clock: no venue answered yet"
        way = "behind" if offset > 0 else "ahead of"
        text = f"host clock {abs(offset) / 1000:.1f}s {way} the venues"
        if self.applied_ms:
            text += f" (corrected by {self.applied_ms / 1000:+.1f}s)"
        elif abs(offset) > self.max_correction_ms:
            text += " (too far to correct: check the host clock)"
        return text

    def _add(self, venue: str, offset: int) -> None:
        samples = self._samples.get(venue)
        if samples is None:
            samples = self._samples[venue] = deque(maxlen=SAMPLES_PER_VENUE)
        samples.append(offset)
        per_venue = self.venue_offsets()
        self.offset_ms = int(statistics.median(per_venue.values()))
        usable = DEADBAND_MS <= abs(self.offset_ms) <= self.max_correction_ms
        applied = self.offset_ms if self.correct and usable else 0
        if applied != self.applied_ms and (applied == 0 or abs(applied - self.applied_ms) >= DEADBAND_MS):
            self.applied_ms = applied
        if not self._told and abs(self.offset_ms) > self.alert_after_ms:
            self._told = True
            log.warning("clock skew: %s; per venue (ms): %s", self.describe(), per_venue)
            for listener in self._listeners:
                try:
                    listener(self.offset_ms, per_venue)
                except Exception:
                    log.exception("clock-skew listener failed")
