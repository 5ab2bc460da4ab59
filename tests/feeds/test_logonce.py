"""Log once per interval: first failure, periodic summary, recovery, redaction."""

from __future__ import annotations

import logging

import pytest

from feeds.logonce import FailureLog, redact
from tests.feeds.conftest import ManualClock


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_first_failure_then_one_summary_per_interval_then_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock()
    log = FailureLog(logging.getLogger("t"), clock, interval_s=60)
    assert log.failure("binance_spot", "timeout: no answer")
    for _ in range(29):  # every 2 s for a minute: nothing more is written
        clock.advance(2)
        assert not log.failure("binance_spot", "timeout: no answer")
    clock.advance(2)
    assert log.failure("binance_spot", "server: HTTP 503")
    assert log.success("binance_spot") and not log.success("binance_spot")
    lines = _messages(caplog)
    assert len(lines) == 3
    assert lines[0] == "binance_spot: timeout: no answer"
    assert "still failing: 30 more failures in the last 60s (31 since" in lines[1] and "HTTP 503" in lines[1]
    assert lines[2].startswith("binance_spot: recovered after 31 failures over 60s")


def test_keys_are_independent_and_once_is_once(caplog: pytest.LogCaptureFixture) -> None:
    log = FailureLog(logging.getLogger("t"), ManualClock(), interval_s=60)
    assert log.failure("a", "x") and log.failure("b", "x") and not log.failure("a", "x")
    assert log.once("451", "switched to %s", "coinbase") and not log.once("451", "switched to %s", "coinbase")
    assert _messages(caplog).count("switched to coinbase") == 1


def test_skipped_items_are_counted_not_listed(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    log = FailureLog(logging.getLogger("t"), clock, interval_s=60)
    assert not log.skipped("k", [])
    assert log.skipped("k", ["missing field 'S'"] * 3)
    assert not log.skipped("k", ["bad"] * 100)
    clock.advance(61)
    assert log.skipped("k", ["last reason"])
    lines = _messages(caplog)
    assert lines[0] == "k: skipped 3 bad item(s), keeping the rest: missing field 'S'"
    assert "skipped 101 more bad item(s) in the last 61s (104 since" in lines[1] and "last reason" in lines[1]


def test_query_strings_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    secret = "https://discord.com/api/webhooks/1/abc?token=SECRET&x=1 failed; wss://h/ws?listenKey=SECRET2"
    assert "SECRET" not in redact(secret) and "https://discord.com/api/webhooks/1/abc?…" in redact(secret)
    log = FailureLog(logging.getLogger("t"), ManualClock())
    log.failure("k", secret)
    assert "SECRET" not in caplog.text
    assert len(redact("x" * 1000)) == 300
