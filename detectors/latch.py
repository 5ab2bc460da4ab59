"""Latches and edges: how detectors keep a condition active until it re-arms, and report it exactly once.

A detector that finds an event *latches* it in its state; ``evaluate`` returns the latched events, so the
engine sees the condition as active from the event until the detector *releases* it (re-arm). An event
that happens and is released within one catch-up batch (the bot was down, several candles are processed at
once) is still returned once before it is dropped, so a missed event is reported late instead of lost.

``edge`` is the armed/disarmed bookkeeping on top: an armed key fires when its condition becomes active,
then stays disarmed (and latched) until its re-arm condition holds.

A latched payload (``edge``'s ``build()``, under the latch's ``"signal"``) is never changed in place once
latched: the engine keeps its JSON by the payload's identity instead of encoding it at every evaluation
(``storage.repo.state_json``). Latch a new payload to change it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from detectors.base import Detector, Signal


def set_latch(state: dict[str, Any], key: str, payload: Mapping[str, Any]) -> None:
    """Latch an event under ``key`` (replacing an older latch of that key)."""
    state.setdefault("latch", {})[key] = dict(payload)


def release_latch(state: dict[str, Any], key: str) -> None:
    """Release the latch of ``key``: drop it if it was reported, else keep it for one more report."""
    latch = state.get("latch", {}).get(key)
    if latch is None:
        return
    if latch.get("seen"):
        del state["latch"][key]
    else:
        # Fired and re-armed within one catch-up batch: keep it for one evaluation so the engine still
        # reports the event (once, late) instead of losing it.
        latch["release"] = True


def take_latches(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the active latches and mark them seen, dropping those released after being reported."""
    latches: dict[str, dict[str, Any]] | None = state.get("latch")
    if not latches:
        return {}  # the usual case, on every evaluation: keep it cheap
    active = {}
    for key, latch in list(latches.items()):
        if latch.get("seen") and latch.get("release"):
            del latches[key]
            continue
        latch["seen"] = True
        active[key] = latch
    if not latches:
        del state["latch"]  # keep the persisted state small
    return active


def latches_settled(state: dict[str, Any]) -> bool:
    """Return True when taking the latches again would change nothing (all reported, none released).

    After an evaluation every latch is marked seen; a latch also marked released is dropped by the next
    ``take_latches``, so until then evaluating again is not a no-op.
    """
    latches: dict[str, dict[str, Any]] | None = state.get("latch")
    if not latches:
        return True
    for latch in latches.values():  # noqa: SIM110 - a loop, not all() over a generator: asked at every candle
        if not latch.get("seen") or latch.get("release"):
            return False
    return True


def edge(
    state: dict[str, Any],
    key: str,
    *,
    active: bool,
    rearm: bool,
    build: Callable[[], dict[str, Any]],
    learn: bool = False,
) -> bool:
    """Advance the armed flag of ``key`` by one observation; latch ``build()`` when it fires.

    ``active``: the condition holds now; ``rearm``: the condition is far enough gone to fire again.
    ``learn`` (first evaluation): only record whether the condition already holds, so a rule never
    fires on a state it was created into. Return True when it fired.
    """
    off: list[str] = state.setdefault("off", [])
    if learn:
        if active and key not in off:
            off.append(key)
        return False
    if key not in off:
        if not active:
            return False
        off.append(key)
        set_latch(state, key, {"signal": build()})
        return True
    if rearm:
        off.remove(key)
        release_latch(state, key)
    return False


def advance_edge(
    state: dict[str, Any],
    key: str,
    active: bool,
    rearm: bool,
    learn: bool,
    build: Callable[..., dict[str, Any]],
    *args: Any,
) -> bool:
    """Advance ``edge`` by one observation, building its payload (``build(*args)``) only if it fires.

    For detectors that step every closed candle of every rule: most observations change nothing (an armed
    key not active, a disarmed one not re-arming), and telling so from the state is cheaper than building
    the payload's callable and calling ``edge`` (issue 18's bench). The same result as ``edge``.
    """
    off: list[str] | None = state.get("off")
    if off is not None and not learn and not (rearm if key in off else active):
        return False
    return edge(state, key, active=active, rearm=rearm, build=partial(build, *args), learn=learn)


def is_armed(state: dict[str, Any], key: str) -> bool:
    """Return whether ``key`` can fire (it is not waiting to re-arm)."""
    return key not in state.get("off", ())


def cached_signal(detector: Detector, key: str, stamp: Any, build: Callable[[], Signal]) -> Signal:
    """Return the Signal built for ``key`` at ``stamp`` last time, or build it.

    A latched condition is returned on every evaluation until it re-arms (for a level crossing that can be
    days of evaluations every few seconds); rebuilding its title each time was most of the cost of an
    evaluation. The cache lives on the detector instance and is only an optimisation: the same latch
    (same stamp) always builds the same Signal.
    """
    cache: dict[str, tuple[Any, Signal]] = detector.__dict__.setdefault("_signal_cache", {})
    hit = cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    signal = build()
    cache[key] = (stamp, signal)
    if len(cache) > 64:  # keys come and go (one per level, per day): forget the stale ones
        for stale in [k for k, (_, s) in cache.items() if s.at < signal.at][: len(cache) - 32]:
            del cache[stale]
    return signal


def latched_signals(detector: Detector, state: dict[str, Any]) -> list[Signal]:
    """Return a Signal for every active latch whose payload was built by ``edge``."""
    if "latch" not in state:
        return []
    signals = []
    for key, latch in take_latches(state).items():
        payload = latch.get("signal")
        if payload is not None:
            stamp = (payload["at"], payload["kind"], payload["title"])
            # The payload is spread into keywords only when the Signal is built, not at every cache hit.
            signals.append(cached_signal(detector, key, stamp, partial(_signal_of, detector, key, payload)))
    return signals


def _signal_of(detector: Detector, key: str, payload: dict[str, Any]) -> Signal:
    return detector.signal(key=key, **payload)
