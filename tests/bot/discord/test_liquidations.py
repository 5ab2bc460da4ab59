"""/liqfeed and /liqprice end to end: the real bot on the Discord emulator, liquidations through Ingest, the
feed's messages through the outbox and the real Discord sink.

Events enter through ``Ingest.liquidations`` (the one door the exchange feeds use), so the tests control the
clock the feed's windows run on. They are the rows the feeds make of each exchange's frame: the exchange as
``source``, the side of the *position* (a Binance forced SELL, a Bybit ``S: "Buy"`` and an OKX ``posSide:
"long"`` are all a liquidated long) and ``usd = price × qty``; each row below names the frame it stands
for. ``tests/bot/test_app_liqfeed.py`` pushes such frames through the real feeds of ``tripwire run``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import Config
from bot.discord.client import TripwireBot
from bot.liqfeed.feed import LiquidationFeed, Pacing
from bot.liqfeed.settings import LiqFeedService
from bot.notify.discord.sink import DiscordSink
from bot.notify.outbox import OutboxDispatcher
from bot.services import Service
from detectors.base import format_price, format_usd
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.repo import Repo
from storage.rows import Liquidation
from tests.bot.discord.support import bot_messages, drain, titles
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
)

MakeSink = Callable[..., DiscordSink]
RED, GREEN = 0xE74C3C, 0x2ECC71


@pytest.fixture
def pacing() -> Pacing:
    """Return the feed's pacing (the defaults; a test may override this fixture)."""
    return Pacing()


@pytest.fixture
def feed(repo: Repo, clock: Clock, pacing: Pacing) -> LiquidationFeed:
    """Return the running feed's state machine, ticked by the tests on the test clock."""
    return LiquidationFeed(repo, clock, pacing=pacing)


@pytest.fixture
def make_bot(
    config: Config, service: Service, repo: Repo, clock: Clock, feed: LiquidationFeed
) -> Callable[[], TripwireBot]:
    """Return a factory of bots whose /liqfeed changes reach ``feed``."""
    feeds = LiqFeedService(repo, config.symbols, clock, runtime=feed)
    return lambda: TripwireBot(config, service, liqfeed=feeds, **client_options())


@pytest.fixture
def ingest(repo: Repo, history: MarketHistory, feed: LiquidationFeed) -> Ingest:
    """Return the Ingest the feeds write through, with the feed listening for new liquidations."""
    ingest = Ingest(repo, history)
    ingest.subscribe_rows("liquidations", feed.on_rows)
    return ingest


async def start_feed(emu: DiscordEmulator, min_usd: float, **filters: str) -> None:
    """Set the server's feed to #alerts as its owner."""
    reply = await emu.slash(
        "liqfeed set", {"channel": ALERTS_CHANNEL_ID, "min_usd": min_usd, **filters}, user_id=OWNER_ID
    )
    assert reply.ephemeral and reply.embeds[0]["title"] == "Liquidation feed set", reply.content


def step(clock: Clock, feed: LiquidationFeed, ms: int) -> None:
    """Move the clock on and let the feed post what is due."""
    clock.now += ms
    feed.tick()


