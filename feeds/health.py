"""Feed health: is each feed's data current, and which data kinds of a symbol can be trusted now.

Every poller and stream owns a ``FeedHealth`` entry in one ``HealthRegistry`` and reports each success
(with the newest data time it saw) and each failure. Readers:

- ``/status`` and the HTTP ``/healthz`` read ``registry.snapshots()``;
- a watchdog calls ``registry.check()`` (the FeedManager runs it on a timer) and is told of every state
  change through ``registry.subscribe(listener)``, so it can post "binance_spot: ok -> stale";
- the alert engine asks ``registry.stale_kinds(symbol)`` and holds back signals computed from those kinds.

States: ``ok`` (the last attempt worked and data is current), ``degraded`` (data still current but the
last attempt failed, the socket is reconnecting, or a fallback is in use), ``stale`` (no success for
``stale_after``, data older than ``max_lag``, or never a success yet), ``standby`` (not in use: a
fallback waiting for its primary to fail, or a primary replaced after HTTP 451; it provides nothing, so
it is never stale and never pages: an unused coinbase fallback used to read "stale" from the first check).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from feeds.base import KINDS, NowMs

log = logging.getLogger(__name__)


class FeedState(StrEnum):
    """How far a feed can be trusted right now."""

    OK = "ok"
    DEGRADED = "degraded"
    STALE = "stale"
    STANDBY = "standby"


_RANK = {FeedState.STANDBY: 0, FeedState.OK: 0, FeedState.DEGRADED: 1, FeedState.STALE: 2}


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One feed's health at ``at`` (all times UTC ms)."""

    name: str
    state: FeedState
    kinds: frozenset[str]
    symbols: frozenset[str] | None
    active: bool
    last_success: int | None
    last_error: str | None
    last_error_at: int | None
    consecutive_failures: int
    newest_data: int | None
    lag_ms: int | None
    connected: bool | None
    note: str | None
    at: int


@dataclass(frozen=True, slots=True)
class StateChange:
    """A feed moved from one state to another (``old`` is None the first time it is checked)."""

    name: str
    old: FeedState | None
    new: FeedState
    at: int
    reason: str


