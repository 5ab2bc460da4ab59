"""Rules in bulk: several levels at once, and export/import of a server's or a member's rules as TOML."""

from __future__ import annotations

import tomllib

import pytest

from bot.alerts.engine import Engine
from bot.config import Config, parse_config
from bot.errors import UserError
from bot.services import Service
from bot.services.rule_transfer import IMPORT_PAUSED_REASON, parse_levels
from bot.services.rules import RuleOptions
from bot.services.rules_file import MAX_FILE_BYTES
from storage.repo import Repo
from tests.bot.scenario import BREAKOUT_DAY_NOON, seed
from tests.bot.support import Clock, FixedFeeds, discord_engine, numbered_ids

GUILD = 1001
OTHER_GUILD = 1002
ADMIN = 2001
MEMBER = 2002
OTHER_MEMBER = 2003
ALERTS = 3001
ROLE = 4001
CHANNEL = RuleOptions(channel_id=ALERTS)
DM = RuleOptions(deliver="dm")


@pytest.fixture
def config() -> Config:
    return parse_config(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"max_rules_per_user": 6, "max_rules_per_guild": 10}}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(BREAKOUT_DAY_NOON)


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


@pytest.fixture
def service(repo: Repo, engine: Engine, config: Config, clock: Clock) -> Service:
    seed(repo)
    return Service(repo, engine, config, clock, FixedFeeds([]), new_suffix=numbered_ids())


def levels_of(repo: Repo, guild: int = GUILD) -> list[float]:
    return sorted(r.settings["level"] for r in repo.rules(guild_id=guild) if "level" in r.settings)


def test_levels_make_one_rule_each_with_the_same_settings_and_options(service: Service, repo: Repo) -> None:
    views = service.add_rules_at_levels(
        GUILD,
        ADMIN,
        "level_cross",
        "btc",
        {"direction": "up"},
        parse_levels("95000, 100000 $105,000".replace("$105,000", "105000")),
        RuleOptions(channel_id=ALERTS, note="ladder"),
        is_admin=True,
    )
    assert [v.level for v in views] == [95000.0, 100000.0, 105000.0]
    rows = repo.rules(guild_id=GUILD)
    assert {(r.symbol, r.settings["direction"], r.channel_id, r.note) for r in rows} == {
        ("BTCUSDT", "up", ALERTS, "ladder")
    }
    assert len({r.id for r in rows}) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "`levels` is empty"),
        ("95000, lots", "`lots` in `levels` is not a price"),
        ("95000 95000", "`levels` names 95000 twice"),
        (" ".join(str(90000 + i) for i in range(11)), "one command sets at most 10"),
    ],
)
def test_bad_levels_text_says_which_word(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_levels(text)


def test_levels_are_all_or_nothing(service: Service, repo: Repo) -> None:
    service.add_rule(
        GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 100000, "direction": "up"}, CHANNEL, is_admin=True
    )
    # 100,000 already exists: the other two are not created either.
    with pytest.raises(UserError, match="already does exactly this"):
        service.add_rules_at_levels(
            GUILD, ADMIN, "level_cross", "BTCUSDT", {"direction": "up"}, [95000, 100000, 105000], CHANNEL,
            is_admin=True,
        )  # fmt: skip
    assert levels_of(repo) == [100000.0]
    # A bad level (negative) refuses all of them, before any is stored.
    with pytest.raises(UserError, match="level"):
        service.add_rules_at_levels(
            GUILD, ADMIN, "level_cross", "BTCUSDT", {}, [95000, -1], CHANNEL, is_admin=True
        )
    assert levels_of(repo) == [100000.0]


def test_levels_respect_the_quota_for_the_whole_batch(service: Service, repo: Repo) -> None:
    with pytest.raises(UserError, match="That is 7 alerts; you have 0 of the 6 one member may have"):
        service.add_rules_at_levels(
            GUILD, MEMBER, "level_cross", "BTCUSDT", {}, [90000 + i * 1000 for i in range(7)], DM,
            is_admin=False,
        )  # fmt: skip
    assert repo.rules(guild_id=GUILD) == []


