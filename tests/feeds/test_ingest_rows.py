"""Row listeners of Ingest: the live large-liquidation feed is handed the new events themselves."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.repo import Repo
from storage.rows import Liquidation

T0 = 1_768_392_000_000  # 2026-01-14 12:00 UTC
LONG = Liquidation("BTCUSDT", T0, "binance", "long", 95_000.0, 2.0, 190_000.0)
SHORT = Liquidation("ETHUSDT", T0 + 5, "bybit", "short", 3_350.0, 100.0, 335_000.0)


def test_row_listeners_get_only_the_new_events(repo: Repo) -> None:
    ingest = Ingest(repo, MarketHistory())
    seen: list[list[Liquidation]] = []
    ingest.subscribe_rows("liquidations", lambda rows: seen.append(list(rows)))

    assert ingest.liquidations([LONG, SHORT]) == 2
    # A websocket replaying its last frame after a reconnect: only the one new event is passed on.
    third = LONG._replace(ts=T0 + 1_000)
    assert ingest.liquidations([SHORT, third]) == 1
    assert ingest.liquidations([LONG, SHORT, third]) == 0

    assert seen == [[LONG, SHORT], [third]]


def test_aggregated_buckets_never_reach_row_listeners(repo: Repo) -> None:
    ingest = Ingest(repo, MarketHistory())
    seen: list[Sequence[Liquidation]] = []
    ingest.subscribe_rows("liquidations", seen.append)
    bucket = Liquidation("BTCUSDT", T0, "coinglass", "short", 0.0, 0.0, 109_000_000.0)
    ingest.liquidation_buckets([bucket])
    assert seen == []


def test_a_failing_row_listener_is_logged_and_the_others_still_run(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    ingest = Ingest(repo, MarketHistory())

    def broken(rows: Sequence[Liquidation]) -> None:
        raise RuntimeError("boom")

    seen: list[Sequence[Liquidation]] = []
    ingest.subscribe_rows("liquidations", broken)
    ingest.subscribe_rows("liquidations", seen.append)
    assert ingest.liquidations([LONG]) == 1
    assert len(seen) == 1 and "liquidation row listener failed for 1 rows" in caplog.text
    # The rows were stored whatever the listener did.
    assert len(repo.liquidations("BTCUSDT", T0, T0 + 1)) == 1


def test_only_liquidations_can_be_subscribed_to(repo: Repo) -> None:
    ingest = Ingest(repo, MarketHistory())
    with pytest.raises(ValueError, match="only 'liquidations'"):
        ingest.subscribe_rows("candles", lambda rows: None)  # type: ignore[arg-type]


def _history_usd(history: MarketHistory, symbol: str) -> float:
    return history.view(symbol, T0 + 3_600_000).liquidations(T0 - 60_000).total_usd


def test_a_repeat_of_any_stored_event_is_dropped_before_the_history_even_after_a_restart(repo: Repo) -> None:
    ingest = Ingest(repo, MarketHistory())
    assert ingest.liquidations([LONG, SHORT]) == 2
    assert ingest.remembered_liquidations == 0  # the database says what is new: no keys kept in memory
    # A restarted bot: the history is warmed up from the database, then a re-poll brings the same events.
    history = MarketHistory()
    restarted = Ingest(repo, history)
    restarted.warm_up(["BTCUSDT", "ETHUSDT"], T0 + 60_000)
    assert _history_usd(history, "BTCUSDT") == LONG.usd
    assert restarted.liquidations([LONG, LONG._replace(ts=T0 + 7)]) == 1
    assert _history_usd(history, "BTCUSDT") == 2 * LONG.usd  # the repeat was not counted twice


def test_a_row_the_database_refuses_never_reaches_the_history(repo: Repo) -> None:
    history = MarketHistory()
    ingest = Ingest(repo, history)
    broken = LONG._replace(ts=T0 + 9, usd=float("nan"))
    assert ingest.liquidations([broken, SHORT, SHORT]) == 1
    assert _history_usd(history, "BTCUSDT") == 0.0 and _history_usd(history, "ETHUSDT") == SHORT.usd


def test_deferred_writes_drop_repeats_by_their_recent_keys(repo: Repo) -> None:
    history = MarketHistory()
    ingest = Ingest(repo, history, defer_writes=True)
    assert ingest.liquidations([LONG, SHORT]) == 2
    assert ingest.liquidations([LONG, SHORT._replace(ts=T0 + 6)]) == 1  # two recorded files, one event
    assert ingest.remembered_liquidations == 3
    assert repo.liquidations("BTCUSDT", 0, 2**62) == []  # not written yet
    with repo.transaction():
        ingest.flush()
    assert len(repo.liquidations("ETHUSDT", 0, 2**62)) == 2
    assert _history_usd(history, "BTCUSDT") == LONG.usd
