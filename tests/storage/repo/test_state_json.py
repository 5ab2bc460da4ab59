"""StateEncoder: a state's text is what ``dumps`` gives, whether a latched payload is reused or not."""

from __future__ import annotations

from typing import Any

from storage.repo.mapping import dumps
from storage.repo.state_json import StateEncoder


def macd_state(close: float = 123.456) -> dict[str, Any]:
    """Return a state shaped like a latched MACD rule's (SYNTHETIC values)."""
    payload = {
        "at": 1_767_225_600_000,
        "kind": "macd_zero_up",
        "severity": "info",
        "title": "SYN MACD crossed above zero (1m)",
        "values": {"close": close, "last_closes": [1.5, 2.25, 3.0], "warmup": 34, "interval": "1m"},
    }
    return {"t": 1_767_225_540_000, "off": ["zero_up"], "latch": {"zero_up": {"signal": payload}}}


def test_text_is_dumps_first_and_when_payload_reused() -> None:
    encoder = StateEncoder()
    state = macd_state()
    assert encoder.encode("r1", state) == dumps(state)
    # Next candle: "t" moves and the latch is marked seen; the payload object is the same one.
    state["t"] += 60_000
    state["latch"]["zero_up"]["seen"] = True
    assert encoder.encode("r1", state) == dumps(state)
    assert '"seen":true' in encoder.encode("r1", state)


def test_new_payload_is_encoded_again() -> None:
    encoder = StateEncoder()
    state = macd_state(close=1.0)
    encoder.encode("r1", state)
    state["latch"]["zero_up"] = {"signal": macd_state(close=2.0)["latch"]["zero_up"]["signal"]}
    text = encoder.encode("r1", state)
    assert text == dumps(state)
    assert '"close":2.0' in text


def test_rules_do_not_share_payload_text() -> None:
    encoder = StateEncoder()
    one, two = macd_state(close=1.0), macd_state(close=2.0)
    assert encoder.encode("r1", one) == dumps(one)
    assert encoder.encode("r2", two) == dumps(two)
    assert encoder.encode("r1", one) == dumps(one)


def test_non_finite_numbers_and_other_keys_match_dumps() -> None:
    encoder = StateEncoder()
    state = macd_state(close=float("nan"))
    state["a_before"] = float("inf")
    state["z_after"] = {"x": [1, 2]}
    state["latch"]["plain"] = {"other": 1}  # a latch without a payload is encoded as it is
    for _ in range(2):
        text = encoder.encode("r1", state)
        assert text == dumps(state)
    assert '"close":null' in text and '"a_before":null' in text


def test_state_without_latch_is_dumps() -> None:
    encoder = StateEncoder()
    state = {"t": 5, "off": []}
    assert encoder.encode("r1", state) == dumps(state)
