"""Every detector's alert reads like a person wrote it, in every medium: the alert embed, /why and the
replay's line show no raw epoch number, no None, no Python float repr and no snake_case name (issue 22);
nor does a digest.

Each detector in the registry is checked, so a detector added later is covered with no change here:
- its alerts in the bundled January 2026 replay (the example rules routed to the emulator's guild), as
  the engine recorded and queued them;
- a synthetic alert built from its own ``value_specs``: every declared value set to a value of its kind
  chosen to tempt a raw rendering (an epoch in ms, 20000000.0, 0.30000000000000004, ...), then the same
  alert with every value missing (None), and its resolve notice. This covers a detector the replay does
  not fire (none of the built-ins today; a plugin, or one added without an example rule that fires in
  January) and the values the replay leaves unset. Whether a detector
  declares every value it returns is checked on its own tests' rows (``tests/detectors/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bot.__main__ import main
from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.discord.render.history import MAX_VALUE_FIELDS, why_embed
from bot.notify.console import alert_line
from bot.notify.discord.render.alerts import alert_embed
from bot.services import Service
from bot.services.history import HistoryService
from detectors.base import MARKET_SYMBOL, Detector
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from detectors.values import ValueKind
from storage.db import open_database
from storage.repo import AlertEventRow, Repo
from tests.bot.history_support import history_config, load_replayed
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.bot.support import Clock
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID
from tests.readable import unreadable

# Synthetic values, one per kind: what a careless formatter would print raw.
TEMPTING: dict[ValueKind, Any] = {
    ValueKind.TIME: 1_768_842_000_000,
    ValueKind.DATE: "2026-01-19",
    ValueKind.PRICE: 95_757.21000000001,
    ValueKind.USD: 20_000_000.0,
    ValueKind.PERCENT: 0.30000000000000004,
    ValueKind.CHANGE: -3.0710000000000002,
    ValueKind.FUNDING: 0.0038640000000000002,
    ValueKind.DURATION: 60.0,
    ValueKind.COUNT: 21.0,
    ValueKind.RATIO: 73.62000000000001,
    ValueKind.AMOUNT: 1_402.0000000001,
    ValueKind.OPEN_INTEREST: 9_303_887_430.0,
    ValueKind.NUMBER: 20_000_000.0,
    ValueKind.TEXT: "short",
    ValueKind.HIDDEN: {"coinglass": 108_990_315.0},
}
SYNTHETIC_AT = BREAKOUT_DAY_NOON - 3_600_000
DETECTORS = detector_classes()


@pytest.fixture(scope="module")
def replayed() -> Iterator[Repo]:
    """Yield a database holding the scenario and the alerts the example rules raised on it."""
    repo = Repo(open_database(":memory:"))
    load_replayed(repo)
    yield repo
    repo.close()


@pytest.fixture(scope="module")
def history(replayed: Repo) -> HistoryService:
    """Return the history service (/why) on the replayed database, as of the day after the breakout."""
    engine = Engine(replayed, MarketHistory(), AlertRouter(replayed, [], console=False, discord=True))
    service = Service(replayed, engine, history_config(), Clock(BREAKOUT_DAY_NOON))
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID)
    return HistoryService(service)


def embed_texts(embed: Mapping[str, Any]) -> list[str]:
    """Return every text of an embed a person reads."""
    texts = [str(embed.get("title", "")), str(embed.get("description", ""))]
    texts += [str(f[part]) for f in embed.get("fields", []) for part in ("name", "value")]
    return [*texts, str(embed.get("footer", {}).get("text", ""))]


def payload_of(event: AlertEventRow) -> dict[str, Any]:
    """Return the payload the engine queues for a recorded alert (bot/alerts/engine.py ``_payload``)."""
    return {
        "event_id": event.id,
        "state": event.state,
        "rule_id": event.rule_id,
        "detector": event.detector,
        "symbol": event.symbol,
        "kind": event.kind,
        "severity": event.severity,
        "title": event.title,
        "values": event.values,
        "at": event.at,
        "late": event.late,
        "direction": event.values.get("direction", "neutral"),
        "note": None,
        "stateful": event.state == "resolved",
        "guild_id": event.guild_id,
        "role_id": None,
    }


def problems(event: AlertEventRow, history: HistoryService, repo: Repo) -> list[str]:
    """Return what reads raw in the alert embed, the replay line and /why of one recorded alert."""
    # Names members type or read as names: the rule id, the detector and the symbol (footers, /why).
    identifiers = (event.rule_id, event.detector, event.symbol)
    found: list[str] = []
    # What was queued for delivery; an end nobody is told of (an edge alert re-arming) as it is recorded.
    payloads = [row.payload for row in repo.event_outbox(event.id)] or [payload_of(event)]
    for payload in payloads:
        for text in embed_texts(alert_embed(payload, "binance").to_dict()):
            found += [f"embed #{event.id}: {p}" for p in unreadable(text, identifiers)]
        found += [f"replay line #{event.id}: {p}" for p in unreadable(alert_line(payload), identifiers)]
    why = why_embed(history.why(GUILD_ID, OWNER_ID, event.id, [ALERTS_CHANNEL_ID]))
    for text in embed_texts(why.to_dict()):
        found += [f"/why #{event.id}: {p}" for p in unreadable(text, identifiers)]
    return found


def synthetic_values(cls: type[Detector], missing: bool) -> dict[str, Any]:
    """Return a value of each declared key's kind (or None for each with ``missing``); synthetic."""
    values = {key: None if missing else TEMPTING[spec.kind] for key, spec in cls.value_specs.items()}
    return {**values, "direction": "up"}