async def test_single_large_liquidations_post_with_the_position_side(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    feed: LiquidationFeed,
    ingest: Ingest,
    make_sink: MakeSink,
) -> None:
    await start_feed(discord_emu, 1_000_000)
    t = clock.now
    # Binance {"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","ap":"95210.5","z":"25.3",...}}: a forced
    # sell closes a long.
    ingest.liquidations([Liquidation("BTCUSDT", t, "binance", "long", 95_210.5, 25.3, 95_210.5 * 25.3)])
    step(clock, feed, 2_000)
    # Bybit allLiquidation {"s":"ETHUSDT","S":"Buy","v":"400","p":"3350"}: Bybit names the position, a long;
    # and a smaller one the $1M threshold leaves out.
    ingest.liquidations(
        [
            Liquidation("ETHUSDT", t + 2_100, "bybit", "long", 3_350.0, 400.0, 1_340_000.0),
            Liquidation("ETHUSDT", t + 2_200, "bybit", "short", 3_351.0, 100.0, 335_100.0),
        ]
    )
    step(clock, feed, 2_000)
    # OKX liquidation-orders {"instId":"BTC-USDT-SWAP","details":[{"posSide":"short","side":"buy",
    # "sz":"15800","bkPx":"95400"}]} with ctVal 0.01 BTC: 158 BTC, a short.
    ingest.liquidations([Liquidation("BTCUSDT", t + 4_100, "okx", "short", 95_400.0, 158.0, 95_400.0 * 158)])
    step(clock, feed, 2_000)

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)
    posted = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert titles(posted) == [
        "🦈 BTC long liquidated: $2.4M",
        "🦈 ETH long liquidated: $1.3M",
        "🐋 BTC short liquidated: $15.1M",
    ]
    assert [m.embeds[0]["color"] for m in posted] == [RED, RED, GREEN]
    first = posted[0].embeds[0]
    assert first["description"].startswith("Binance · BTCUSDT · at $95,210.50 · <t:")
    # The footer ends with the reference a restarted bot finds the message by (bot.notify.discord.adoption).
    assert first["footer"]["text"].startswith("Liquidation feed · ≥ $1.0M · ref twg")
    assert posted[2].embeds[0]["description"].startswith("OKX · BTCUSDT · at $95,400")
    assert not any(m.content for m in posted)  # nobody is pinged
    # Delivered once: another pass posts nothing more.
    await OutboxDispatcher(repo, [make_sink(tripwire)], clock).run_once()
    assert len(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == 3


def field(message_embed: dict[str, object], name: str) -> str:
    """Return the value of an embed field by name."""
    fields = message_embed["fields"]
    assert isinstance(fields, list)
    return next(str(f["value"]) for f in fields if f["name"] == name)


async def test_a_burst_of_hundreds_becomes_a_few_messages_with_exact_totals_and_no_429(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    feed: LiquidationFeed,
    ingest: Ingest,
    make_sink: MakeSink,
) -> None:
    await start_feed(discord_emu, 100_000, symbols="btc", exchanges="bybit")
    # A cascade on Bybit: allLiquidation arrays of 90 BTCUSDT events a second for 5 s (S "Sell" = a short),
    # with ETH events and Binance events the filters leave out.
    per_window: list[list[Liquidation]] = [[], [], []]
    for second in range(5):
        t = clock.now
        rows = [
            Liquidation(
                "BTCUSDT", t + n, "bybit", "short" if n % 4 else "long", 96_000.0 + n, 2.0 + n / 10, 0.0
            )
            for n in range(90)
        ]
        rows = [r._replace(usd=r.price * r.qty) for r in rows]
        noise = [rows[0]._replace(symbol="ETHUSDT"), rows[1]._replace(source="binance")]
        assert ingest.liquidations(rows + noise) == 92
        per_window[second // 2].extend(rows)  # each window closes 2 s after its first event
        step(clock, feed, 1_000)
    step(clock, feed, 1_000)

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)
    posted = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert len(posted) == 3 and discord_emu.count_429 == 0
    for message, events in zip(posted, per_window, strict=True):
        embed = message.embeds[0]
        longs = [r.usd for r in events if r.side == "long"]
        shorts = [r.usd for r in events if r.side == "short"]
        assert embed["title"] == f"💥 {len(events)} liquidations: {format_usd(sum(longs) + sum(shorts))}"
        assert field(embed, "Longs liquidated") == f"{format_usd(sum(longs))} ({len(longs)})"
        assert field(embed, "Shorts liquidated") == f"{format_usd(sum(shorts))} ({len(shorts)})"
        lines = embed["description"].split("\n")
        largest = max(events, key=lambda r: r.usd)
        # The largest is 10.9 BTC at $96,089: over $1M, a shark.
        size, price = format_usd(largest.usd), format_price(largest.price)
        assert lines[0].startswith(f"🦈 **BTC** {largest.side} {size} at {price} · Bybit · <t:")
        assert len(lines) == 11 and lines[-1].startswith(f"… and {len(events) - 10} smaller")
    assert feed.mode(GUILD_ID) == "live"


class TestStorm:
    """A storm of liquidations: summaries announced once, and the return to live announced once."""

    @pytest.fixture
    def pacing(self) -> Pacing:
        """Allow one message per 10 s, so the switch comes after one batch (fewer messages to pace)."""
        return Pacing(max_messages=1)

    async def test_the_switch_to_summaries_and_back_is_announced_once_each_way(
        self,
        tripwire: TripwireBot,
        discord_emu: DiscordEmulator,
        repo: Repo,
        clock: Clock,
        feed: LiquidationFeed,
        ingest: Ingest,
        make_sink: MakeSink,
    ) -> None:
        await start_feed(discord_emu, 100_000)
        pushed: list[Liquidation] = []
        for second in range(20):  # ten Binance events a second, seven longs and three shorts
            rows = [
                Liquidation(
                    "ETHUSDT", clock.now, "binance", "long" if n < 7 else "short", 3_300.0 + n, 50.0, 0.0
                )
                for n in range(10)
            ]
            rows = [r._replace(usd=r.price * r.qty) for r in rows]
            pushed += rows
            ingest.liquidations(rows)
            step(clock, feed, 1_000)
            if second == 10:
                shown = await discord_emu.slash("liqfeed show", {}, user_id=OWNER_ID)
                assert field(shown.embeds[0], "Now") == "summaries (a storm of liquidations)"
        for _ in range(60):
            step(clock, feed, 1_000)

        await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)
        posted = titles(bot_messages(discord_emu, ALERTS_CHANNEL_ID))
        storm = "🌊 Liquidations are coming faster than this channel can show"
        calm = "✅ Liquidations have calmed down"
        # The first window (0-2 s) is posted; the second (2-4 s) would be a second message within 10 s:
        # the switch. Its events and the rest of the storm make the 4-34 s summary; 34-64 s is calm.
        first, rest = pushed[:20], pushed[20:]
        assert posted == [
            f"💥 20 liquidations: {format_usd(sum(r.usd for r in first))}",
            storm,
            f"📊 180 liquidations in 30s: {format_usd(sum(r.usd for r in rest))}",
            calm,
        ]
        assert discord_emu.count_429 == 0
        embed = bot_messages(discord_emu, ALERTS_CHANNEL_ID)[2].embeds[0]
        longs = [r.usd for r in rest if r.side == "long"]
        assert (
            field(embed, "Longs liquidated") == f"{format_usd(sum(longs))} ({len(longs)})" == "$20.8M (126)"
        )
        assert field(embed, "Largest").count("\n") == 4


