"""The outgoing-webhook durability check: ``tripwire replay`` with two ``[[webhooks_out]]`` (Tripwire's format
and Alertmanager's) to a receiver on 127.0.0.1, SIGKILLed at random points and restarted on the same
database, must leave the receiver with every alert event exactly once by ``Idempotency-Key``, each a body
an uninterrupted run also delivered, and every request correctly signed.

The receiver checks each request as docs/webhooks.md tells receivers to, written out here with hashlib and
hmac rather than with Tripwire's own helper: the timestamp header is fresh, and the signature is the hex
HMAC-SHA256 of ``"<timestamp>." + body`` under the hook's secret. A third of the kills land inside the
receiver's handling of a request, after it has taken the event and before its answer leaves: the crash
that makes the bot send that event again, which the idempotency key lets the receiver recognise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[3]
START = "2026-01-13T00:00Z"
END = "2026-01-21T00:00Z"
PACE = 0.03
SECRETS = {"tripwire": "synthetic-test-secret-tripwire", "alertmanager": "synthetic-test-secret-am"}
TOLERANCE_S = 300


@dataclass
class Received:
    """What the receiver saw: every request, the verified ones by key, the refused ones."""

    requests: int = 0
    bad_signatures: int = 0
    # hook name -> idempotency key -> bodies received under that key (one per delivery)
    bodies: dict[str, dict[str, list[bytes]]] = field(default_factory=dict)

    def keys(self, hook: str) -> set[str]:
        """Return the distinct idempotency keys a hook received."""
        return set(self.bodies.get(hook, {}))

    def deliveries(self, hook: str) -> int:
        """Return how many verified requests a hook received (re-sends included)."""
        return sum(len(b) for b in self.bodies.get(hook, {}).values())

    def events(self, hook: str) -> Counter[str]:
        """Return the events a hook received once each by key, as their bodies (content, ids left out)."""
        return Counter(_content(bodies[0]) for bodies in self.bodies.get(hook, {}).values())


def _content(body: bytes) -> str:
    """Return a body without the ids an interrupted run's database may number otherwise."""
    data = json.loads(body)
    for name in ("id", "event_id", "fired_event_id"):
        data.pop(name, None)
    values = data.get("values")
    if isinstance(values, dict):
        values.pop("fired_event_id", None)
    return json.dumps(data, sort_keys=True)


def _resolved(body: bytes) -> bool:
    """Tell whether a body (either format) is a resolved event."""
    data = json.loads(body)
    return bool(data.get("state", data.get("status")) == "resolved")


def verified(secret: str, headers: Any, body: bytes, now_s: float) -> bool:
    """Check a delivery the way docs/webhooks.md shows a receiver doing it."""
    timestamp = headers.get("Tripwire-Timestamp", "")
    fields = dict(p.split("=", 1) for p in headers.get("Tripwire-Signature", "").split(",") if "=" in p)
    if not timestamp.isdigit() or fields.get("t") != timestamp or abs(now_s - int(timestamp)) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class Receiver:
    """An HTTP receiver on 127.0.0.1 for both hooks; may SIGKILL the sender inside a request."""

    def __init__(self) -> None:
        self.received = Received()
        self.kill_pid: int | None = None
        self.killed = asyncio.Event()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        hook = request.match_info["hook"]
        body = await request.read()
        self.received.requests += 1
        if not verified(SECRETS[hook], request.headers, body, time.time()):
            self.received.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers["Idempotency-Key"]
        self.received.bodies.setdefault(hook, {}).setdefault(key, []).append(body)
        if self.kill_pid is not None:
            # Taken, and the sender dies before it hears so: it will send this event again.
            os.kill(self.kill_pid, signal.SIGKILL)
            self.kill_pid = None
            self.killed.set()
        return web.json_response({"ok": True})

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        app = web.Application()
        app.router.add_post("/hook/{hook}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        try:
            yield self
        finally:
            await runner.cleanup()


def write_config(directory: Path, port: int) -> Path:
    """Write config.example.toml plus the two hooks to the receiver; return its path."""
    hooks = "".join(
        f'\n[[webhooks_out]]\nname = "{fmt}"\nurl = "http://127.0.0.1:{port}/hook/{fmt}"\n'
        f'format = "{fmt}"\nsecret_env = "TRIPWIRE_TEST_HOOK_{fmt.upper()}"\ntimeout_seconds = 5\n'
        for fmt in SECRETS
    )
    path = directory / f"hooks-{port}.toml"
    path.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8") + hooks, encoding="utf-8")
    return path


class Runner:
    """Start ``tripwire replay`` processes against one receiver and database."""

    def __init__(self, directory: Path, config: Path, db: Path) -> None:
        self.directory = directory
        self.config = config
        self.db = db
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **{f"TRIPWIRE_TEST_HOOK_{fmt.upper()}": secret for fmt, secret in SECRETS.items()},
        }

    async def start(self, pace: float) -> asyncio.subprocess.Process:
        """Start one replay run."""
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "-q", "replay", "--config", str(self.config), "--db", str(self.db),
            "--from", START, "--to", END, "--format", "jsonl", "--pace", str(pace),
            cwd=self.directory, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def complete(self) -> None:
        """Run the replay to its end at full speed; fail with its stderr if it does not exit 0."""
        process = await self.start(0.0)
        _, err = await asyncio.wait_for(process.communicate(), 120)
        if process.returncode != 0:
            raise AssertionError(f"replay exited {process.returncode}: {err.decode()[-2000:]}")


