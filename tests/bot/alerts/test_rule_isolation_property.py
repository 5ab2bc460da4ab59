"""Issue 17, finding 1, as a property: no detector with any settings changes another rule's alerts.

Every built-in detector runs with hypothesis-generated settings (extreme floats included: NaN, infinities,
subnormals, the largest float, and the bounds of each field) inside the engine, next to a healthy $95,000
level_cross rule, over the bundled January 2026 data. The generated rule is stored as an older version or
a hand-edited database might hold it, so the engine's own checks are what stands between it and the pass;
and again built without any validation (as main built a subnormal step), so the detector itself runs on
what the checks refuse. Whatever it does (quarantined on load, quarantined in a pass, or running), the
healthy rule's alerts are exactly those it produces alone.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterator
from functools import cache
from typing import Any, Literal

import pytest
from annotated_types import Ge, Gt, Le, Lt
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic.fields import FieldInfo

from bot.alerts import engine as engine_module
from bot.alerts.engine import Engine
from bot.alerts.model import BROKEN_PREFIX
from bot.alerts.routing import AlertRouter
from bot.config import RetentionConfig
from detectors.base import MARKET_SYMBOL, MAX_PRICE, MIN_PRICE
from detectors.market_history import MarketHistory
from detectors.registry import BUILTIN_DETECTORS, detector_classes
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import GuildSettingsRow
from tests.bot.alerts.test_rule_isolation import END, GUILD, OPS, START, play, unchecked_instantiate
from tests.bot.scenario import seed

HEALTHY = RuleRow(
    id="admin-level",
    origin="discord",
    detector="level_cross",
    symbol="BTCUSDT",
    settings={"level": 95000.0, "direction": "either"},
    guild_id=GUILD,
    owner_id=2001,
    channel_id=3001,
    created_at=START - 86_400_000,
    updated_at=START - 86_400_000,
)
BUILTINS = [spec.rsplit(":", 1)[1] for spec in BUILTIN_DETECTORS]
NAMES = [cls.name for cls in detector_classes().values() if cls.__name__ in BUILTINS]
# Floats no setting should survive, and the edges of what one may hold.
EXTREMES = st.sampled_from(
    [5e-324, -5e-324, 0.0, -0.0, 1e-308, MIN_PRICE, MAX_PRICE, 1e308, -1e308, 2.0**63, float("nan")]
)


@cache
def template() -> tuple[Repo, MarketHistory]:
    """Return a database and history holding the scenario up to START (copied for each example)."""
    repo = Repo(open_database(":memory:"))
    repo.save_guild_settings(GuildSettingsRow(GUILD, 3001, OPS, {}, START))
    return repo, seed(repo, until=START)


def fresh() -> tuple[Repo, MarketHistory]:
    """Return a copy of the template's database and history."""
    repo, history = template()
    db = open_database(":memory:")
    repo.conn.backup(db.conn)
    return Repo(db), copy.deepcopy(history)


def run(other: RuleRow | None) -> tuple[list[tuple[str, str, int]], Repo]:
    """Play START..END with the healthy rule (and ``other``); return the healthy rule's events."""
    repo, history = fresh()
    with repo.transaction():
        repo.save_rule(HEALTHY)
        if other is not None:
            repo.save_rule(other)
    engine = Engine(
        repo,
        history,
        AlertRouter(repo, [], console=False, discord=True),
        retention=RetentionConfig(),
        ops_channel_id=OPS,
    )
    engine.load()
    play(repo, history, engine, START, END)
    events = repo.events(rule_id=HEALTHY.id, newest_first=False, limit=1000)
    return [(e.state, e.title, e.at) for e in events], repo