def test_levels_only_for_detectors_with_a_level(service: Service) -> None:
    with pytest.raises(UserError, match="pct_move has no `level` setting"):
        service.add_rules_at_levels(GUILD, ADMIN, "pct_move", "BTCUSDT", {}, [1.0], CHANNEL, is_admin=True)
    with pytest.raises(UserError, match="either in `settings` or in `levels`"):
        service.add_rules_at_levels(
            GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 1.0}, [2.0], CHANNEL, is_admin=True
        )


def make_server_rules(service: Service) -> None:
    service.add_rule(
        GUILD,
        ADMIN,
        "level_cross",
        "BTCUSDT",
        {"level": 95000, "direction": "up", "confirm": "1d"},
        RuleOptions(channel_id=ALERTS, role_id=ROLE, note="weekly", repeat=False, cooldown_s=900,
                    expires_in_s=7 * 86_400),
        is_admin=True,
    )  # fmt: skip
    service.add_rule(
        GUILD, ADMIN, "funding", "ETHUSDT", {"high_pct": None, "low_pct": -0.05}, CHANNEL, is_admin=True
    )
    service.add_rule(GUILD, ADMIN, "fear_greed", None, {}, CHANNEL, is_admin=True)
    service.add_rule(GUILD, MEMBER, "level_cross", "ETHUSDT", {"level": 3500}, DM)


def test_a_server_export_has_the_channel_rules_only_and_reads_back_as_config_rules(
    service: Service, repo: Repo
) -> None:
    make_server_rules(service)
    exported = service.export_rules(GUILD, ADMIN, is_admin=True)
    assert exported.count == 3 and exported.scope == "server"
    assert exported.filename.endswith(".toml") and str(GUILD) in exported.filename
    tables = tomllib.loads(exported.text)["rules"]
    assert sorted(t["detector"] for t in tables) == ["fear_greed", "funding", "level_cross"]
    level = next(t for t in tables if t["detector"] == "level_cross")
    assert level["symbol"] == "BTCUSDT" and level["level"] == 95000 and level["confirm"] == "1d"
    assert (level["role_id"], level["note"], level["repeat"], level["cooldown_seconds"]) == (
        ROLE,
        "weekly",
        False,
        900,
    )
    assert level["expires_at"].year == 2026
    # A setting off where its default is on reads "off", as /alert add takes it; defaults are left out.
    funding = next(t for t in tables if t["detector"] == "funding")
    assert funding["high_pct"] == "off" and funding["low_pct"] == -0.05
    assert "symbol" not in next(t for t in tables if t["detector"] == "fear_greed")
    # The member's personal alert is theirs: not in the server export, in theirs.
    assert "3500" not in exported.text
    mine = service.export_rules(GUILD, MEMBER, is_admin=False)
    assert mine.scope == "mine" and mine.count == 1
    [personal] = tomllib.loads(mine.text)["rules"]
    assert (personal["deliver"], personal["level"]) == ("dm", 3500)
    with pytest.raises(UserError, match="needs the Manage Server permission"):
        service.export_rules(GUILD, MEMBER, is_admin=False, scope="server")


def test_export_then_import_into_another_server_round_trips_every_setting(
    service: Service, repo: Repo, clock: Clock
) -> None:
    make_server_rules(service)
    exported = service.export_rules(GUILD, ADMIN, is_admin=True)
    plan = service.plan_import(OTHER_GUILD, ADMIN, exported.text.encode(), is_admin=True)
    # The ids are taken (by the first server's rules): each is created under a new id.
    assert [p.action for p in plan.rules] == ["create"] * 3
    assert all(p.renamed_from is not None and p.row.id != p.renamed_from for p in plan.rules)
    service.apply_import(OTHER_GUILD, ADMIN, exported.text.encode(), is_admin=True)

    def portable(guild: int) -> list[tuple[object, ...]]:
        return sorted(
            (r.detector, r.symbol, tuple(sorted(r.settings.items(), key=str)), r.channel_id, r.role_id,
             r.note, r.repeat, r.cooldown_s, r.expires_at, r.deliver, r.enabled)
            for r in repo.rules(guild_id=guild)
            if r.deliver == "channel"
        )  # fmt: skip

    assert portable(OTHER_GUILD) == portable(GUILD)
    # Importing the same file again changes nothing.
    again = service.export_rules(OTHER_GUILD, ADMIN, is_admin=True)
    replan = service.plan_import(OTHER_GUILD, ADMIN, again.text.encode(), is_admin=True)
    assert [p.action for p in replan.rules] == ["unchanged"] * 3 and replan.changes == 0


