"""The feed watchdog: debounced stale/back reports into every ops channel's outbox, once per real change,
across flapping and restarts."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.ops.watchdog import FeedChange, FeedWatchdog, watch, watch_rejections
from feeds.health import HealthRegistry
from storage.repo import GuildSettingsRow, OutboxRow, Repo

T0 = 1_768_345_200_000  # 2026-01-13 23:00 UTC
S = 1000
DEBOUNCE = 120 * S
CONFIG_OPS = 900


def change(new: str, at: int, name: str = "binance_futures", old: str | None = None) -> FeedChange:
    """Return a state change of a feed, with the details the registry gives."""
    return FeedChange(name, old, new, at, last_success=T0 - 300 * S, lag_ms=300 * S, error="HTTP 503")


def reports(repo: Repo) -> list[OutboxRow]:
    """Return the ops rows queued, oldest first."""
    return [r for r in repo.due_outbox("discord", 2**62) if r.kind == "ops"]


def said(repo: Repo) -> list[tuple[str, str]]:
    """Return (feed, state) of each report, once per report (not per channel)."""
    seen: list[tuple[str, str]] = []
    for row in reports(repo):
        item = (row.payload["feed"], row.payload["feed_state"])
        if not seen or seen[-1] != item:
            seen.append(item)
    return seen


def guild(repo: Repo, guild_id: int, ops: int | None) -> None:
    """Store a guild's settings with this ops channel."""
    repo.save_guild_settings(GuildSettingsRow(guild_id, None, ops, {}, T0))


@pytest.fixture
def watchdog(repo: Repo) -> FeedWatchdog:
    guild(repo, 1, 101)
    return FeedWatchdog(repo, lambda: T0, debounce_ms=DEBOUNCE, ops_channel_id=CONFIG_OPS)


def test_a_stale_feed_is_reported_once_to_every_ops_channel_after_the_debounce(
    repo: Repo, watchdog: FeedWatchdog
) -> None:
    guild(repo, 2, 102)
    guild(repo, 3, None)  # no ops channel of its own: the config's
    watchdog.on_change(change("stale", T0, old="ok"))
    assert watchdog.check(T0 + DEBOUNCE - 1) == []
    queued = watchdog.check(T0 + DEBOUNCE)
    assert watchdog.check(T0 + 10 * DEBOUNCE) == []  # still stale: nothing more to say
    rows = reports(repo)
    assert [r.id for r in rows] == queued
    assert {(r.target, r.payload["guild_id"]) for r in rows} == {
        ("channel:101", 1),
        ("channel:102", 2),
        (f"channel:{CONFIG_OPS}", None),
    }
    payload = rows[0].payload
    assert payload["title"] == "Feed binance_futures is stale" and payload["severity"] == "warning"
    assert payload["text"] == (
        f"No fresh data from `binance_futures` since <t:{(T0 - 300 * S) // 1000}:R>"
        " (its newest data is 5m old). Last error: HTTP 503. Alerts computed from its data are held back"
        " until it recovers."
    )


def test_a_flapping_feed_is_reported_stale_once_and_back_once(repo: Repo, watchdog: FeedWatchdog) -> None:
    at = T0
    for _ in range(5):  # stale and ok again within the debounce, five times: nothing to report yet
        watchdog.on_change(change("stale", at))
        watchdog.check(at + 30 * S)
        watchdog.on_change(change("ok", at + 60 * S))
        watchdog.check(at + 90 * S)
        at += 100 * S
    assert reports(repo) == []
    watchdog.on_change(change("stale", at))
    watchdog.check(at + DEBOUNCE)
    for flap in range(4):  # flapping while it is down changes nothing that was said
        watchdog.on_change(change("ok", at + DEBOUNCE + flap * 60 * S))
        watchdog.on_change(change("stale", at + DEBOUNCE + flap * 60 * S + 30 * S))
        watchdog.check(at + DEBOUNCE + flap * 60 * S + 59 * S)
    back = at + 10 * DEBOUNCE
    watchdog.on_change(change("degraded", back))  # degraded data is fresh data
    watchdog.on_change(change("ok", back + 10 * S))
    watchdog.check(back + DEBOUNCE - 1)
    assert said(repo) == [("binance_futures", "stale")]
    watchdog.check(back + DEBOUNCE)
    watchdog.check(back + 5 * DEBOUNCE)
    assert said(repo) == [("binance_futures", "stale"), ("binance_futures", "fresh")]
    text = reports(repo)[-1].payload["text"]
    assert text == (
        "`binance_futures` is ok again after 20m without fresh data. Alerts held back meanwhile are "
        "evaluated on current data again."
    )


def test_a_feed_that_was_never_reported_stale_needs_no_back_report(
    repo: Repo, watchdog: FeedWatchdog
) -> None:
    watchdog.on_change(change("stale", T0))  # the first check after a start: "no success yet"
    watchdog.on_change(change("ok", T0 + 5 * S))
    watchdog.on_change(change("degraded", T0 + 10 * DEBOUNCE, name="bybit"))
    assert watchdog.check(T0 + 20 * DEBOUNCE) == [] and reports(repo) == []


