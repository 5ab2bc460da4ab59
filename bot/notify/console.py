"""Print alerts to a text stream: readable lines for people, or one JSON object per line for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from bot.notify.outbox import Delivered, Outcome
from bot.notify.values import values_text
from detectors.values import utc_text
from storage.repo import OutboxRow

# Values on an alert's line, the most telling first (their detector's order); /why shows them all.
MAX_VALUES_SHOWN = 6


def iso_utc(ms: int) -> str:
    """Format epoch ms as an ISO-8601 UTC time (``2026-01-13T23:00:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_line(payload: dict[str, Any]) -> str:
    """Return one readable line for an alert payload."""
    when = utc_text(payload["at"])
    marks = []
    if payload.get("late"):
        marks.append("LATE")
    if payload.get("without"):
        marks.append(f"without {', '.join(str(n) for n in payload['without'])}")
    if payload.get("state") == "resolved" and not str(payload.get("title", "")).startswith("Ended"):
        marks.append("resolved")  # an end notice's title says it already
    if payload.get("parent_event_id") is not None:
        marks.append(f"folded into alert #{payload['parent_event_id']}")
    mark = f" ({', '.join(marks)})" if marks else ""
    shown = values_text(str(payload.get("detector", "")), payload.get("values", {}), most=MAX_VALUES_SHOWN)
    details = f"  [{shown}]" if shown else ""
    return (
        f"{when}  {payload['symbol']:<8} {payload['severity']:<8} {payload['title']}{mark}"
        f"  <{payload['rule_id']}>{details}"
    )


def alert_json(payload: dict[str, Any]) -> str:
    """Return the JSON line of an alert payload in the replay's documented format."""
    return json.dumps(
        {
            "at": iso_utc(payload["at"]),
            "rule": payload["rule_id"],
            "detector": payload["detector"],
            "symbol": payload["symbol"],
            "state": payload["state"],
            "severity": payload["severity"],
            "title": payload["title"],
            "values": payload.get("values", {}),
        },
        sort_keys=False,
        separators=(",", ":"),
    )


class ConsoleSink:
    """Write every alert and resolve notice to a stream."""

    name = "console"

    def __init__(self, stream: TextIO, fmt: Literal["text", "jsonl"] = "text") -> None:
        self.stream = stream
        self.fmt = fmt

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Print each row and report it delivered."""
        outcomes: list[Outcome] = []
        for row in rows:
            text = alert_json(row.payload) if self.fmt == "jsonl" else alert_line(row.payload)
            self.stream.write(text + "\n")
            outcomes.append(Delivered(row.id))
        self.stream.flush()
        return outcomes