async def test_validation_errors_are_answered_privately(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    cases = [
        (
            "liqfeed set",
            {"channel": ALERTS_CHANNEL_ID, "min_usd": 5_000},
            "The threshold must be between $10.0k",
        ),
        ("liqfeed set", {"channel": ALERTS_CHANNEL_ID, "min_usd": -100_000}, "The threshold must be between"),
        ("liqfeed set", {"channel": ALERTS_CHANNEL_ID, "min_usd": 1e12}, "The threshold must be between"),
        (
            "liqfeed set",
            {"channel": ALERTS_CHANNEL_ID, "min_usd": 100_000, "symbols": "btc, doge"},
            "Unknown symbol `doge`. Tripwire watches: BTCUSDT, ETHUSDT.",
        ),
        (
            "liqfeed set",
            {"channel": ALERTS_CHANNEL_ID, "min_usd": 100_000, "exchanges": "okx kraken"},
            "Unknown exchange `kraken`",
        ),
        (
            "liqfeed set",
            {"channel": PRIVATE_CHANNEL_ID, "min_usd": 100_000},
            f"I cannot post in <#{PRIVATE_CHANNEL_ID}>",
        ),
        ("liqfeed off", {}, "This server has no liquidation feed"),
        (
            "liqprice",
            {"symbol": "btc", "side": "long", "entry": 95_000, "leverage": 200},
            "Leverage must be between 1x and 125x",
        ),
        (
            "liqprice",
            {"symbol": "btc", "side": "long", "entry": 95_000, "leverage": 0.5},
            "Leverage must be between 1x and 125x",
        ),
        (
            "liqprice",
            {"symbol": "btc", "side": "short", "entry": 0, "leverage": 10},
            "The entry price must be a positive",
        ),
        (
            "liqprice",
            {"symbol": "btc", "side": "short", "entry": 950_000, "leverage": 10},
            "An entry of $950,000 is",
        ),
        (
            "liqprice",
            {"symbol": "doge", "side": "long", "entry": 0.3, "leverage": 10},
            "Unknown symbol `doge`",
        ),
        (
            "liqprice",
            {"symbol": "eth", "side": "long", "entry": 3_300, "leverage": 10, "margin_mode": "cross"},
            "Cross margin is not supported",
        ),
    ]
    for name, options, message in cases:
        reply = await discord_emu.slash(name, options, user_id=OWNER_ID)
        assert reply.ephemeral and not reply.embeds and reply.content.startswith(message), (
            options,
            reply.content,
        )
    assert repo.guild_settings(GUILD_ID) is None


async def test_members_without_manage_server_are_refused(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    options = {"channel": ALERTS_CHANNEL_ID, "min_usd": 100_000}
    with pytest.raises(PermissionError):  # Discord's client does not even offer it
        await discord_emu.slash("liqfeed set", options, user_id=MEMBER_ID)
    for name, given in (("liqfeed set", options), ("liqfeed show", {}), ("liqfeed off", {})):
        reply = await discord_emu.slash(name, given, user_id=MEMBER_ID, check_permissions=False)
        assert reply.ephemeral and reply.content == "You need the Manage Server permission to do that."
    assert repo.guild_settings(GUILD_ID) is None


async def test_liqfeed_is_for_server_managers_and_liqprice_for_everyone(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    synced = {c["name"]: c for c in discord_emu.commands_synced(GUILD_ID)}
    assert synced["liqfeed"]["default_member_permissions"] == str(1 << 5)  # Manage Server
    assert synced["liqfeed"]["contexts"] == [0]  # guild only
    assert sorted(o["name"] for o in synced["liqfeed"]["options"]) == ["off", "set", "show"]
    assert synced["liqprice"]["default_member_permissions"] is None
    options = {o["name"]: o for o in synced["liqprice"]["options"]}
    assert [c["value"] for c in options["side"]["choices"]] == ["long", "short"]
    assert (options["leverage"]["min_value"], options["leverage"]["max_value"]) == (1, 125)


async def test_liqfeed_show_set_and_off(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, feed: LiquidationFeed
) -> None:
    empty = await discord_emu.slash("liqfeed show", {}, user_id=OWNER_ID)
    assert empty.ephemeral and empty.embeds[0]["title"] == "No liquidation feed"
    await start_feed(discord_emu, 250_000, symbols="eth btc", exchanges="OKX, binance")
    shown = (await discord_emu.slash("liqfeed show", {}, user_id=OWNER_ID)).embeds[0]
    filters = "≥ $250.0k · ETHUSDT, BTCUSDT · okx, binance"
    assert shown["description"] == f"Every liquidation {filters} is posted in <#{ALERTS_CHANNEL_ID}>."
    assert field(shown, "Exchanges") == "OKX, Binance" and field(shown, "Now").startswith("live")
    assert feed.mode(GUILD_ID) == "live"
    off = await discord_emu.slash("liqfeed off", {}, user_id=OWNER_ID)
    assert off.ephemeral and off.embeds[0]["title"] == "Liquidation feed switched off"
    assert feed.mode(GUILD_ID) is None


async def test_liqprice_answers_with_distance_and_assumptions(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, service: Service
) -> None:
    now = service.price("BTCUSDT")
    reply = await discord_emu.slash(
        "liqprice", {"symbol": "btc", "side": "long", "entry": 95_000, "leverage": 10}, user_id=MEMBER_ID
    )
    # A member's entry and leverage are theirs: the answer is private unless they share it (issue 22).
    assert reply.ephemeral
    embed = reply.embeds[0]
    liquidation = 85_500 / 0.996  # isolated, margin 10%, Binance's first-tier 0.40% (see test_liqprice.py)
    assert embed["title"] == f"BTC long 10x from $95,000: liquidation ≈ {format_price(liquidation)}"
    assert field(embed, "Liquidation price") == "$85,843.37"
    distance = (liquidation - now.price) / now.price * 100
    assert f"From the current price {format_price(now.price)}" in embed["description"]
    assert f"a {abs(distance):.2f}% fall ({format_price(now.price - liquidation)})" in embed["description"]
    assert "A 9.64% fall from entry ($9,156.63) liquidates it." in embed["description"]
    footer = embed["footer"]["text"]
    assert footer.startswith("Isolated margin") and "MMR 0.40%" in footer and "1/leverage" in footer
    short = await discord_emu.slash(
        "liqprice",
        {"symbol": "eth", "side": "short", "entry": 3_300, "leverage": 25, "maintenance_margin_rate": 0.5},
        user_id=MEMBER_ID,
    )
    assert field(short.embeds[0], "Liquidation price") == format_price(3_432 / 1.005)
    assert short.ephemeral
    shared = await discord_emu.slash(
        "liqprice",
        {"symbol": "btc", "side": "long", "entry": 95_000, "leverage": 10, "share": True},
        user_id=MEMBER_ID,
    )
    assert not shared.ephemeral and shared.embeds[0]["title"] == embed["title"]
    assert shared.message_id is not None
    assert discord_emu.message(shared.message_id).embeds[0] == shared.embeds[0]