def test_an_import_into_the_same_server_updates_by_id_and_says_what_changes(
    service: Service, repo: Repo, engine: Engine
) -> None:
    make_server_rules(service)
    service.setup(GUILD, alert_channel_id=ALERTS)
    exported = service.export_rules(GUILD, ADMIN, is_admin=True)
    edited = exported.text.replace("level = 95000", "level = 96000").replace('note = "weekly"', 'note = "w2"')
    edited += '\n[[rules]]\nid = "eth-3400"\ndetector = "level_cross"\nsymbol = "ETHUSDT"\nlevel = 3400\n'
    edited += "enabled = false\n"
    plan = service.plan_import(GUILD, ADMIN, edited.encode(), is_admin=True)
    assert sorted(p.action for p in plan.rules) == ["create", "unchanged", "unchanged", "update"]
    [update] = plan.of("update")
    assert set(update.changes) == {"level: 95000 → 96000", "note: weekly → w2"}
    service.apply_import(GUILD, ADMIN, edited.encode(), is_admin=True)
    changed = repo.rule(update.row.id)
    assert changed is not None and changed.settings["level"] == 96000.0 and changed.note == "w2"
    created = repo.rule("eth-3400")
    assert created is not None and not created.enabled and created.status_reason == IMPORT_PAUSED_REASON
    assert created.channel_id is None  # the server's alert channel, as /alert add without `channel`
    # The engine knows the changed rule by its new settings.
    active = {r.row.id: r.row for r in engine.rules()}
    assert active[update.row.id].settings["level"] == 96000.0 and "eth-3400" not in active


def test_an_import_lists_every_problem_with_its_place_and_changes_nothing(
    service: Service, repo: Repo
) -> None:
    make_server_rules(service)
    service.setup(GUILD, alert_channel_id=ALERTS)
    before = repo.rules()
    bad = b"""
[[rules]]
id = "a"
detector = "level_cross"
symbol = "BTCUSDT"
level = -5

[[rules]]
id = "b"
detector = "nope"

[[rules]]
id = "c"
detector = "level_cross"
symbol = "XRPUSDT"
level = 1

[[rules]]
id = "d"
detector = "pct_move"
symbol = "BTCUSDT"
deliver = "carrier pigeon"

[[rules]]
id = "e"
detector = "level_cross"
symbol = "BTCUSDT"
level = 1
expires_at = 2020-01-01T00:00:00Z

[[rules]]
id = "e"
detector = "level_cross"
symbol = "BTCUSDT"
level = 2
"""
    with pytest.raises(UserError) as caught:
        service.plan_import(GUILD, ADMIN, bad, is_admin=True)
    text = str(caught.value)
    assert text.startswith("Nothing was imported: 6 problems in the file.")
    for expected in (
        "rules[0] (a): ",
        "greater than 0",
        "rules[1] (b): detector: unknown detector 'nope'",
        "rules[2] (c): Unknown symbol `XRPUSDT`",
        "rules[3] (d): `deliver` is `carrier pigeon`",
        "rules[4] (e): `expires_at` 2020-01-01T00:00:00+00:00 is in the past",
        "rules[5] (e): the id `e` is used by an earlier rule of the file.",
    ):
        assert expected in text, (expected, text)
    assert repo.rules() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[[rules]\n", "The file is not valid TOML"),
        (b"\xff\xfe", "The file is not UTF-8 text"),
        (b'symbols = ["BTCUSDT"]\n', "A rules file has only [[rules]] tables; it also has symbols"),
        (b"# nothing\n", "The file has no [[rules]] tables."),
        (b"rules = 5\n", "`rules` must be an array of tables"),
        (b"#" * (MAX_FILE_BYTES + 1), "a rules file may be at most 262,144"),
    ],
)
def test_a_file_that_is_not_a_rules_file_is_refused_plainly(
    service: Service, data: bytes, message: str
) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        service.plan_import(GUILD, ADMIN, data, is_admin=True)


