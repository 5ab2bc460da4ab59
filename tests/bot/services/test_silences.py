"""Silences through the service: matchers, durations and end times, daily/weekly mute windows, their
limits and errors, and what the engine then mutes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.silencing import silence_matches, window
from bot.config import Config, parse_config
from bot.errors import UserError
from bot.notify.discord.render.base import CONTENT_LIMIT
from bot.services import Service
from bot.services.rules import RuleOptions
from bot.services.silences import MAX_SILENCES_PER_GUILD, parse_moment
from feeds.replay import parse_time
from storage.repo import Repo, RuleRow, SilenceRow
from storage.rows import DAY_MS, WEEK_MS
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.bot.support import Clock, discord_engine

GUILD = 1001
OTHER_GUILD = 1002
ADMIN = 2001
ALERTS = 3001
HOUR = 3_600_000
NOW = BREAKOUT_DAY_NOON  # Wednesday 2026-01-14 12:00 UTC


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(repo: Repo, clock: Clock) -> Service:
    config: Config = parse_config({"symbols": ["BTCUSDT", "ETHUSDT"]})
    service = Service(repo, discord_engine(repo), config, clock)
    service.setup(GUILD, ALERTS, None)
    return service


def test_a_silence_for_two_hours_mutes_matching_alerts_then_ends_by_itself(
    service: Service, repo: Repo, clock: Clock
) -> None:
    view = service.add_silence(GUILD, ADMIN, symbol="btc", detector="round_levels", duration_s=7200)
    assert (view.symbol, view.detector, view.active) == ("BTCUSDT", "round_levels", True)
    assert (view.window_start, view.window_end) == (NOW, NOW + 2 * HOUR)
    assert view.matchers == "BTCUSDT · round_levels"
    [active] = repo.active_silences(NOW + HOUR, GUILD)
    btc_round = RuleRow("r", "discord", "round_levels", "BTCUSDT", {}, guild_id=GUILD)
    assert silence_matches(active, btc_round, "info", GUILD)
    assert not silence_matches(active, RuleRow("e", "discord", "round_levels", "ETHUSDT", {}), "info", GUILD)
    assert not silence_matches(active, btc_round, "info", OTHER_GUILD)  # another server's alerts go on
    assert repo.active_silences(NOW + 2 * HOUR, GUILD) == []
    clock.now = NOW + 2 * HOUR
    assert service.list_silences(GUILD) == []


def test_an_end_time_the_next_clock_time_and_a_reason(service: Service) -> None:
    view = service.add_silence(
        GUILD, ADMIN, severity="info", until=parse_moment("18:00", NOW), reason="CPI day"
    )
    assert view.window_end == parse_time("2026-01-14T18:00Z") and view.reason == "CPI day"
    assert view.matchers == "info alerts" and view.created_by == ADMIN


def test_a_weekly_maintenance_hour_repeats_and_is_listed_with_its_next_window(
    service: Service, repo: Repo, clock: Clock
) -> None:
    sunday = parse_moment("sun 03:00", NOW)
    assert sunday == parse_time("2026-01-18T03:00Z")
    view = service.add_silence(GUILD, ADMIN, duration_s=3600, starts_at=sunday, recurrence="weekly")
    assert not view.active and view.window_start == sunday and view.length_s == 3600
    for week in range(3):
        at = sunday + week * WEEK_MS
        assert [s.id for s in repo.active_silences(at + 30 * 60_000, GUILD)] == [view.id]
        assert repo.active_silences(at + HOUR, GUILD) == []
    clock.now = sunday + WEEK_MS + 10 * 60_000
    [listed] = service.list_silences(GUILD)
    assert listed.active and listed.window_end == sunday + WEEK_MS + HOUR


def test_a_rule_silence_needs_a_rule_of_this_server_or_of_the_config_file(
    service: Service, repo: Repo
) -> None:
    mine = service.add_rule(
        GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 95000}, RuleOptions(), is_admin=True
    )
    theirs = service.add_rule(
        OTHER_GUILD,
        ADMIN,
        "level_cross",
        "BTCUSDT",
        {"level": 96000},
        RuleOptions(channel_id=9),
        is_admin=True,
    )
    repo.save_rule(RuleRow("btc-95k", "config", "level_cross", "BTCUSDT", {"level": 95000.0}))
    assert service.add_silence(GUILD, ADMIN, rule_id=mine.id, duration_s=600).rule_id == mine.id
    assert service.add_silence(GUILD, ADMIN, rule_id="btc-95k", duration_s=600).rule_id == "btc-95k"
    with pytest.raises(UserError, match="There is no alert"):
        service.add_silence(GUILD, ADMIN, rule_id=theirs.id, duration_s=600)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "Give either a duration"),
        ({"duration_s": 3600, "until": NOW + HOUR}, "Give either a duration"),
        ({"duration_s": 30}, "at least 1m"),
        ({"until": NOW - HOUR}, "at least 1m"),
        ({"duration_s": 3600, "starts_at": NOW - 2 * HOUR}, "would already be over"),
        ({"duration_s": 86_400, "recurrence": "daily"}, "shorter than 1d"),
        ({"duration_s": 7 * 86_400, "recurrence": "weekly"}, "shorter than 1w"),
        ({"duration_s": 3600, "recurrence": "monthly"}, "not daily or weekly"),
        ({"duration_s": 3600, "detector": "moon_phase"}, "Unknown detector"),
        ({"duration_s": 3600, "severity": "apocalyptic"}, "Unknown severity"),
        ({"duration_s": 3600, "symbol": "DOGE"}, "Unknown symbol"),
        ({"duration_s": 3600, "reason": "x" * 201}, "at most 200"),
        ({"duration_s": 400 * 86_400}, "at most"),
    ],
)
def test_bad_silences_are_refused_with_what_to_fix(
    service: Service, options: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        service.add_silence(GUILD, ADMIN, **options)  # type: ignore[arg-type]


def test_a_server_has_at_most_fifty_silences(service: Service) -> None:
    for _ in range(MAX_SILENCES_PER_GUILD):
        service.add_silence(GUILD, ADMIN, duration_s=3600)
    with pytest.raises(UserError, match="already has 50 silences"):
        service.add_silence(GUILD, ADMIN, duration_s=3600)
    service.add_silence(OTHER_GUILD, ADMIN, duration_s=3600)  # the quota is per server


def test_remove_ends_a_silence_of_this_server_only(service: Service, repo: Repo) -> None:
    view = service.add_silence(GUILD, ADMIN, duration_s=3600)
    with pytest.raises(UserError, match=f"no silence #{view.id} in this server"):
        service.remove_silence(OTHER_GUILD, view.id)
    assert service.remove_silence(GUILD, view.id).id == view.id
    assert service.list_silences(GUILD) == [] and repo.active_silences(NOW + 1, GUILD) == []
    with pytest.raises(UserError, match="no silence"):
        service.remove_silence(GUILD, view.id)


def test_list_shows_silences_in_force_first_and_choices_match_what_was_typed(service: Service) -> None:
    later = service.add_silence(GUILD, ADMIN, duration_s=3600, starts_at=NOW + HOUR, reason="later")
    now = service.add_silence(GUILD, ADMIN, symbol="ETHUSDT", duration_s=3600, reason="now")
    assert [v.id for v in service.list_silences(GUILD)] == [now.id, later.id]
    assert service.silence_choices(GUILD, "eth") == [(now.id, f"#{now.id} · ETHUSDT · now")]
    assert [c for c, _ in service.silence_choices(GUILD, f"#{later.id}")] == [later.id]


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(TEXT)
def test_any_time_text_is_a_time_or_a_readable_error(text: str) -> None:
    try:
        moment = parse_moment(text, NOW)
    except UserError as error:
        assert (
            error.message.strip() and len(error.message) <= CONTENT_LIMIT and "@everyone" not in error.message
        )
    else:
        assert datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000 <= moment


@given(
    st.sampled_from(["daily", "weekly"]),
    st.integers(0, 10 * WEEK_MS),
    st.integers(60_000, WEEK_MS - 1),
    st.integers(0, 30 * WEEK_MS),
)
def test_a_recurring_window_is_in_force_exactly_when_the_database_says(
    recurrence: str, start: int, length: int, offset: int
) -> None:
    period = DAY_MS if recurrence == "daily" else WEEK_MS
    length = min(length, period - 1)
    row = SilenceRow(1, GUILD, None, None, None, None, start, start + length, recurrence, None, None, 0)
    now = start + offset
    active, begins, ends = window(row, now)
    assert ends - begins == length and (begins - start) % period == 0
    if active:
        assert begins <= now < ends
    else:
        assert now < begins <= now + period
    # The same rule as the engine's SQL query (Repo.active_silences), checked from the other side.
    assert active == ((now - start) % period < length)
