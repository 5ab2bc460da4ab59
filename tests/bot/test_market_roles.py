"""The market role on real PostgreSQL: two ``tripwire run --role market`` processes, the leader killed with
SIGKILL while the bundled scenario's price path streams through the exchange emulator; the standby leads
within 10 s and resumes from the stored state, and every alert is written once (tests/bot/roles_support.py
says what the path is). Also: the role refuses SQLite, and a leader whose lease is gone commits nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web

from bot.__main__ import build_parser
from bot.app import App, Parts
from bot.config import Secrets, parse_config
from bot.errors import UserError
from bot.liqfeed.settings import LiqFeedService
from bot.ops.leadership import EXIT_LEASE_LOST, LEASE_NAME, Leadership, LeaseLost
from bot.roles.market import MarketRole
from storage.db import open_database
from storage.lease import AdvisoryLease, lease_key
from storage.postgres import PgConnection
from storage.repo import Repo
from tests.bot.roles_support import Process, market_config, price_path, write_config
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.helpers import wait_for
from tests.pg import server_url

# Wall seconds between two prices of the path: a few kline pushes (0.25 s each), so the leader sees each.
STEP_S = 0.6
# The lease is tried (and checked) this often; the Done-when bound on a takeover is 10 s.
POLL_S = 0.5
TAKEOVER_BOUND_S = 10.0
# What the standby logs when it takes the lease, and once it is ready (stderr is line-buffered).
MARKERS = ("market role: leading", "ready in")


def firing_events(pg_url: str) -> list[tuple[str, int, int]]:
    """Return (rule_id, recorded_at, outbox rows) of every firing alert event, oldest first."""
    with psycopg.connect(pg_url) as conn:
        return [
            (str(rule), int(at), int(rows))
            for rule, at, rows in conn.execute(
                "SELECT e.rule_id, e.recorded_at, (SELECT count(*) FROM outbox o WHERE o.event_id = e.id)"
                " FROM alert_events e WHERE e.state = 'firing' ORDER BY e.id"
            )
        ]


async def test_the_standby_leads_within_10_s_of_a_kill_and_every_alert_is_written_once(
    make_emulator: EmulatorFactory, pg_url: str, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now", kline_push_s=0.25)
    path = price_path(emu)
    config = write_config(tmp_path / "market.toml", market_config(emu, pg_url, path.levels, POLL_S))
    args = ["run", "--role", "market", "--config", str(config)]
    first = Process("market-1", args, tmp_path / "market-1.log").start(tmp_path)
    second = Process("market-2", args, tmp_path / "market-2.log")
    try:
        await wait_for(lambda: first.logged("ready in"), within=30, what="the first market process to lead")
        second.start(tmp_path)
        await wait_for(lambda: second.logged("standing by"), within=30, what="a standby")
        # The leader's kline stream is subscribed and has carried a price under every level.
        await wait_for(
            lambda: any(c.subscriptions for c in emu.ws_connections("binance-spot")), within=20, what="klines"
        )
        await asyncio.sleep(1.0)
        killed_at = killed_wall = 0.0
        before_kill = 0
        seen: dict[str, asyncio.Task[float]] = {}
        for price in path.prices:
            emu.binance.klines.script_price("BTCUSDT", price)
            await asyncio.sleep(STEP_S)
            if not killed_at and len(firing_events(pg_url)) >= 4:
                # Mid-stream: some levels fired, the rest are still ahead of the price.
                os.kill(first.popen.pid, signal.SIGKILL)
                killed_at, killed_wall = time.monotonic(), time.time()
                before_kill = len(firing_events(pg_url))
                seen = {marker: asyncio.create_task(_seen(second, marker)) for marker in MARKERS}
        assert killed_at, "the path ended before four alerts fired"
        leads_s, ready_s = [await seen[marker] - killed_at for marker in MARKERS]
        await wait_for(
            lambda: len(firing_events(pg_url)) >= len(path.levels), within=20, what="every level's alert"
        )
        await asyncio.sleep(3 * POLL_S + 1.0)  # time for a repeat, were one coming
        events = firing_events(pg_url)
        # Each level fired once, none twice, with one outbox row each (one route).
        assert sorted(rule for rule, _, _ in events) == [f"level-{i:02d}" for i in range(len(path.levels))]
        assert all(rows == 1 for _, _, rows in events), events
        after_kill = [at for _, at, _ in events if at > killed_wall * 1000]
        assert 0 < before_kill == len(events) - len(after_kill) < len(events), (before_kill, events)
        assert first.popen.wait(timeout=5) == -signal.SIGKILL
        print(
            f"takeover: after the leader's SIGKILL the standby held the lease in {leads_s:.2f} s and was"
            f" ready (history, rules and state read) in {ready_s:.2f} s, the lease polled every {POLL_S} s;"
            f" {len(events)} alerts, {before_kill} written by the first leader and {len(after_kill)} by the"
            f" second, each once with one outbox row; {len(path.prices)} prices streamed {STEP_S} s apart"
        )
        assert ready_s <= TAKEOVER_BOUND_S, ready_s
    finally:
        for process in (first, second):
            if process.popen is not None and process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in (first, second):
            if process.popen is not None:
                code = process.popen.wait(timeout=30)
                assert code in (0, -signal.SIGKILL), f"{process.name} exited {code}:\n{process.text()}"


async def _seen(process: Process, marker: str) -> float:
    """Return the monotonic time ``process`` is first seen to have logged ``marker`` (polled every 5 ms)."""
    await wait_for(
        lambda: process.logged(marker), within=TAKEOVER_BOUND_S + 5, what=f"{process.name}: {marker}"
    )
    return time.monotonic()


def test_the_market_role_refuses_sqlite_with_directions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "t.toml"
    config.write_text(f'symbols = ["BTCUSDT"]\n[storage]\npath = "{tmp_path / "t.db"}"\n')
    args = build_parser().parse_args(["run", "--role", "market", "--config", str(config)])
    with pytest.raises(UserError) as refused:
        args.handler(args)  # `tripwire` prints it and exits 2 (bot.__main__)
    assert "--role market needs PostgreSQL" in str(refused.value) and 'url = "postgresql://' in str(
        refused.value
    )
    assert not (tmp_path / "t.db").exists()  # refused before anything was opened


def test_a_leader_whose_lease_is_gone_commits_nothing_more(pg_url: str) -> None:
    repo = Repo(open_database(pg_url))
    leadership = Leadership.for_url(pg_url, 0.5)
    assert leadership.lease.try_acquire()
    repo.fence = leadership.fence
    with repo.transaction():
        repo.conn.execute("INSERT INTO fear_greed (date, ts, value) VALUES ('2026-01-14', 0, 48)")
    # The lease's session ends (its connection dropped, the server terminated it): a standby may lead now.
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (leadership.lease.backend_pid(),))
    with pytest.raises(LeaseLost), repo.transaction():
        repo.conn.execute("UPDATE fear_greed SET value = 61 WHERE date = '2026-01-14'")
    assert leadership.lost
    assert repo.conn.execute("SELECT value FROM fear_greed").fetchall() == [(48,)]
    repo.close()


def test_the_lease_session_asks_the_server_for_short_keepalives(pg_url: str) -> None:
    leadership = Leadership.for_url(pg_url, 0.5)
    assert leadership.lease.try_acquire()
    conn = leadership.lease._connection()
    assert conn.execute("SHOW tcp_keepalives_idle").fetchone() == ("3",)  # seconds; the server default is 2 h
    leadership.release()


def test_the_repositorys_session_asks_for_short_keepalives_too(pg_url: str) -> None:
    # A leader whose host vanished inside a transaction keeps its row locks until the server drops its
    # session: with the system's default keepalive, two hours of the new leader's writes waiting on them.
    repo = Repo(open_database(pg_url))
    assert repo.conn.execute("SHOW tcp_keepalives_idle").fetchone() == ("3",)
    repo.close()


async def test_a_leader_whose_lease_session_is_terminated_stops_with_exit_3(
    make_emulator: EmulatorFactory, pg_url: str, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    path = price_path(emu)
    config = write_config(tmp_path / "market.toml", market_config(emu, pg_url, path.levels, POLL_S))
    leader = Process("market-1", ["run", "--role", "market", "--config", str(config)], tmp_path / "m.log")
    leader.start(tmp_path)
    try:
        await wait_for(lambda: leader.logged("ready in"), within=30, what="the market process to lead")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            (schema,) = admin.execute("SELECT current_schema()").fetchone() or ("",)
            key = lease_key(str(schema), LEASE_NAME)
            # The server ends the lease's session (as when the leader's connection drops): the lock goes.
            (terminated,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s",
                (key,),
            ).fetchone() or (0,)
        assert terminated == 1
        await wait_for(
            lambda: leader.popen.poll() is not None, within=TAKEOVER_BOUND_S, what="the leader to stop"
        )
        assert leader.popen.returncode == EXIT_LEASE_LOST, leader.text()
        assert "the lease is lost" in leader.text()
    finally:
        if leader.popen.poll() is None:
            leader.popen.kill()
            leader.popen.wait(timeout=10)


@dataclass
class Leading:
    """A market role running in this process, once it leads (its app is ready), and the task running it."""

    role: MarketRole
    running: asyncio.Task[int]

    @property
    def parts(self) -> Parts:
        """Return the leading app's parts."""
        assert self.role.app is not None and self.role.app.parts is not None
        return self.role.app.parts