def test_a_restart_neither_repeats_a_report_nor_forgets_to_say_back(
    repo: Repo, watchdog: FeedWatchdog
) -> None:
    watchdog.on_change(change("stale", T0))
    watchdog.check(T0 + DEBOUNCE)
    restarted = FeedWatchdog(repo, lambda: T0, debounce_ms=DEBOUNCE, ops_channel_id=CONFIG_OPS)
    restarted.on_change(change("stale", T0 + 5 * DEBOUNCE))  # the new registry's first check
    restarted.check(T0 + 7 * DEBOUNCE)
    restarted.on_change(change("ok", T0 + 8 * DEBOUNCE))
    restarted.check(T0 + 9 * DEBOUNCE)
    assert said(repo) == [("binance_futures", "stale"), ("binance_futures", "fresh")]
    # How long it was down is unknown to the new process; it does not make it up.
    assert reports(repo)[-1].payload["text"].startswith("`binance_futures` is ok again. Alerts held back")


def test_a_feed_that_keeps_falling_over_needs_longer_each_time_to_count_as_back(
    repo: Repo, watchdog: FeedWatchdog
) -> None:
    # Down 3 minutes, up 3 minutes, for an hour: each spell outlasts the 2-minute debounce.
    at = T0
    while at < T0 + 3_600 * S:
        watchdog.on_change(change("stale", at))
        for tick in range(0, 360, 10):
            if tick == 180:
                watchdog.on_change(change("ok", at + tick * S))
            watchdog.check(at + tick * S)
        at += 360 * S
    states = [state for _, state in said(repo)]
    # Without the doubling that is 20 reports. With it, after its second outage "back" needs 4 minutes of
    # fresh data, longer than the feed ever stays up: it is left reported stale until it really recovers.
    assert states == ["stale", "fresh", "stale"]


def test_without_any_ops_channel_the_change_is_logged(repo: Repo, caplog: pytest.LogCaptureFixture) -> None:
    watchdog = FeedWatchdog(repo, lambda: T0, debounce_ms=0)
    watchdog.on_change(change("stale", T0))
    with caplog.at_level(logging.WARNING, logger="bot.ops.watchdog"):
        assert watchdog.check(T0) == []
    assert "Feed binance_futures is stale" in caplog.text and "no ops channel" in caplog.text


def test_the_registry_of_the_feeds_drives_the_watchdog(repo: Repo, watchdog: FeedWatchdog) -> None:
    clock = [T0]
    registry = HealthRegistry(lambda: clock[0])
    futures = registry.register("binance_futures", ["liquidations"], None, stale_after_s=60)
    watch(registry, watchdog)
    futures.success(T0)
    registry.check()
    clock[0] = T0 + 61 * S
    futures.failure("connection refused")
    registry.check()
    watchdog.check(T0 + 61 * S + DEBOUNCE)
    clock[0] = T0 + 400 * S
    futures.success(T0 + 400 * S)
    registry.check()
    watchdog.check(T0 + 400 * S + DEBOUNCE)
    assert said(repo) == [("binance_futures", "stale"), ("binance_futures", "fresh")]
    assert "Last error: connection refused" in reports(repo)[0].payload["text"]


async def test_the_watchdog_checks_on_a_timer_and_wakes_delivery_until_stopped(repo: Repo) -> None:
    woken: list[int] = []
    now = [T0]
    watchdog = FeedWatchdog(
        repo,
        lambda: now[0],
        debounce_ms=DEBOUNCE,
        ops_channel_id=CONFIG_OPS,
        on_queued=lambda: woken.append(1),
    )
    stop = asyncio.Event()
    before = asyncio.all_tasks()
    running = asyncio.create_task(watchdog.run(stop, interval_s=0.01))
    watchdog.on_change(change("stale", T0))
    await asyncio.sleep(0.05)
    assert reports(repo) == [] and woken == []
    now[0] = T0 + DEBOUNCE
    for _ in range(100):
        await asyncio.sleep(0.01)
        if woken:
            break
    stop.set()
    await asyncio.wait_for(running, 1)
    assert woken == [1] and said(repo) == [("binance_futures", "stale")] and watchdog.reports == 1
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()


def test_a_refused_symbol_is_reported_once_ever_to_every_ops_channel(
    repo: Repo, watchdog: FeedWatchdog
) -> None:
    registry = HealthRegistry(lambda: T0)
    watch_rejections(registry.rejections, watchdog)
    registry.rejections.reject("binance", "NOPEUSDT", "HTTP 400 (Invalid symbol.)")
    registry.rejections.reject("binance", "NOPEUSDT", "HTTP 400 (Invalid symbol.)")  # the same: not again
    assert said(repo) == [("binance:NOPEUSDT", "refused")]
    assert {r.target for r in reports(repo)} == {"channel:101", f"channel:{CONFIG_OPS}"}
    payload = reports(repo)[0].payload
    assert payload["title"] == "binance does not list NOPEUSDT"
    assert "Invalid symbol." in payload["text"] and "every other symbol" in payload["text"]
    # After a restart the registry is new, but the outbox remembers it was said.
    again = HealthRegistry(lambda: T0)
    watch_rejections(again.rejections, watchdog)
    again.rejections.reject("binance", "NOPEUSDT", "HTTP 400 (Invalid symbol.)")
    assert len(reports(repo)) == 2
