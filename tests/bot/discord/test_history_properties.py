"""Property tests for what /history, /why, /chart and /alert test parse: any text or number either reads
as a value within bounds or ends in one short, readable UserError; through Discord, always an answer or a
private error, never the apology for a crash."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.discord.client import TripwireBot
from bot.errors import UserError
from bot.parsing import parse_alert_id, parse_since
from bot.services import Service
from bot.services.backtest import BacktestService
from bot.services.history import HistoryQuery, HistoryService, span_text
from bot.services.visibility import Viewer
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import Repo
from storage.rows import INTERVAL_MS
from tests.bot.discord.test_properties import E2E, TEXT, check_reply_content, clear
from tests.bot.history_support import (  # noqa: F401 - the replayed_* are this module's fixtures
    history_config,
    load_replayed,
    replayed_config,
    replayed_history,
)
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import GUILD_ID, MEMBER_ID, OWNER_ID

NOW = BREAKOUT_DAY_NOON
INTERVAL = st.one_of(st.none(), st.sampled_from(sorted(INTERVAL_MS)), TEXT)
# Windows of /chart: anything at all, and the valid range (an hour to 90 days) in particular.
SECONDS = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.integers(3600, 90 * 86_400))
BACKTEST_SECONDS = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.integers(86_400, 90 * 86_400))


def make_history() -> HistoryService:
    """Return the history service on the replayed scenario (one database for the whole module)."""
    repo = Repo(open_database(":memory:"))
    load_replayed(repo)
    engine = Engine(repo, MarketHistory(), AlertRouter(repo, [], console=False, discord=True))
    return HistoryService(Service(repo, engine, history_config(), Clock(NOW)))


HISTORY = make_history()


@given(TEXT)
def test_since_reads_as_a_past_moment_or_says_what_would_work(text: str) -> None:
    try:
        since = parse_since(text, NOW)
    except UserError as error:
        clear(error)
    else:
        assert since <= NOW


@given(st.integers(1, 10**6), st.sampled_from(["m", "h", "d", "w"]))
def test_a_span_ago_reads_back(amount: int, unit: str) -> None:
    seconds = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit]
    assert parse_since(f"{amount}{unit}", NOW) == NOW - amount * seconds * 1000


@given(st.dates(min_value=date(2009, 1, 3), max_value=date(2026, 1, 14)), st.times())
def test_a_utc_date_and_time_reads_back(day: date, moment: time) -> None:
    midnight = int(datetime.combine(day, time(), UTC).timestamp() * 1000)
    assert parse_since(day.isoformat(), NOW) == midnight
    stamp = datetime.combine(day, moment.replace(second=0, microsecond=0), UTC)
    expected = int(stamp.timestamp() * 1000)
    if expected <= NOW:
        assert parse_since(stamp.strftime("%Y-%m-%d %H:%M"), NOW) == expected
        assert parse_since(stamp.strftime("%Y-%m-%dT%H:%MZ"), NOW) == expected


@given(TEXT)
def test_alert_numbers_read_as_positive_integers_or_are_refused(text: str) -> None:
    try:
        number = parse_alert_id(text)
    except UserError as error:
        clear(error)
    else:
        assert number > 0 and str(number) in text


@given(st.integers(1, 10**15 - 1), st.sampled_from(["{}", "#{}", " # {} ", "alert #{}"]))
def test_an_alert_number_as_shown_reads_back(number: int, shape: str) -> None:
    assert parse_alert_id(shape.format(number)) == number


@given(symbol=st.one_of(st.sampled_from(["btc", "ETHUSDT"]), TEXT), interval=INTERVAL, window=SECONDS)
@settings(max_examples=80, deadline=None)
def test_chart_options_give_a_chart_of_that_window_or_one_error(
    symbol: str, interval: str | None, window: int | None
) -> None:
    try:
        spec = HISTORY.chart(symbol, interval, window, viewer=Viewer(OWNER_ID, GUILD_ID))
    except UserError as error:
        clear(error)
        event("refused")
    else:
        event("charted")
        span = window if window is not None else 7 * 86_400
        asked = NOW - span * 1000
        # The window is fitted to the data: it starts where the asked span does, or at the first candle
        # stored after that (ETH's data starts on January 9), and the title says which.
        assert spec.end == NOW and spec.start is not None and spec.start >= asked
        assert interval is None or spec.interval == interval
        if spec.start == asked:
            assert spec.title.endswith(f"last {span_text(span)}")
        else:
            # (the first whole candle of a coarser interval can open a little after the first data)
            assert spec.candles and spec.start <= spec.candles[0].open_time
            assert spec.title.endswith(f"stored of {span_text(span)} asked")


@given(
    symbol=st.one_of(st.none(), st.sampled_from(["btc", "ETHUSDT"]), TEXT),
    rule=st.one_of(st.none(), st.sampled_from(["btc-95k", "fear-greed"]), TEXT),
    since=st.one_of(st.none(), st.integers(-(2**53), 2**53)),
    page=st.integers(-(2**31), 2**31),
)
def test_any_history_query_gives_a_page_within_bounds_or_one_error(
    symbol: str | None, rule: str | None, since: int | None, page: int
) -> None:
    try:
        first = HISTORY.history(HistoryQuery(GUILD_ID, OWNER_ID, symbol=symbol, rule_id=rule, since=since))
    except UserError as error:
        clear(error)
        return
    turned = HISTORY.history(first.query, page)
    assert 0 <= turned.page < turned.pages and turned.total == first.total
    assert len(turned.items) <= turned.page_size
    assert all(i.at <= NOW and (since is None or i.at >= since) for i in turned.items)


@given(BACKTEST_SECONDS)
def test_a_backtest_period_is_one_to_ninety_days_or_refused(period: int | None) -> None:
    tester = BacktestService(HISTORY.service)
    try:
        days = tester.check_period(period)
    except UserError as error:
        clear(error)
    else:
        assert 1 <= days <= 90


# --- through Discord --------------------------------------------------------------------------------------


@E2E
@given(since=TEXT.filter(str.strip), alert=TEXT.filter(str.strip), window=TEXT.filter(str.strip))
async def test_history_why_and_chart_with_any_text(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, since: str, alert: str, window: str
) -> None:
    for name, options in (
        ("history", {"since": since}),
        ("history", {"rule": alert}),
        ("why", {"alert_id": alert}),
        ("chart", {"symbol": "BTCUSDT", "window": window}),
    ):
        reply = await discord_emu.slash(name, options, user_id=MEMBER_ID)
        check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
    for name, focused in (("why", "alert_id"), ("history", "rule"), ("history", "since")):
        choices = await discord_emu.autocomplete(name, {focused: alert}, focused, user_id=MEMBER_ID)
        assert len(choices) <= 25 and all(len(c["name"]) <= 100 for c in choices)


@settings(E2E, max_examples=8)
@given(period=TEXT.filter(str.strip), level=st.floats(-(2.0**53), 2.0**53))
async def test_alert_test_with_any_period_and_level(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, period: str, level: float
) -> None:
    reply = await discord_emu.slash(
        "alert test",
        {"detector": "level_cross", "symbol": "BTCUSDT", "settings": f"level={level!r}", "period": period},
        user_id=OWNER_ID,
    )
    check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
