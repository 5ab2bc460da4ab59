"""Which evaluated rules' detector states need writing: those whose lasting part changed, or got old.

An indicator rule's state changes at every closed candle, but only in ``t`` (how far it got): its
indicators are rebuilt from the candles at a restart, and the candles after a written ``t`` decided again
from the written flags give the same decisions (``Detector.lasting_state``). Writing its state at every
candle was an eighth of a one-minute indicator rule's cost (issue 18's bench), so such a state is written
when its lasting part changes, and otherwise at least every ``MAX_UNSAVED_MS``, which bounds what a restart
redoes. A detector that answers None has its state written after every evaluation, as before.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Detector

# How old the written state of an evaluated rule may get while only its progress moves: a restart (or a
# resumed replay) decides at most this much of the rule's candles again.
MAX_UNSAVED_MS = 15 * 60_000


class StateSaves:
    """Remember, per rule, the lasting part of its state written last and when."""

    def __init__(self) -> None:
        self._written: dict[str, tuple[object, int]] = {}

    def worth_writing(self, rule_id: str, detector: Detector[Any], state: dict[str, Any], now: int) -> bool:
        """Return True when the state just evaluated at ``now`` must be written (and note it as written).

        The caller writes it at its next flush; a flush that fails leaves the rule to be written at the
        next one, with whatever state it has then.
        """
        lasting = detector.lasting_state(state)
        if lasting is None:
            return True
        written = self._written.get(rule_id)
        if written is not None and now - written[1] < MAX_UNSAVED_MS and written[0] == lasting:
            return False
        self._written[rule_id] = (lasting, now)
        return True

    def forget(self, rule_id: str) -> None:
        """Drop what is known of a rule's written state (removed, changed or read again from the database)."""
        self._written.pop(rule_id, None)