@cache
def alone() -> list[tuple[str, str, int]]:
    """Return the healthy rule's events when it runs alone."""
    return run(None)[0]


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, Ge | Gt):
            low = float(item.ge if isinstance(item, Ge) else item.gt)  # type: ignore[arg-type]
        if isinstance(item, Le | Lt):
            high = float(item.le if isinstance(item, Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def _floats(low: float | None, high: float | None) -> st.SearchStrategy[float]:
    bounded = st.floats(
        min_value=low if low is not None else -1e12,
        max_value=high if high is not None else 1e12,
        allow_nan=False,
    )
    return st.one_of(bounded, EXTREMES, st.floats())


def _ints(low: float | None, high: float | None, outside: bool) -> st.SearchStrategy[int]:
    lo = int(low) if low is not None else -(10**6)
    hi = int(high) if high is not None else 10**6
    inside = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi]))
    if not outside:
        return inside
    return st.one_of(inside, st.integers(-(2**70), 2**70), st.sampled_from([0, -1]))


def _values(annotation: Any, info: FieldInfo, name: str, outside: bool) -> st.SearchStrategy[Any]:
    """Return a strategy for one setting: inside its bounds and (floats always) far outside them."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [_values(a, info, name, outside) for a in args if a is not type(None)]
        return st.one_of(*inner, st.none())
    if typing.get_origin(annotation) is Literal:
        return st.sampled_from(args)
    if typing.get_origin(annotation) is list:
        return st.lists(st.sampled_from(["ETHUSDT", "BTCUSDT", "SOLUSDT", "x"]), max_size=4)
    low, high = _bounds(info)
    if name in ("level", "step"):
        low, high = MIN_PRICE, MAX_PRICE
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return _ints(low, high, outside)
    return _floats(low, high)


@st.composite
def settings_of(draw: st.DrawFn, name: str, outside: bool) -> dict[str, Any]:
    """Draw settings for detector ``name``: each option given or left to its default.

    ``outside``: whole numbers outside their bounds too. Built without validation, a window of 0 minutes
    loops forever, which no per-rule isolation can catch in-process: that is what the bounds are for.
    """
    cls = detector_classes()[name]
    hints = typing.get_type_hints(cls.Settings)
    drawn: dict[str, Any] = {}
    for field, info in cls.Settings.model_fields.items():
        if info.is_required() or draw(st.booleans()):
            drawn[field] = draw(_values(hints[field], info, field, outside))
    return drawn


def other_rule(name: str, settings: dict[str, Any]) -> RuleRow:
    cls = detector_classes()[name]
    return RuleRow(
        id=f"member-{name}",
        origin="discord",
        detector=name,
        symbol=MARKET_SYMBOL if cls.market_wide else "BTCUSDT",
        settings=settings,
        guild_id=GUILD,
        owner_id=2002,
        deliver="dm",
        created_at=START - 86_400_000,
        updated_at=START - 86_400_000,
    )


@pytest.fixture(scope="module", autouse=True)
def _baseline() -> Iterator[None]:
    # The healthy rule alone crosses $95,000 up once in the window; a baseline without it proves nothing.
    assert [(state, title) for state, title, _ in alone()] == [("firing", "BTC broke above $95,000")]
    yield


@pytest.mark.parametrize("checked", [True, False], ids=["stored", "unvalidated"])
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_finding_1_no_detector_settings_change_another_rules_alerts(
    name: str, checked: bool, data: st.DataObject
) -> None:
    drawn = data.draw(settings_of(name, outside=checked), label="settings")
    other = other_rule(name, drawn)
    with pytest.MonkeyPatch.context() as patch:
        if not checked:
            patch.setattr(engine_module, "instantiate", unchecked_instantiate)
        events, repo = run(other)
    assert events == alone()
    stored = repo.rule(other.id)
    assert stored is not None  # quarantined or running, never dropped
    if stored.enabled:
        event(f"{name}: ran the whole window")
    else:
        assert (stored.status_reason or "").startswith(BROKEN_PREFIX), stored.status_reason
        failed = "failed" if "detector failed" in (stored.status_reason or "") else "refused on load"
        event(f"{name}: quarantined ({failed})")
