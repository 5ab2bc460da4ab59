"""Encode detector states as ``dumps`` does, reusing the JSON of latched alerts that did not change.

A rule whose alert is latched (``detectors.latch``) carries the whole alert in its state until it re-arms,
and its state is written after every evaluation (its ``t`` moves every candle): encoding that unchanged
alert again was a sixth of an indicator rule's cost (issue 18). A latched alert's payload (a latch's
``"signal"``) is built once by ``edge`` and never changed in place afterwards, so its text is kept by the
payload object's identity: the state is encoded with a placeholder in its place, and the placeholder is
replaced by the kept text. The result is byte for byte what ``dumps`` returns for the whole state.
"""

from __future__ import annotations

from typing import Any

from storage.repo.mapping import dumps

LATCH = "latch"
PAYLOAD = "signal"


class StateEncoder:
    """Encode detector states; remember the text of each rule's latched alert payloads."""

    def __init__(self) -> None:
        # rule id -> {latch key: (payload, its text)}; the payload is held so its identity is not reused.
        self._payloads: dict[str, dict[str, tuple[Any, str]]] = {}

    def encode(self, rule_id: str, state: dict[str, Any]) -> str:
        """Return ``dumps(state)``, reusing the text of the rule's latched payloads encoded before."""
        latches = state.get(LATCH)
        if not latches or not isinstance(latches, dict):
            self._payloads.pop(rule_id, None)
            return dumps(state)
        known = self._payloads.get(rule_id, {})
        kept: dict[str, tuple[Any, str]] = {}
        placeholders: dict[str, str] = {}
        stripped: dict[Any, Any] = {}
        for key, latch in latches.items():
            payload = latch.get(PAYLOAD) if isinstance(latch, dict) else None
            if not isinstance(key, str) or not isinstance(payload, dict):
                stripped[key] = latch
                continue
            hit = known.get(key)
            text = hit[1] if hit is not None and hit[0] is payload else dumps(payload)
            kept[key] = (payload, text)
            # NUL characters are escaped by JSON, so the placeholder's text cannot come from another value.
            placeholder = f"\0{PAYLOAD}\0{key}\0"
            placeholders[dumps(placeholder)] = text
            stripped[key] = {**latch, PAYLOAD: placeholder}
        self._payloads[rule_id] = kept
        encoded = dumps({**state, LATCH: stripped})
        for placeholder, text in placeholders.items():
            if encoded.count(placeholder) != 1:  # a key spelt like a placeholder: encode it all instead
                return dumps(state)
            encoded = encoded.replace(placeholder, text)
        return encoded

    def forget(self, rule_id: str) -> None:
        """Drop what is remembered of a rule (it was removed)."""
        self._payloads.pop(rule_id, None)
