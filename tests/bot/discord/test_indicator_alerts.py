"""/alert add and /alert test of the indicator detectors (rsi, ma_cross, macd, bollinger, stoch_rsi) through
the real bot and the Discord emulator, on the replayed January 2026 data."""

from __future__ import annotations

import pytest

from bot.config import Config
from bot.discord.client import TripwireBot
from detectors.market_history import MarketHistory
from detectors.rsi import FORMULA as RSI_FORMULA
from detectors.values import format_number, format_price
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.history_support import history_config, load_replayed
from tests.bot.support import Clock
from tests.detectors.conftest import ms
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID


@pytest.fixture
def config() -> Config:
    """Return the example config, its rules routed to the emulator's guild."""
    return history_config()


@pytest.fixture
def history(repo: Repo, clock: Clock) -> MarketHistory:
    """Fill the database with the replayed scenario and move the clock past its last candle."""
    load_replayed(repo)
    clock.now = parse_time("2026-01-21T00:00Z")
    return MarketHistory()


# (detector, symbol, settings text, when it would have fired over the 14 days before 2026-01-21, and what)
BACKTESTS = [
    (
        "rsi",
        "BTCUSDT",
        "interval=4h above=70 hysteresis=10",
        "2026-01-13 20:00",
        "BTC RSI(14, 4h) crossed above 70: 71.9",
    ),
    (
        "ma_cross",
        "BTCUSDT",
        "fast=50 slow=200 direction=up",
        "2026-01-13 19:00",
        "BTC golden cross (1h): SMA(50) crossed above SMA(200): $91,604.83 vs $91,603.08",
    ),
    (
        "macd",
        "BTCUSDT",
        "interval=4h direction=up",
        "2026-01-11 08:00",
        "BTC MACD(12, 26, 9, 4h) crossed above its signal line: histogram +2.77 (MACD -214)",
    ),
    (
        "bollinger",
        "ETHUSDT",
        "interval=4h watch=bands direction=up",
        "2026-01-13 16:00",
        "ETH closed above the upper Bollinger(20, 2, 4h) band: $3,184.41 vs $3,163.20",
    ),
    (
        "stoch_rsi",
        "BTCUSDT",
        "interval=4h upper=90 direction=down",
        "2026-01-14 08:00",
        "BTC Stoch RSI(14, 14, 3, 3, 4h) %K crossed below %D from overbought (>90): 94 vs 98",
    ),
]


@pytest.mark.parametrize(
    ("detector", "symbol", "settings", "at", "title"), BACKTESTS, ids=[b[0] for b in BACKTESTS]
)
async def test_alert_test_backtests_the_indicator_rule(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    detector: str,
    symbol: str,
    settings: str,
    at: str,
    title: str,
) -> None:
    # The settings of the example rules in config.example.toml.
    options = {"detector": detector, "symbol": symbol, "settings": settings, "period": "14d"}
    reply = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral, reply.content
    embed = reply.embeds[0]
    # The span covered: the 14 days asked for, or from ETH's first candle (2026-01-09) in the bundled data.
    span = "14 days" if symbol == "BTCUSDT" else "10.7 days"
    assert embed["title"] == f"Backtest: this alert would have fired 1 time in {span}"
    assert embed["description"].startswith(f"`{detector}` on {symbol.removesuffix('USDT')} · ")
    [when] = [f["value"] for f in embed["fields"] if f["name"] == "When"]
    stamp = ms(at) // 1000
    assert when == f"<t:{stamp}:f> (<t:{stamp}:R>) · {title}"


# (detector, settings text, what is stored)
ADDS = [
    ("rsi", "interval=4h below=30 above=off", {"interval": "4h", "below": 30.0, "above": None}),
    ("ma_cross", "kind=ema fast=20 slow=50 alignment=20,50,200", {"kind": "ema", "alignment": [20, 50, 200]}),
    ("macd", "watch=zero fast=8 slow=21 signal=5", {"watch": "zero", "fast": 8, "slow": 21, "signal": 5}),
    ("bollinger", "watch=squeeze squeeze_lookback=100 mult=2.5", {"squeeze_lookback": 100, "mult": 2.5}),
    ("stoch_rsi", "interval=1d zones=no", {"interval": "1d", "zones": False}),
]