@pytest.fixture
async def leading(make_emulator: EmulatorFactory, pg_url: str) -> AsyncIterator[Leading]:
    """Run a market role in this process until it leads; stop it after the test if it still runs."""
    emu = await make_emulator(shift_to="now")
    config = parse_config(market_config(emu, pg_url, price_path(emu).levels, POLL_S))
    role = MarketRole(config, Secrets(), install_signals=False)
    running = asyncio.create_task(role.run())
    try:
        await wait_for(lambda: role.app is not None and role.app.ready.is_set(), within=20, what="leading")
        yield Leading(role, running)
    finally:
        if not running.done():
            role.shutdown.request("test")
            await asyncio.wait_for(running, 30)


async def test_the_market_engine_hears_a_rule_another_process_changes(leading: Leading, pg_url: str) -> None:
    engine = leading.parts.engine
    assert "level-00" in {rule.row.id for rule in engine.rules()}
    # A Discord cluster pauses the rule (/alert pause): another connection, another process's write.
    other = Repo(open_database(pg_url))
    other.set_rule_enabled("level-00", False, "paused by a member", int(time.time() * 1000))
    other.close()
    await wait_for(
        lambda: "level-00" not in {rule.row.id for rule in engine.rules()}, within=5, what="the engine"
    )
    leading.role.shutdown.request("test")
    assert await asyncio.wait_for(leading.running, 30) == 0


