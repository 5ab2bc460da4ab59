"""/liqmap show, /liqmap accuracy and /liqprice's map field through the real bot and the Discord emulator.

The database holds the bundled January 2026 scenario (real Binance candles, CoinGlass open interest and
liquidations); the clock is 2026-01-14 12:00, the day after BTC broke $95,000.
"""

from __future__ import annotations

import io

from matplotlib.image import imread

from bot.discord.client import TripwireBot
from feeds.replay import parse_time
from storage.repo import Repo
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import MEMBER_ID

PNG = b"\x89PNG\r\n\x1a\n"


def field(embed: dict[str, object], name: str) -> str:
    """Return the value of an embed field by name."""
    fields = embed["fields"]
    assert isinstance(fields, list)
    return next(str(f["value"]) for f in fields if f["name"] == name)


async def test_liqmap_posts_the_heatmap_with_the_nearest_clusters(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    reply = await discord_emu.slash("liqmap show", {"symbol": "btc", "range": 10}, user_id=MEMBER_ID)
    assert reply.deferred and not reply.ephemeral
    [image] = reply.attachments
    assert image.data.startswith(PNG) and image.content_type == "image/png"
    assert image.filename == "liqmap-btcusdt.png" and 20_000 < image.size < 1_000_000
    assert (image.width, image.height) == (1200, 700)
    pixels = imread(io.BytesIO(image.data))
    # The heatmap region is not one flat colour: the map has content.
    heat = pixels[80:450, 100:900, :3]
    assert heat.std() > 0.05
    embed = reply.embeds[0]
    assert embed["title"] == "BTCUSDT liquidation map · ±10%"
    assert embed["image"]["url"] == image.url
    above, below = field(embed, "Nearest above"), field(embed, "Nearest below")
    # After the break: the next short cluster sits above the price, long clusters below.
    assert " shorts: $" in above and "modelled, +" in above
    assert " longs: $" in below and "modelled, -" in below
    assert "Modelled, not measured" in embed["footer"]["text"]
    # Building the map graded its sweeps, the 95k one among them, and stored them on the event loop.
    [sweep] = [g for g in repo.liqmap_grades("BTCUSDT") if g.start == parse_time("2026-01-13T22:00Z")]
    assert sweep.side == "short" and sweep.band_low < 95_000 < sweep.band_high
    # CoinGlass's shorts liquidated in the 22:00 hour (Binance + Bybit + OKX): $109.0M.
    assert round(sweep.realized_usd / 1e6, 1) == 109.0 and sweep.basis == "hourly totals"


async def test_liqmap_refuses_bad_options_privately_before_deferring(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    unknown = await discord_emu.slash("liqmap show", {"symbol": "doge"}, user_id=MEMBER_ID)
    assert unknown.ephemeral and unknown.content.startswith("Unknown symbol `doge`")
    no_oi = await discord_emu.slash("liqmap show", {"symbol": "eth"}, user_id=MEMBER_ID)
    assert no_oi.ephemeral and "no open interest of ETHUSDT is stored" in no_oi.content
    venue = await discord_emu.slash("liqmap show", {"symbol": "btc", "venue": "bybit"}, user_id=MEMBER_ID)
    assert venue.ephemeral and "no open interest of BTCUSDT from bybit" in venue.content
    for bad in (unknown, no_oi, venue):
        assert not bad.deferred and not bad.attachments


async def test_liqmap_accuracy_shows_hit_rate_and_error_per_venue(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    reply = await discord_emu.slash("liqmap accuracy", {}, user_id=MEMBER_ID)
    embed = reply.embeds[0]
    grades = repo.liqmap_grades()
    hits = sum(1 for g in grades if g.ratio is not None and 1 / 3 <= g.ratio <= 3)
    assert grades and {g.venue for g in grades} == {"coinglass"}
    value = field(embed, "coinglass")
    assert value.startswith(f"{hits}/{len(grades)} hits (") and "typical miss ×" in value


async def test_liqprice_says_where_the_price_sits_on_the_map(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    reply = await discord_emu.slash(
        "liqprice", {"symbol": "btc", "side": "short", "entry": 96_000, "leverage": 50}, user_id=MEMBER_ID
    )
    on_map = field(reply.embeds[0], "On the liquidation map (/liqmap)")
    # 50x short from 96,000: liquidated near 97,400, inside the short cluster the break left above.
    assert on_map.startswith("Inside the modelled $96,812–$97,784 shorts cluster ($")
    far = await discord_emu.slash(
        "liqprice", {"symbol": "btc", "side": "long", "entry": 95_000, "leverage": 3}, user_id=MEMBER_ID
    )
    below = field(far.embeds[0], "On the liquidation map (/liqmap)")
    assert "below the nearest modelled long cluster" in below and "of modelled long liquidations sit" in below
