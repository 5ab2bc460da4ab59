"""What an outgoing webhook carries: one alert event's JSON body, and the headers that sign it.

The body is in Tripwire's format or Alertmanager's; docs/webhooks.md documents both, and the signature
with a verification snippet.

Pure functions of an outbox row's payload, so a re-sent delivery (after a crash between the receiver's
answer and the database's record of it) carries the same body and the same idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any, Literal

PAYLOAD_VERSION = "1"
# Alertmanager's webhook_config payload version; receivers written for Alertmanager check it.
ALERTMANAGER_VERSION = "4"
# Alertmanager's "not ended" time (Go's zero time), which its receivers expect for a firing alert.
ZERO_TIME = "0001-01-01T00:00:00Z"
SIGNATURE_HEADER = "Tripwire-Signature"
TIMESTAMP_HEADER = "Tripwire-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "Tripwire-Event"

Format = Literal["tripwire", "alertmanager"]


def idempotency_key(event_id: int) -> str:
    """Return the key every delivery of one alert event carries, however often it is re-sent."""
    return f"tripwire-event-{event_id}"


def rfc3339(ms: int) -> str:
    """Format epoch ms as RFC 3339 UTC with milliseconds (``2026-01-13T23:00:00.000Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tripwire_event(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the Tripwire-format body of one alert event (the schema in docs/webhooks.md)."""
    event_id = int(payload["event_id"])
    return {
        "version": PAYLOAD_VERSION,
        "id": idempotency_key(event_id),
        "event_id": event_id,
        "state": payload["state"],
        "fired_event_id": payload.get("fired_event_id"),
        "rule_id": payload["rule_id"],
        "detector": payload["detector"],
        "symbol": payload["symbol"],
        "kind": payload["kind"],
        "severity": payload["severity"],
        "title": payload["title"],
        "direction": payload.get("direction", "neutral"),
        "at": rfc3339(int(payload["at"])),
        "at_ms": int(payload["at"]),
        "late": bool(payload.get("late", False)),
        "note": payload.get("note"),
        "guild_id": payload.get("guild_id"),
        "inhibited_by": payload.get("parent_event_id"),
        "values": payload.get("values", {}),
    }


def _labels(payload: dict[str, Any]) -> dict[str, str]:
    # The same for an alert's firing and resolved events, so the fingerprint (and a receiver's grouping)
    # pairs them.
    labels = {
        "alertname": str(payload["rule_id"]),
        "rule_id": str(payload["rule_id"]),
        "detector": str(payload["detector"]),
        "symbol": str(payload["symbol"]),
        "kind": str(payload["kind"]),
        "severity": str(payload["severity"]),
    }
    if payload.get("guild_id") is not None:
        labels["guild_id"] = str(payload["guild_id"])
    return labels


def alertmanager_event(payload: dict[str, Any], receiver: str, external_url: str = "") -> dict[str, Any]:
    """Return one alert event as Alertmanager's webhook_config body (version "4"), one alert per body."""
    labels = _labels(payload)
    at = int(payload["at"])
    resolved = payload["state"] == "resolved"
    values = payload.get("values", {})
    starts = at - int(values.get("duration_s", 0)) * 1000 if resolved else at
    annotations = {"summary": str(payload["title"])}
    if payload.get("note"):
        annotations["description"] = str(payload["note"])
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    group_labels = {"alertname": labels["alertname"], "symbol": labels["symbol"]}
    status = "resolved" if resolved else "firing"
    return {
        "version": ALERTMANAGER_VERSION,
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(starts),
                "endsAt": rfc3339(at) if resolved else ZERO_TIME,
                "generatorURL": "",
                "fingerprint": fingerprint,
            }
        ],
    }


def body(payload: dict[str, Any], fmt: Format, receiver: str) -> bytes:
    """Return the request body of one outbox payload in ``fmt`` (stable bytes: keys sorted)."""
    data = tripwire_event(payload) if fmt == "tripwire" else alertmanager_event(payload, receiver)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def signature(secret: bytes, timestamp: int, data: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``"<timestamp>." + body``, which a receiver recomputes to check it."""
    return hmac.new(secret, str(timestamp).encode("ascii") + b"." + data, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, timestamp: int, data: bytes, event_id: int) -> dict[str, str]:
    """Return the headers of one delivery: content type, timestamp, signature, idempotency key."""
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, data)}",
        IDEMPOTENCY_HEADER: idempotency_key(event_id),
        EVENT_HEADER: str(event_id),
    }


def verify(secret: bytes, headers: dict[str, str], data: bytes, now_s: int, tolerance_s: int = 300) -> bool:
    """Check a delivery as a receiver would (docs/webhooks.md): a fresh timestamp and a matching signature."""
    parts = dict(part.split("=", 1) for part in headers.get(SIGNATURE_HEADER, "").split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now_s - timestamp) > tolerance_s or headers.get(TIMESTAMP_HEADER) != str(timestamp):
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, data))
