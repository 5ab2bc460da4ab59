"""Property tests: arbitrary strings and numbers fed to every command's parsing never crash it; each bad
input gets a clear UserError-style message, shown ephemerally."""

from __future__ import annotations

import math
from typing import Any

import discord
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.config import parse_config
from bot.discord.client import TripwireBot
from bot.discord.tree import SOMETHING_WENT_WRONG
from bot.errors import UserError
from bot.notify.discord.render import alerts as render_alerts
from bot.notify.discord.render import base as render
from bot.notify.discord.render.base import CONTENT_LIMIT
from bot.parsing import ECHO_LIMIT, echo, parse_duration, resolve_symbol
from bot.services import Service
from bot.services.detector_settings import (
    MAX_CHOICE_CHARS,
    MAX_CHOICES,
    example_text,
    setting_specs,
    show,
    tokens,
)
from bot.services.rules import RuleOptions
from detectors.base import MARKET_SYMBOL, Detector
from detectors.registry import detector_classes
from storage.db import open_database
from storage.repo import Repo
from tests.bot.discord.detectors_for_tests import KitchenSink
from tests.bot.scenario import BREAKOUT_DAY_NOON, seed
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID

# Anything a Discord client can send as text: no lone surrogates (not valid in Discord's JSON).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
NUMBER = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e12, 1e12),
)
VALUE = st.one_of(st.none(), st.booleans(), NUMBER, TEXT, st.lists(TEXT, max_size=4))
DETECTORS: dict[str, type[Detector]] = {**detector_classes(), "kitchen_sink": KitchenSink}
E2E = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def clear(error: UserError) -> None:
    """Check a UserError reads as a message for a person: one short, non-empty text."""
    assert error.message.strip() and len(error.message) <= CONTENT_LIMIT
    assert "Traceback" not in error.message and "@everyone" not in error.message


def make_service() -> Service:
    """Return a service on a seeded in-memory database with quotas out of the way."""
    repo = Repo(open_database(":memory:"))
    history = seed(repo)
    config = parse_config(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "discord": {"max_rules_per_user": 500, "max_rules_per_guild": 5000},
        }
    )
    engine = Engine(repo, history, AlertRouter(repo, [], console=False, discord=True))
    service = Service(repo, engine, config, Clock(BREAKOUT_DAY_NOON), detectors=DETECTORS)
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, None)
    return service


SERVICE = make_service()


@given(TEXT)
def test_duration_parsing_returns_seconds_or_says_what_would_work(text: str) -> None:
    try:
        seconds = parse_duration(text, what="cooldown", maximum_s=30 * 86_400)
    except UserError as error:
        clear(error)
    else:
        assert 0 <= seconds <= 30 * 86_400


@given(st.integers(0, 9_999_999), st.sampled_from(["s", "m", "h", "d", "w"]))
def test_every_written_duration_reads_back(amount: int, unit: str) -> None:
    size = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit]
    assert parse_duration(f"{amount}{unit}") == amount * size


@given(TEXT)
def test_symbols_resolve_to_a_configured_one_or_list_them(text: str) -> None:
    try:
        assert resolve_symbol(text, ["BTCUSDT", "ETHUSDT"]) in ("BTCUSDT", "ETHUSDT")
    except UserError as error:
        clear(error)
        assert "BTCUSDT, ETHUSDT" in error.message


@given(TEXT)
def test_echoed_input_cannot_mention_or_break_out_of_its_code_span(text: str) -> None:
    shown = echo(text)
    # At most ECHO_LIMIT characters of input, each "@" followed by a zero-width space, in backticks.
    assert len(shown) <= 2 * ECHO_LIMIT + 2 and "@everyone" not in shown and "@here" not in shown
    assert shown == "(empty)" or (shown.startswith("`") and shown.endswith("`") and shown.count("`") == 2)


def symbol_for(detector: str) -> str | None:
    """Return the symbol a rule of ``detector`` takes: none for a market-wide one."""
    return None if DETECTORS[detector].market_wide else "BTCUSDT"


@given(st.sampled_from(sorted(DETECTORS)), st.data())
def test_any_settings_become_a_rule_or_one_readable_error(detector: str, data: st.DataObject) -> None:
    # The detector's real setting names (so values reach its validators) mixed with arbitrary keys.
    fields = list(DETECTORS[detector].Settings.model_fields)
    raw = data.draw(st.dictionaries(st.sampled_from(fields) | TEXT, VALUE, max_size=5))
    try:
        rule = SERVICE.add_rule(GUILD_ID, OWNER_ID, detector, symbol_for(detector), raw, is_admin=True)
    except UserError as error:
        clear(error)
    else:
        assert rule.detector == detector