def test_a_member_imports_personal_alerts_only_and_never_touches_anyone_elses(
    service: Service, repo: Repo
) -> None:
    make_server_rules(service)
    server_file = service.export_rules(GUILD, ADMIN, is_admin=True).text.encode()
    # The server's rules post in channels: a member cannot import them as they are.
    with pytest.raises(UserError, match="Alerts in channels need the Manage Server permission") as caught:
        service.plan_import(GUILD, OTHER_MEMBER, server_file, is_admin=False)
    assert "rules[0]" in str(caught.value)
    # Someone else's personal alert file: same ids, but they are another member's; new rules are made.
    theirs = service.export_rules(GUILD, MEMBER, is_admin=False).text.encode()
    plan = service.plan_import(GUILD, OTHER_MEMBER, theirs, is_admin=False)
    [created] = plan.rules
    assert created.action == "create" and created.renamed_from is not None
    service.apply_import(GUILD, OTHER_MEMBER, theirs, is_admin=False)
    owners = sorted((r.owner_id, r.deliver) for r in repo.rules(guild_id=GUILD) if r.deliver == "dm")
    assert owners == [(MEMBER, "dm"), (OTHER_MEMBER, "dm")]
    # An admin's import does not change a member's personal alert either, even with its id.
    plan = service.plan_import(GUILD, ADMIN, theirs, is_admin=True)
    assert [p.action for p in plan.rules] == ["create"]


def test_an_import_past_the_quota_is_refused_whole(service: Service, repo: Repo) -> None:
    # The server's channel alerts count against the server's quota (10), not the importing admin's (6).
    rules = "".join(
        f'[[rules]]\nid = "l{i}"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = {90000 + i}\n'
        f"channel_id = {ALERTS}\n"
        for i in range(11)
    )
    with pytest.raises(UserError, match="The file would add 11 alerts; this server has 0 of the 10"):
        service.plan_import(GUILD, ADMIN, rules.encode(), is_admin=True)
    assert repo.rules(guild_id=GUILD) == []
    ten = rules[: rules.index('id = "l10"')].removesuffix("[[rules]]\n")
    service.apply_import(GUILD, ADMIN, ten.encode(), is_admin=True)
    assert len(repo.rules(guild_id=GUILD)) == 10
    # A member's personal alerts count against their own quota (6).
    personal = "".join(
        f'[[rules]]\nid = "p{i}"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = {90000 + i}\n'
        'deliver = "dm"\n'
        for i in range(7)
    )
    with pytest.raises(UserError, match="The file would add 7 personal alerts; you have 0 of the 6"):
        service.plan_import(OTHER_GUILD, MEMBER, personal.encode(), is_admin=False)


def test_the_operator_imports_channel_rules_without_an_owner(service: Service, repo: Repo) -> None:
    file = (
        '[[rules]]\nid = "x"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = 1.5\n'
        f"channel_id = {ALERTS}\n"
    )
    service.apply_import(GUILD, None, file.encode(), is_admin=True)
    rule = repo.rule("x")
    assert rule is not None and rule.owner_id is None and rule.deliver == "channel"
    with pytest.raises(UserError, match="needs the member it belongs to"):
        service.plan_import(
            GUILD, None, b'[[rules]]\nid = "y"\ndetector = "fear_greed"\ndeliver = "dm"\n', is_admin=True
        )