def record_synthetic(repo: Repo, cls: type[Detector], missing: bool) -> list[AlertEventRow]:
    """Record a synthetic alert of ``cls`` and its end as the engine would, posted in the alerts channel."""
    symbol = MARKET_SYMBOL if cls.market_wide else "BTCUSDT"
    rule_id = f"synthetic-{cls.name.replace('_', '-')}"
    values = synthetic_values(cls, missing)
    events = []
    with repo.transaction():
        for state, title, extra, at in (
            ("firing", "Synthetic alert", {}, SYNTHETIC_AT),
            (
                "resolved",
                "Ended: Synthetic alert",
                {"duration_s": 5400, "fired_event_id": 1},
                SYNTHETIC_AT + 1,
            ),
        ):
            event_values = {**values, **extra}
            event_id = repo.insert_event(
                dedupe_key=f"{rule_id}:{missing}:{state}",
                rule_id=rule_id,
                detector=cls.name,
                symbol=symbol,
                guild_id=GUILD_ID,
                state=state,
                kind="synthetic",
                severity="warning",
                title=title,
                values=event_values,
                rule={"detector": cls.name, "symbol": symbol, "settings": {}, "origin": "discord"},
                at=at,
                recorded_at=at,
            )
            event = repo.event(event_id) if event_id is not None else None
            assert event is not None
            repo.enqueue(
                event_id=event_id,
                sink="discord",
                target=f"channel:{ALERTS_CHANNEL_ID}",
                kind="alert" if state == "firing" else "resolve",
                payload=payload_of(event),
                now=at,
            )
            events.append(event)
    return events


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detectors_replayed_alerts_read_in_words(
    name: str, replayed: Repo, history: HistoryService
) -> None:
    events = [e for e in replayed.events(limit=100_000) if e.detector == name and e.kind != "synthetic"]
    if not events:
        pytest.skip(
            f"the example rules do not fire {name} in the bundled replay (its synthetic alert is checked)"
        )
    found = [p for event in events for p in problems(event, history, replayed)]
    assert not found, "\n".join(found[:20])


@pytest.mark.parametrize("missing", [False, True], ids=["every value tempting", "every value missing"])
@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detectors_synthetic_alert_reads_in_words(
    name: str, missing: bool, replayed: Repo, history: HistoryService
) -> None:
    events = record_synthetic(replayed, DETECTORS[name], missing)
    found = [p for event in events for p in problems(event, history, replayed)]
    assert not found, "\n".join(found[:20])
    # The declared values are shown (labelled in words), or left out when missing.
    why = why_embed(history.why(GUILD_ID, OWNER_ID, events[0].id, [ALERTS_CHANNEL_ID])).to_dict()
    labels = {f["name"] for f in why["fields"]}
    declared = [s.label for s in DETECTORS[name].value_specs.values() if s.kind is not ValueKind.HIDDEN]
    if missing:
        assert not labels & set(declared), "a missing value is left out, not shown as None"
    else:
        assert set(declared[:MAX_VALUE_FIELDS]) <= labels


def test_the_replay_fires_most_detectors(replayed: Repo) -> None:
    # The replayed half is not vacuous: the example rules fire all but a few detectors.
    fired = {e.detector for e in replayed.events(limit=100_000) if e.kind != "synthetic"}
    assert {"level_cross", "liquidation_cascade", "squeeze", "open_interest", "fear_greed"} <= fired


@pytest.mark.parametrize("at", ["2026-01-14T09:00Z", "2026-01-19T08:52Z"])
def test_a_digest_reads_in_words(at: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Digests write with the same per-kind formatters (the breakout morning, and a capitulation morning).
    assert main(["-q", "digest", "--at", at]) == 0
    text = capsys.readouterr().out
    assert "Liquidations" in text and unreadable(text) == []