async def test_a_leader_that_loses_its_own_database_connection_gives_the_lead_away(
    leading: Leading, pg_url: str
) -> None:
    repo_conn = leading.parts.repo.conn
    assert isinstance(repo_conn, PgConnection)
    # The server ends the repository's session; the lease's own session is untouched.
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (repo_conn.raw.info.backend_pid,))
    assert await asyncio.wait_for(leading.running, TAKEOVER_BOUND_S + 20) == EXIT_LEASE_LOST
    standby = AdvisoryLease(pg_url, LEASE_NAME)
    assert standby.try_acquire()  # given back: a standby leads at its next try
    standby.release()


async def test_a_leader_whose_lease_is_gone_sends_no_more_webhooks(
    make_emulator: EmulatorFactory, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.Response(status=204)

    site = web.Application()
    site.router.add_post("/hook", hook)
    runner = web.AppRunner(site, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    monkeypatch.setenv("TRIPWIRE_TEST_HOOK_SECRET", "synthetic-test-secret")
    emu = await make_emulator(shift_to="now")
    config = parse_config(
        market_config(emu, pg_url, price_path(emu).levels, POLL_S)
        | {
            "webhooks_out": [
                {
                    "name": "ops",
                    "url": f"http://127.0.0.1:{runner.addresses[0][1]}/hook",
                    "secret_env": "TRIPWIRE_TEST_HOOK_SECRET",
                }
            ]
        }
    )
    role = MarketRole(config, Secrets(), install_signals=False)
    running = asyncio.create_task(role.run())
    other = Repo(open_database(pg_url))
    # An engine payload as the outbox holds it (synthetic values, tests/bot/notify/test_webhooks.py's shape).
    payload = {
        "event_id": 7, "state": "firing", "rule_id": "level-00", "detector": "level_cross",
        "symbol": "BTCUSDT", "kind": "level_cross", "severity": "warning", "title": "synthetic",
        "values": {"level": 1}, "at": int(time.time() * 1000), "late": False, "direction": "up",
        "note": None, "stateful": False, "guild_id": None, "role_id": None, "parent_event_id": None,
    }  # fmt: skip

    def queue(at: int) -> None:
        now = int(time.time() * 1000)
        with other.transaction():
            event_id = other.insert_event(
                dedupe_key="level-00", rule_id="level-00", detector="level_cross", symbol="BTCUSDT",
                guild_id=None, state="firing", kind="level_cross", severity="warning", title="synthetic",
                values={"level": 1}, rule={}, at=at, recorded_at=now,
            )  # fmt: skip
            other.enqueue(
                event_id=event_id, sink="webhook", target="ops", kind="alert",
                payload={**payload, "event_id": event_id, "at": at}, now=now,
            )  # fmt: skip

    try:
        await wait_for(lambda: role.app is not None and role.app.ready.is_set(), within=20, what="leading")
        queue(1)
        await wait_for(lambda: len(seen) == 1, within=5, what="the leader's webhook")
        await wait_for(lambda: other.outbox_depth("webhook") == 0, within=5, what="it recorded as sent")
        # The server ends the lease's session: a standby may lead now and send what is pending.
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (role.leadership.lease.backend_pid(),))
        queue(2)
        assert await asyncio.wait_for(running, TAKEOVER_BOUND_S + 20) == EXIT_LEASE_LOST
        assert len(seen) == 1  # the second row is the next leader's to send
        assert other.outbox_depth("webhook") == 1
    finally:
        other.close()
        if not running.done():
            role.shutdown.request("test")
            await asyncio.wait_for(running, 30)
        await runner.cleanup()


async def test_a_new_leader_ends_the_old_leaders_session_so_its_late_commit_fails(pg_url: str) -> None:
    stop = asyncio.Event()
    old = Leadership.for_url(pg_url, 0.1)
    assert await old.acquire(stop)
    old_repo = Repo(open_database(pg_url))
    old.name_session(old_repo)
    # The old leader is inside its evaluation's transaction, past its fence check, about to COMMIT ...
    old_repo.conn.execute("BEGIN")
    old_repo.enqueue(event_id=None, sink="discord", target="user:7", kind="ops", payload={}, now=1)
    # ... when its lease's session ends (its connection dropped) and a standby takes the lease.
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (old.lease.backend_pid(),))
    new = Leadership.for_url(pg_url, 0.1)
    assert await asyncio.wait_for(new.acquire(stop), 10)
    with pytest.raises(psycopg.OperationalError):
        old_repo.conn.execute("COMMIT")  # too late: the row is not written after the new leader read
    reader = Repo(open_database(pg_url))
    assert reader.outbox_depth() == 0
    # The new leader's own session is named the same, for the leader after it.
    new_repo = Repo(open_database(pg_url))
    new.name_session(new_repo)
    assert new_repo.conn.execute("SHOW application_name").fetchone() == (new.session_name(),)
    for repo in (reader, new_repo):
        repo.close()
    new.release()


