"""latch.advance_edge is edge with the no-change cases told from the state first (issue 18's bench).

The indicator detectors call it at every closed candle; it must leave the same state and fire at the same
observations as ``edge``, whatever the sequence (SYNTHETIC observations drawn by hypothesis).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.latch import advance_edge, edge, take_latches

KEYS = ("up", "down")
# One observation: which key, whether its condition holds, whether it re-arms, whether it is a learning
# pass, and whether the engine takes the latches after it (an evaluation's end).
OBSERVATION = st.tuples(st.sampled_from(KEYS), st.booleans(), st.booleans(), st.booleans(), st.booleans())


def _payload(key: str, n: int) -> dict[str, Any]:
    return {"kind": key, "n": n}


@settings(max_examples=300, deadline=None)
@given(st.lists(OBSERVATION, max_size=40))
def test_advance_edge_fires_and_leaves_the_state_as_edge_does(
    observations: list[tuple[str, bool, bool, bool, bool]],
) -> None:
    by_edge: dict[str, Any] = {}
    by_advance: dict[str, Any] = {}
    for n, (key, active, rearm, learn, take) in enumerate(observations):
        fired = edge(
            by_edge, key, active=active, rearm=rearm, build=lambda k=key, i=n: _payload(k, i), learn=learn
        )
        assert advance_edge(by_advance, key, active, rearm, learn, _payload, key, n) == fired
        # An empty "off" list and a missing one read alike (edge creates it at its first observation).
        assert {**by_advance, "off": by_advance.get("off", [])} == {**by_edge, "off": by_edge.get("off", [])}
        if take:
            assert take_latches(copy.deepcopy(by_advance)) == take_latches(copy.deepcopy(by_edge))
            take_latches(by_edge)
            take_latches(by_advance)