# A value as a member might type it: a word, a number, a choice, off, a quoted phrase, a list.
TYPED = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc")), max_size=12),
    NUMBER.map(str),
    st.sampled_from(["up", "down", "either", "yes", "no", "off", "1h", "wick", "ETHUSDT,SOLUSDT"]),
    TEXT.map(lambda t: '"' + t.replace('"', "") + '"'),
)


@given(st.sampled_from(sorted(DETECTORS)), st.data())
def test_any_settings_text_becomes_a_rule_or_one_readable_error(detector: str, data: st.DataObject) -> None:
    names = [s.name for s in setting_specs(DETECTORS[detector].Settings)]
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(names) | TEXT, TYPED), max_size=5))
    text = data.draw(st.sampled_from([" ".join(f"{k}={v}" for k, v in pairs), *(t for t, _ in pairs[:1])]))
    try:
        settings = SERVICE.parse_settings(detector, text)
        rule = SERVICE.add_rule(GUILD_ID, OWNER_ID, detector, symbol_for(detector), settings, is_admin=True)
    except UserError as error:
        clear(error)
    else:
        expected = MARKET_SYMBOL if DETECTORS[detector].market_wide else "BTCUSDT"
        assert (rule.detector, rule.symbol) == (detector, expected)


@given(st.sampled_from(sorted(DETECTORS)), TEXT)
def test_settings_completions_fit_discord_and_never_cut_a_value(detector: str, text: str) -> None:
    choices = SERVICE.settings_choices(detector, text)
    assert len(choices) <= MAX_CHOICES
    for name, value in choices:
        assert 1 <= len(name) <= MAX_CHOICE_CHARS and 1 <= len(value) <= MAX_CHOICE_CHARS
        # The typed text is kept up to the word being completed (never rewritten or cut); quotes can make
        # a word of several, so only texts without them are checked.
        typing = bool(text.strip()) and not text[-1].isspace()
        kept = text[: len(text) - len(text.split()[-1])] if typing else text
        assert value.startswith(kept) or '"' in text or "'" in text, (text, value)


@given(st.sampled_from(sorted(DETECTORS)))
def test_every_default_reads_back_as_itself(detector: str) -> None:
    model = DETECTORS[detector].Settings
    specs = [s for s in setting_specs(model) if not s.required and s.default is not None]
    text = " ".join(f"{s.name}={show(s.default)}" for s in specs)
    required = " ".join(f"{s.name}={s.example}" for s in setting_specs(model) if s.required)
    # A detector needing one of several settings (retest: level, step or range_days) names it in its
    # example; the example's settings that have no default of their own complete the rule.
    defaulted = {s.name for s in specs} | {s.name for s in setting_specs(model) if s.required}
    chosen = " ".join(t.text for t in tokens(example_text(model)) if t.key not in defaulted)
    settings = SERVICE.parse_settings(detector, f"{required} {chosen} {text}")
    validated = model.model_validate(settings)
    for spec in specs:
        assert getattr(validated, spec.name) == spec.default, spec.name


@given(st.one_of(st.none(), TEXT), st.integers(-(2**31), 2**31))
def test_market_queries_answer_or_explain(symbol: str | None, window_s: int) -> None:
    calls = [
        lambda: SERVICE.liquidations(symbol, window_s),
        lambda: SERVICE.funding(symbol),
        lambda: SERVICE.open_interest(symbol),
        lambda: SERVICE.price(symbol or ""),
    ]
    for call in calls:
        try:
            view = call()
        except UserError as error:
            clear(error)
        else:
            # An answer is about a watched symbol (or every symbol: /liquidations without one).
            assert view.symbol in SERVICE.symbols or (view.symbol is None and symbol is None)


@given(TEXT, st.booleans())
def test_rule_management_with_any_id_answers_or_explains(rule_id: str, admin: bool) -> None:
    for change in (SERVICE.pause_rule, SERVICE.resume_rule, SERVICE.remove_rule):
        try:
            change(GUILD_ID, OWNER_ID, rule_id, is_admin=admin)
        except UserError as error:
            clear(error)
    choices = SERVICE.rule_choices(GUILD_ID, OWNER_ID, is_admin=admin, current=rule_id)
    assert len(choices) <= 25 and all(len(label) <= 100 for _, label in choices)