@dataclass
class Outcome:
    """What one comparison found."""

    kills: int = 0
    kills_in_a_request: int = 0
    requests: int = 0
    bad_signatures: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    distinct_keys: dict[str, int] = field(default_factory=dict)
    resent: dict[str, int] = field(default_factory=dict)
    queued_events: dict[str, int] = field(default_factory=dict)
    baseline_events: dict[str, int] = field(default_factory=dict)
    resolved_events: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    differing_resends: list[str] = field(default_factory=list)
    undelivered_rows: int = 0


async def kill_at_random(receiver: Receiver, runner: Runner, kills: int, rng: random.Random) -> int:
    """Start the replay and SIGKILL it ``kills`` times; return how many kills landed inside a request."""
    inside = 0
    for done in range(kills):
        process = await runner.start(PACE)
        if done % 3 == 0:
            receiver.killed.clear()
            receiver.kill_pid = process.pid
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.killed.wait(), 10)
            receiver.kill_pid = None
            inside += 1 if receiver.killed.is_set() else 0
        else:
            await asyncio.sleep(rng.uniform(0.1, 1.5))
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
        assert process.stderr is not None
        err = await process.stderr.read()
        if process.returncode == 0:
            raise AssertionError(f"the replay ended before kill {done + 1}; make it longer or slower")
        if process.returncode != -signal.SIGKILL:
            raise AssertionError(f"replay exited {process.returncode}: {err.decode()[-2000:]}")
    return inside


def _queued(db: Path) -> tuple[dict[str, set[str]], int]:
    """Return each hook's idempotency keys queued in the database, and rows not delivered."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT target, event_id, status FROM outbox WHERE sink = 'webhook'").fetchall()
    keys: dict[str, set[str]] = {}
    for target, event_id, _ in rows:
        keys.setdefault(target, set()).add(f"tripwire-event-{event_id}")
    return keys, sum(1 for *_, status in rows if status != "delivered")


async def run_webhook_durability(directory: Path, kills: int, *, seed: int = 1) -> Outcome:
    """Compare an uninterrupted replay's deliveries with those of a replay killed ``kills`` times."""
    rng = random.Random(seed)
    outcome = Outcome()
    async with Receiver().serving() as baseline:
        await Runner(directory, write_config(directory, baseline.port), directory / "baseline.db").complete()
    async with Receiver().serving() as receiver:
        runner = Runner(directory, write_config(directory, receiver.port), directory / "killed.db")
        outcome.kills_in_a_request = await kill_at_random(receiver, runner, kills, rng)
        outcome.kills = kills
        await runner.complete()
    queued, outcome.undelivered_rows = _queued(directory / "killed.db")
    got = receiver.received
    outcome.requests = got.requests + baseline.received.requests
    outcome.bad_signatures = got.bad_signatures + baseline.received.bad_signatures
    for hook in SECRETS:
        outcome.deliveries[hook] = got.deliveries(hook)
        outcome.distinct_keys[hook] = len(got.keys(hook))
        outcome.resent[hook] = got.deliveries(hook) - len(got.keys(hook))
        outcome.queued_events[hook] = len(queued.get(hook, set()))
        outcome.baseline_events[hook] = len(baseline.received.keys(hook))
        outcome.resolved_events[hook] = sum(
            1 for bodies in got.bodies.get(hook, {}).values() if _resolved(bodies[0])
        )
        outcome.lost += [f"{hook}: {k}" for k in sorted(queued.get(hook, set()) - got.keys(hook))]
        outcome.extra += [f"{hook}: {k}" for k in sorted(got.keys(hook) - queued.get(hook, set()))]
        want, have = baseline.received.events(hook), got.events(hook)
        outcome.lost += [f"{hook}: {c[:120]}" for c in (want - have).elements()]
        outcome.extra += [f"{hook}: {c[:120]}" for c in (have - want).elements()]
        for key, bodies in got.bodies.get(hook, {}).items():
            if len(set(bodies)) != 1:
                outcome.differing_resends.append(f"{hook}: {key}")
    return outcome