async def test_a_liquidation_feed_set_while_the_leader_starts_is_not_missed(
    make_emulator: EmulatorFactory, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = await make_emulator(shift_to="now")
    config = parse_config(market_config(emu, pg_url, price_path(emu).levels, POLL_S))
    listen = App._listen_for_changes

    async def set_before_listening(app: App, *args: Any, **kwargs: Any) -> None:
        # A cluster sets a server's feed after the leader read the feeds and before its LISTEN.
        cluster = Repo(open_database(pg_url))
        LiqFeedService(cluster, ["BTCUSDT"], lambda: int(time.time() * 1000)).set(
            GUILD_ID, 2001, ALERTS_CHANNEL_ID, 250_000.0, symbols="BTC"
        )
        cluster.close()
        await listen(app, *args, **kwargs)

    monkeypatch.setattr(App, "_listen_for_changes", set_before_listening)
    role = MarketRole(config, Secrets(), install_signals=False)
    running = asyncio.create_task(role.run())
    try:
        await wait_for(lambda: role.app is not None and role.app.ready.is_set(), within=20, what="leading")
        assert role.app is not None and role.app.parts is not None and role.app.parts.liqfeed is not None
        assert role.app.parts.liqfeed.guilds() == [GUILD_ID]
    finally:
        role.shutdown.request("test")
        assert await asyncio.wait_for(running, 30) == 0