@given(TEXT | st.none(), st.integers(-(10**9), 10**9) | st.none(), st.integers(-(10**9), 10**9) | st.none())
def test_rule_options_are_checked(note: str | None, cooldown: int | None, expires: int | None) -> None:
    options = RuleOptions(note=note, cooldown_s=cooldown, expires_in_s=expires)
    try:
        SERVICE.add_rule(
            GUILD_ID, OWNER_ID, "level_cross", "BTCUSDT", {"level": 123.0}, options, is_admin=True
        )
    except UserError as error:
        clear(error)


@given(
    title=TEXT,
    description=st.text(max_size=5000),
    fields=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=1200)), max_size=40),
    footer=st.text(max_size=2100),
)
def test_fit_keeps_every_embed_within_discords_limits(
    title: str, description: str, fields: list[tuple[str, str]], footer: str
) -> None:
    embed = discord.Embed(title=title * 3, description=description)
    for name, value in fields:
        embed.add_field(name=name, value=value)
    embed.set_footer(text=footer)
    render.fit(embed)
    assert len(embed) <= render.TOTAL_LIMIT and len(embed.fields) <= render.FIELD_LIMIT
    assert len(embed.title or "") <= render.TITLE_LIMIT
    assert all(len(f.name or "") <= 256 and 0 < len(f.value or "") <= 1024 for f in embed.fields)


@given(st.dictionaries(TEXT, VALUE, max_size=30), TEXT, NUMBER)
def test_any_alert_payload_renders_within_limits(values: dict[str, Any], title: str, at: Any) -> None:
    assume(not isinstance(at, float) or math.isfinite(at))
    payload = {"title": title, "values": values, "at": int(at) % 2**41, "rule_id": "r", "note": title}
    embed = render_alerts.alert_embed(payload, "binance")
    assert len(embed) <= render.TOTAL_LIMIT and len(embed.fields) <= render.FIELD_LIMIT


# --- the same through Discord: the reply is always an answer or a private, readable error ----------------


def check_reply_content(content: str, ephemeral: bool, has_embed: bool) -> None:
    """An answer has an embed; anything else is a private message saying what was wrong."""
    if has_embed:
        return
    assert ephemeral and content and len(content) <= CONTENT_LIMIT
    assert content != SOMETHING_WENT_WRONG


@E2E
@given(symbol=TEXT.filter(str.strip), window=TEXT.filter(str.strip))
async def test_market_commands_with_any_text(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, symbol: str, window: str
) -> None:
    for name, options in (
        ("price", {"symbol": symbol}),
        ("liquidations", {"symbol": symbol, "window": window}),
    ):
        reply = await discord_emu.slash(name, options)
        check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
        assert reply.content != SOMETHING_WENT_WRONG


@E2E
@given(
    level=st.floats(-(2.0**53), 2.0**53),
    hysteresis=st.floats(-1e6, 1e6),
    cooldown=TEXT.filter(str.strip),
    note=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300),
)
async def test_alert_add_with_any_numbers_and_text(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    level: float,
    hysteresis: float,
    cooldown: str,
    note: str,
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "BTCUSDT",
            "settings": f"level={level!r} hysteresis_pct={hysteresis!r}",
            "cooldown": cooldown,
            "note": note,
        },
        user_id=OWNER_ID,
    )
    check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))


@E2E
@given(rule=TEXT.filter(str.strip))
async def test_rule_commands_with_any_id(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, rule: str
) -> None:
    for name in ("alert pause", "alert resume", "alert remove"):
        reply = await discord_emu.slash(name, {"rule": rule}, user_id=OWNER_ID)
        check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
    assert len(await discord_emu.autocomplete("alert remove", {"rule": rule}, "rule", user_id=OWNER_ID)) <= 25


@pytest.mark.parametrize("name", ["price", "liquidations", "funding", "oi"])
async def test_symbol_autocomplete_with_odd_text(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, name: str
) -> None:
    for typed in ("", " ", "ÿ" * 100, "`@everyone`", "btc/", "1" * 500):
        choices = await discord_emu.autocomplete(name, {"symbol": typed}, "symbol")
        assert all(c["value"] in ("BTCUSDT", "ETHUSDT") for c in choices)