class FeedHealth:
    """The health of one poller or stream."""

    def __init__(
        self,
        name: str,
        kinds: Iterable[str],
        symbols: Iterable[str] | None,
        *,
        stale_after_ms: int,
        max_lag_ms: int | None,
        now_ms: NowMs,
        active: bool = True,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown data kinds {sorted(unknown)}; use {KINDS}")
        self.name = name
        self.kinds = frozenset(kinds)
        self.symbols = None if symbols is None else frozenset(symbols)
        self.stale_after_ms = stale_after_ms
        self.max_lag_ms = max_lag_ms
        self.now_ms = now_ms
        # Inactive entries (a fallback not in use, a primary replaced by its fallback) are shown by
        # /status but are not counted as providers of their kinds.
        self.active = active
        self.last_success: int | None = None
        self.last_error: str | None = None
        self.last_error_at: int | None = None
        self.consecutive_failures = 0
        self.newest_data: int | None = None
        self.connected: bool | None = None  # None for pollers; streams set it
        self.note: str | None = None
        # Set by the registry: the other active feeds providing a kind (for standing by after HTTP 451).
        self.peers: Callable[[str, str], list[str]] = lambda kind, name: []
        self.geo_standby = False  # on standby because the venue refuses this location (HTTP 451)

    def stand_by(self, why: str) -> list[str]:
        """Stand by when the venue refuses us (HTTP 451) and other active feeds provide this one's kinds.

        Return those feeds (empty: nobody else does, so this feed stays active and goes stale).
        """
        if self.geo_standby:
            return sorted({p for kind in self.kinds for p in self.peers(kind, self.name)})
        found = {kind: self.peers(kind, self.name) for kind in self.kinds}
        if not all(found.values()):
            return []
        others = sorted({name for names in found.values() for name in names})
        self.active = False
        self.geo_standby = True
        self.note = f"{why}; {', '.join(sorted(self.kinds))} from {', '.join(others)}"
        return others

    def _resume(self) -> None:
        if self.geo_standby:
            # The venue answers again: back in service (its state follows from this success onwards).
            self.geo_standby = False
            self.active = True
            self.note = None
            log.info("%s: the venue answers again; back from standby", self.name)

    def success(self, data_ts: int | None = None) -> None:
        """Record a successful poll or a frame received; ``data_ts`` is the newest data time in it."""
        self._resume()
        self.last_success = self.now_ms()
        self.consecutive_failures = 0
        if data_ts is not None and (self.newest_data is None or data_ts > self.newest_data):
            self.newest_data = data_ts

    def alive(self) -> None:
        """Record proof that a connection works (a pong, an ack) without any new data."""
        self.last_success = self.now_ms()

    def failure(self, error: str) -> None:
        """Record a failed attempt."""
        self.last_error = error
        self.last_error_at = self.now_ms()
        self.consecutive_failures += 1

    def set_connected(self, connected: bool, error: str | None = None) -> None:
        """Record a stream's connection going up or down (a connect alone does not end a failure streak)."""
        self.connected = connected
        if connected:
            self._resume()
        if not connected and error is not None:
            self.failure(error)

    def clear_failures(self) -> None:
        """End a failure streak without new data (a connection stayed up long enough to count as stable)."""
        self.consecutive_failures = 0

    def state(self, now: int | None = None) -> FeedState:
        """Return the state at ``now`` (default: the clock's now)."""
        return self._state(self.now_ms() if now is None else now)[0]

    def _state(self, now: int) -> tuple[FeedState, str]:
        if not self.active:
            return FeedState.STANDBY, self.note or "standby (not in use)"
        if self.last_success is None:
            return FeedState.STALE, "no success yet"
        silent = now - self.last_success
        if silent > self.stale_after_ms:
            return FeedState.STALE, f"no success for {silent / 1000:.0f}s"
        if self.max_lag_ms is not None and self.newest_data is not None:
            lag = now - self.newest_data
            if lag > self.max_lag_ms:
                return FeedState.STALE, f"newest data is {lag / 1000:.0f}s old"
        if self.connected is False:
            return FeedState.DEGRADED, f"disconnected ({self.last_error})"
        if self.consecutive_failures:
            return FeedState.DEGRADED, f"{self.consecutive_failures} failures ({self.last_error})"
        if self.note:
            return FeedState.DEGRADED, self.note
        return FeedState.OK, "ok"

    def snapshot(self, now: int | None = None) -> HealthSnapshot:
        """Return an immutable view for /status."""
        at = self.now_ms() if now is None else now
        return HealthSnapshot(
            name=self.name,
            state=self._state(at)[0],
            kinds=self.kinds,
            symbols=self.symbols,
            active=self.active,
            last_success=self.last_success,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            consecutive_failures=self.consecutive_failures,
            newest_data=self.newest_data,
            lag_ms=None if self.newest_data is None else at - self.newest_data,
            connected=self.connected,
            note=self.note,
            at=at,
        )

    def provides(self, kind: str, symbol: str) -> bool:
        """Tell whether this (active) feed supplies ``kind`` for ``symbol``."""
        return self.active and kind in self.kinds and (self.symbols is None or symbol in self.symbols)


Listener = Callable[[StateChange], None]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A venue said it has no such symbol: that symbol is skipped on that venue from then on."""

    venue: str
    symbol: str
    reason: str
    at: int


RejectionListener = Callable[[Rejection], None]


class Rejections:
    """Symbols each venue refused (unknown, delisted, a typo), each reported once and then skipped.

    One refused symbol never stops another symbol or venue: the feeds skip it and carry on, the log says
    it once, ``/status`` lists it and the ops channel hears it once (through the listeners).
    """

    def __init__(self, now_ms: NowMs) -> None:
        self.now_ms = now_ms
        self._by_key: dict[tuple[str, str], Rejection] = {}
        self._listeners: list[RejectionListener] = []

    def reject(self, venue: str, symbol: str, reason: str) -> bool:
        """Record that ``venue`` refused ``symbol``; return True (and tell listeners) the first time."""
        key = (venue, symbol)
        if key in self._by_key:
            return False
        rejection = Rejection(venue, symbol, reason, self.now_ms())
        self._by_key[key] = rejection
        log.warning(
            "%s refuses %s (%s): skipped on %s; the other symbols carry on", venue, symbol, reason, venue
        )
        for listener in self._listeners:
            try:
                listener(rejection)
            except Exception:
                log.exception("rejection listener failed on %s", rejection)
        return True

    def refused(self, venue: str, symbol: str) -> bool:
        """Tell whether ``venue`` refused ``symbol``."""
        return (venue, symbol) in self._by_key

    def all(self) -> list[Rejection]:
        """Return every rejection, oldest first."""
        return sorted(self._by_key.values(), key=lambda r: (r.at, r.venue, r.symbol))

    def subscribe(self, listener: RejectionListener) -> None:
        """Call ``listener(rejection)`` once for every new rejection."""
        self._listeners.append(listener)


class HealthRegistry:
    """Every feed's health, queried by /status, the watchdog and the alert engine."""

    def __init__(self, now_ms: NowMs) -> None:
        self.now_ms = now_ms
        self._feeds: dict[str, FeedHealth] = {}
        self._last: dict[str, FeedState] = {}
        self._listeners: list[Listener] = []
        self.rejections = Rejections(now_ms)

    def register(
        self,
        name: str,
        kinds: Iterable[str],
        symbols: Iterable[str] | None,
        *,
        stale_after_s: float,
        max_lag_s: float | None = None,
        active: bool = True,
    ) -> FeedHealth:
        """Add a feed and return its health entry (names are unique)."""
        if name in self._feeds:
            raise ValueError(f"feed {name!r} is already registered")
        health = FeedHealth(
            name,
            kinds,
            symbols,
            stale_after_ms=int(stale_after_s * 1000),
            max_lag_ms=None if max_lag_s is None else int(max_lag_s * 1000),
            now_ms=self.now_ms,
            active=active,
        )
        health.peers = lambda kind, me: self.providers(kind, exclude=me)
        self._feeds[name] = health
        return health

    def get(self, name: str) -> FeedHealth:
        """Return a feed's entry, or raise KeyError."""
        return self._feeds[name]

    def names(self) -> list[str]:
        """Return the registered feed names, in registration order."""
        return list(self._feeds)

    def snapshots(self) -> list[HealthSnapshot]:
        """Return every feed's health now."""
        now = self.now_ms()
        return [h.snapshot(now) for h in self._feeds.values()]

    def kind_states(self, symbol: str) -> dict[str, FeedState]:
        """Return, per data kind, how current it is for ``symbol`` across the feeds providing it.

        ``ok`` when every active provider is ok, ``stale`` when none is fresh (or none exists),
        ``degraded`` otherwise: liquidations from Bybit and OKX still arrive while Binance's are stale.
        """
        now = self.now_ms()
        states: dict[str, FeedState] = {}
        for kind in KINDS:
            found = [h.state(now) for h in self._feeds.values() if h.provides(kind, symbol)]
            if not found or all(s is FeedState.STALE for s in found):
                states[kind] = FeedState.STALE
            elif all(s is FeedState.OK for s in found):
                states[kind] = FeedState.OK
            else:
                states[kind] = FeedState.DEGRADED
        return states

    def providers(self, kind: str, *, exclude: str | None = None) -> list[str]:
        """Return the names of the active feeds that provide ``kind`` (for any symbol), but ``exclude``."""
        return [h.name for h in self._feeds.values() if h.active and kind in h.kinds and h.name != exclude]

    def stale_kinds(self, symbol: str) -> set[str]:
        """Return the data kinds with no fresh provider for ``symbol`` (hold their alerts back)."""
        return {kind for kind, state in self.kind_states(symbol).items() if state is FeedState.STALE}

    def worst(self) -> FeedState:
        """Return the worst state of the active feeds (ok when there are none)."""
        now = self.now_ms()
        states = [h.state(now) for h in self._feeds.values() if h.active]
        return max(states, key=_RANK.__getitem__, default=FeedState.OK)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(change)`` for every state change found by ``check()``."""
        self._listeners.append(listener)

    def check(self) -> list[StateChange]:
        """Compare every feed's state with the previous check; return and announce the changes."""
        now = self.now_ms()
        changes: list[StateChange] = []
        for name, health in self._feeds.items():
            state, reason = health._state(now)
            old = self._last.get(name)
            if old is state:
                continue
            self._last[name] = state
            changes.append(StateChange(name, old, state, now, reason))
        for change in changes:
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:
                    log.exception("health listener failed on %s", change)
        return changes
