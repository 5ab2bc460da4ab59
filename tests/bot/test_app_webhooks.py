"""Webhooks in, end to end: the running app takes TradingView-shaped alerts on its web server and posts
them to the Discord emulator through the same silences, grouping and history as every other alert; a bad
secret, a malformed body and a flood are each refused the way docs/webhooks.md says."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App
from bot.config import Secrets
from storage.repo import Repo
from tests.bot.discord.support import bot_messages
from tests.bot.test_app import free_port, live_config, on_emulator, scrape
from tests.conftest import ROOT
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID
from tests.emulators.exchanges.fixtures import EmulatorFactory

DATA = ROOT / "tests" / "data" / "tradingview"


def tradingview_fill(template: str, values: dict[str, str]) -> str:
    """Fill ``{{placeholders}}`` the way TradingView does: plain text substitution."""
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    return template


@contextlib.asynccontextmanager
async def running_app(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path, **webhooks_in: Any
) -> AsyncIterator[App]:
    """Start the app with Discord and [webhooks_in] on, its route URLs on its own address."""
    emu = await make_emulator(shift_to="now")
    port = free_port()
    config = live_config(
        emu,
        tmp_path / "live.db",
        ("BTCUSDT", "ETHUSDT"),
        discord=on_emulator(discord_emu),
        http={"enabled": True, "port": port},
        webhooks_in={"enabled": True, "public_url": f"http://127.0.0.1:{port}", **webhooks_in},
    )
    app = App(config, Secrets(), token=discord_emu.config.token, discord_options=client_options())
    await app.start()
    try:
        await discord_emu.wait_until(lambda: discord_emu.commands_synced(GUILD_ID) != [], timeout=10)
        yield app
    finally:
        await app.stop()


async def add_route(discord_emu: DiscordEmulator, name: str = "tv") -> str:
    """Make a route through /webhook add and return the URL it shows once."""
    reply = await discord_emu.slash(
        "webhook add", {"name": name, "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID
    )
    assert reply.ephemeral, reply
    found = re.search(r"```\n(http\S+)\n```", reply.embeds[0]["description"])
    assert found, reply.embeds[0]["description"]
    return found.group(1)


async def post(url: str, body: str | bytes, content_type: str, **headers: str) -> tuple[int, Any, Any]:
    """POST a body as TradingView does; return (status, JSON answer, headers)."""
    data = body.encode() if isinstance(body, str) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers={"Content-Type": content_type, **headers}) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


def repo_of(app: App) -> Repo:
    assert app.parts is not None
    return app.parts.repo


def stored_counts(repo: Repo) -> tuple[int, int]:
    """Return (alert events, outbox rows) stored."""
    events = repo.conn.execute("SELECT COUNT(*) FROM alert_events").fetchone()[0]
    outbox = repo.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return int(events), int(outbox)


async def test_tradingview_alerts_reach_discord_grouped_and_silenced_like_others(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    async with running_app(make_emulator, discord_emu, tmp_path) as app:
        url = await add_route(discord_emu)
        silence = await discord_emu.slash(
            "silence add", {"symbol": "ETHUSDT", "duration": "1h"}, user_id=OWNER_ID
        )
        assert silence.embeds and silence.embeds[0]["title"] == "Silence #1 added", silence
        relay = (DATA / "maxwong3_send_request.json").read_text()
        price = tradingview_fill(
            (DATA / "fhaleen10_price_alert_template.json").read_text(),
            {"ticker": "ETHUSDT", "exchange": "BINANCE", "close": "3380.5"},
        )
        breakout = tradingview_fill(
            (DATA / "fhaleen10_breakout_template.json").read_text(),
            {"ticker": "BTCUSDT", "exchange": "BINANCE", "strategy.order.action": "buy", "close": "97900"},
        )
        answers = [
            await post(url, relay, "application/json"),
            await post(url, price, "application/json"),
            await post(url, "BINANCE:BTCUSDT Crossing 95,000.00", "text/plain; charset=utf-8"),
            await post(url, breakout, "application/json"),
        ]
        assert [status for status, _, _ in answers] == [200] * 4, answers
        assert [a["status"] for _, a, _ in answers] == ["accepted", "silenced", "accepted", "accepted"]
        # Three alerts within the grouping window: one message, edited as each arrived.
        await discord_emu.wait_until(
            lambda: (
                "Crossing" in json.dumps([m.embeds for m in bot_messages(discord_emu, ALERTS_CHANNEL_ID)])
                and "BREAKOUT" in json.dumps([m.embeds for m in bot_messages(discord_emu, ALERTS_CHANNEL_ID)])
            ),
            timeout=15,
        )
        messages = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
        assert len(messages) == 1, [m.embeds for m in messages]
        shown = json.dumps(messages[0].embeds)
        assert "BUY SIGNAL!" in shown and "BINANCE:BTCUSDT Crossing 95,000.00" in shown
        assert "BREAKOUT ALERT" in shown and "3380.5" not in shown  # ETH was silenced
        repo = repo_of(app)
        events = repo.events(since=0, newest_first=False)
        assert [(e.symbol, e.detector, e.silenced_by is not None) for e in events] == [
            ("BTCUSD", "webhook", False),
            ("ETHUSDT", "webhook", True),
            ("BTCUSDT", "webhook", False),
            ("BTCUSDT", "webhook", False),
        ]
        assert events[0].values["close"] == 29600 and events[0].values["route"] == "tv"
        # The relay's own secret field is never stored.
        assert "jhohn" not in json.dumps([e.values for e in events])
        # /why explains a webhook alert like any other.
        why = await discord_emu.slash("why", {"alert_id": f"#{events[0].id}"}, user_id=OWNER_ID)
        assert "BUY SIGNAL!" in json.dumps(why.embeds), why
        listing = await discord_emu.slash("webhook list", user_id=OWNER_ID)
        assert listing.ephemeral and "4 alerts" in listing.embeds[0]["description"]
        assert url.rsplit("/", 1)[1] not in json.dumps(listing.embeds)  # the secret is never shown again


async def test_a_bad_secret_is_refused_with_403_and_nothing_is_stored(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    async with running_app(make_emulator, discord_emu, tmp_path) as app:
        url = await add_route(discord_emu)
        base, secret = url.rsplit("/", 1)
        # The last character changed (a secret ending in "x" would make "…x" the secret itself).
        off_by_one = secret[:-1] + ("y" if secret.endswith("x") else "x")
        before = stored_counts(repo_of(app))
        body = "BTCUSDT Crossing 95,000.00"
        wrong = [
            await post(f"{base}/{off_by_one}", body, "text/plain"),  # one character off
            await post(base, body, "text/plain"),  # no secret at all
            await post(base, body, "text/plain", **{"X-Tripwire-Secret": secret + "x"}),
            await post(f"{base.rsplit('/', 1)[0]}/nosuchroute/{secret}", body, "text/plain"),
        ]
        assert [(status, answer) for status, answer, _ in wrong] == [
            (403, {"error": "unknown route or wrong secret"})
        ] * 4
        assert stored_counts(repo_of(app)) == before
        # The secret in a header works as in the path (for senders that can set headers).
        status, answer, _ = await post(base, body, "text/plain", **{"X-Tripwire-Secret": secret})
        assert status == 200 and answer["status"] == "accepted"
        # A removed route's URL is refused from then on.
        await discord_emu.slash("webhook remove", {"name": "tv"}, user_id=OWNER_ID)
        status, _, _ = await post(url, body, "text/plain")
        assert status == 403


async def test_a_malformed_body_is_refused_with_400_and_the_reason(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    async with running_app(make_emulator, discord_emu, tmp_path, max_body_bytes=512) as app:
        url = await add_route(discord_emu)
        before = stored_counts(repo_of(app))
        unfilled = (DATA / "fhaleen10_price_alert_template.json").read_text()
        cases = [
            (unfilled, "text/plain", "the placeholder {{ticker}} was not filled in"),
            ('{"ticker": "BTCUSDT", "price": }', "text/plain", "the body is not valid JSON"),
            ('{"exchange": "BINANCE", "close": 95000}', "application/json", 'the JSON has no "symbol"'),
            ('{"ticker": "BTCUSDT", "severity": "urgent"}', "application/json", "severity 'urgent' is not"),
            ("", "text/plain", "the body is empty"),
            (b"\xff\xfe BTCUSDT", "text/plain", "the body is not UTF-8 text"),
        ]
        for body, content_type, reason in cases:
            status, answer, _ = await post(url, body, content_type)
            assert status == 400 and answer["error"].startswith(reason), (body, answer)
        status, answer, _ = await post(url, "BTCUSDT " + "x" * 600, "text/plain")
        assert status == 413 and "512 bytes" in answer["error"]
        assert stored_counts(repo_of(app)) == before
        # A bad body never stops the next good one.
        status, answer, _ = await post(url, "[critical] BTCUSDT Crossing 95,000.00", "text/plain")
        assert status == 200 and answer["status"] == "accepted"


async def test_a_flood_is_refused_with_429_and_retry_after(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    async with running_app(make_emulator, discord_emu, tmp_path, rate_per_minute=3) as app:
        url = await add_route(discord_emu, "tv")
        other = await add_route(discord_emu, "tv-eth")
        answers = [await post(url, f"BTCUSDT Crossing {95_000 + i}", "text/plain") for i in range(6)]
        assert [status for status, _, _ in answers] == [200, 200, 200, 429, 429, 429]
        retry_after = int(answers[3][2]["Retry-After"])
        assert 1 <= retry_after <= 60
        assert "more than 3 alerts a minute" in answers[3][1]["error"]
        events, _ = stored_counts(repo_of(app))
        assert events == 3
        # The limit is per route: another route of the server is not held back.
        status, _, _ = await post(other, "ETHUSDT Crossing 3,380.00", "text/plain")
        assert status == 200
        families = await scrape(app)
        answered = {s.labels["status"]: s.value for s in families["tripwire_webhook_requests"].samples}
        assert answered == {"200": 4, "429": 3}