@pytest.mark.parametrize(("detector", "settings", "stored"), ADDS, ids=[a[0] for a in ADDS])
async def test_alert_add_creates_the_indicator_rule(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    detector: str,
    settings: str,
    stored: dict[str, object],
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    options = {"detector": detector, "symbol": "btc", "settings": settings}
    reply = await discord_emu.slash("alert add", options, user_id=OWNER_ID)
    assert reply.ephemeral and reply.embeds, reply.content
    rule_id = reply.embeds[0]["footer"]["text"].removeprefix("rule ")
    rule = repo.rule(rule_id)
    assert rule is not None and rule.detector == detector and rule.guild_id == GUILD_ID
    assert {key: rule.settings[key] for key in stored} == stored


REFUSED = [
    ("rsi", "above=30 below=70", "Invalid `settings` for rsi: below (70) must be lower than above (30)."),
    (
        "rsi",
        "above=off",
        "Invalid `settings` for rsi: set above, below or both "
        "(RSI levels, e.g. below=30; above is 70 unless off).",
    ),
    (
        "rsi",
        "interval=2d",
        "Invalid `settings` for rsi: `interval` must be one of "
        "1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 1w.",
    ),
    (
        "ma_cross",
        "fast=200 slow=50",
        "Invalid `settings` for ma_cross: fast (200) must be shorter than slow (50).",
    ),
    (
        "ma_cross",
        "crosses=no alignment=50,20",
        "Invalid `settings` for ma_cross: "
        "alignment lengths must be given shortest first, each longer than the last.",
    ),
    ("macd", "fast=26 slow=12", "Invalid `settings` for macd: fast (26) must be shorter than slow (12)."),
    ("bollinger", "mult=0", "Invalid `settings` for bollinger: `mult` must be greater than 0."),
    (
        "stoch_rsi",
        "lower=90 upper=10",
        "Invalid `settings` for stoch_rsi: lower (90) must be below upper (10).",
    ),
]


@pytest.mark.parametrize(
    ("detector", "settings", "message"), REFUSED, ids=[f"{r[0]}:{r[1]}" for r in REFUSED]
)
async def test_bad_indicator_settings_are_answered_privately(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    detector: str,
    settings: str,
    message: str,
) -> None:
    options = {"detector": detector, "symbol": "BTCUSDT", "settings": settings}
    for command in ("alert add", "alert test"):
        bad = await discord_emu.slash(command, options, user_id=OWNER_ID)
        assert bad.ephemeral and not bad.deferred and bad.content == message, (command, bad.content)
    assert repo.rules(guild_id=GUILD_ID) == []


async def test_why_on_an_rsi_alert_shows_its_inputs_formula_and_warm_up(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, history: MarketHistory
) -> None:
    # btc-rsi-4h of the example config on the replayed data: RSI(14, 4h) crossed above 70 on the 13th.
    firings = [e for e in repo.events(rule_id="btc-rsi-4h") if e.state == "firing"]
    [event] = [e for e in firings if e.title.endswith("crossed above 70: 71.9")]
    closes = event.values["last_closes"]
    assert len(closes) == 5 and closes[-1] == event.values["close"]
    reply = await discord_emu.slash("why", {"alert_id": f"#{event.id}"}, user_id=OWNER_ID)
    embed = reply.embeds[0]
    assert embed["title"] == f"Why #{event.id} fired: {event.title}"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    # The inputs: the last five 4h closes as prices, oldest first, and the RSI a candle before.
    assert fields["Last closes"] == ", ".join(format_price(c) for c in closes)
    assert fields["Last closes"].count("$") == 5
    assert fields["RSI a candle before"] == format_number(event.values["previous_rsi"])
    assert float(fields["RSI a candle before"]) <= 70 < float(fields["RSI"])
    # How RSI is computed, and the candles it needs before its values are trusted (its warm-up).
    assert fields["Formula"] == f"`{RSI_FORMULA}`"
    assert fields["Warm-up candles"] == str(event.values["warmup"])
    assert event.values["warmup"] >= 14
