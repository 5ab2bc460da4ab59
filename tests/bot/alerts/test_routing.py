"""Where config-file rules go with and without [[routes]], and how rules with no destination are told.

The rules are the example config's (config.example.toml), stored as ``tripwire run`` stores them.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.engine import make_engine
from bot.alerts.model import Target
from bot.alerts.routing import AlertRouter, home_guild, unrouted
from bot.alerts.rules import sync_config_rules
from bot.config import Config, parse_config
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.scenario import seed

ROOT = Path(__file__).resolve().parents[3]
HOME = 1190000000000001000
OTHER = 1190000000000002000
ALERTS = 1190000000000001101
ROUTED = 1190000000000001102
NOW = 1_768_300_000_000


def enabled_rules(config: Config) -> int:
    """Return how many config rules are switched on (a switched-off one never fires, so never goes astray)."""
    return sum(1 for rule in config.rules if rule.get("enabled", True))


def example(**changes: Any) -> Config:
    """Return the example config with ``changes`` applied to its top level and [discord]."""
    data = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    data["discord"] = {**data["discord"], **changes.pop("discord", {})}
    return parse_config({**data, **changes})


def stored(repo: Repo, config: Config) -> AlertRouter:
    """Store the config's rules and return its router, as ``tripwire run`` with Discord builds it."""
    sync_config_rules(repo, config, NOW)
    return AlertRouter.for_config(repo, config, console=False, discord=True)


def test_a_one_server_bot_posts_unrouted_config_rules_in_its_alert_channel_once_set(repo: Repo) -> None:
    config = example(discord={"guild_ids": [HOME]})
    assert home_guild(config) == HOME
    router = stored(repo, config)
    rule = repo.rule("btc-95k")
    assert rule is not None and router.targets(rule, "warning") == []
    lost = unrouted(router, repo.rules())
    assert lost is not None and lost.count == enabled_rules(config)
    assert lost.describe().startswith(f"{lost.count} rules have no destination (btc-30d-range, btc-7d-")
    assert f"server {HOME} has no alert channel yet. Run /setup alert_channel there" in lost.describe()

    repo.update_guild_settings(HOME, NOW, alert_channel_id=ALERTS)
    assert router.targets(rule, "info") == [Target("discord", f"channel:{ALERTS}", HOME, None)]
    assert unrouted(router, repo.rules()) is None


def test_a_route_naming_a_rule_wins_and_its_min_severity_is_not_undone_by_the_alert_channel(
    repo: Repo,
) -> None:
    route = {"guild_id": HOME, "channel_id": ROUTED, "detectors": ["liquidation_cascade"]}
    config = example(discord={"guild_ids": [HOME]}, routes=[{**route, "min_severity": "critical"}])
    router = stored(repo, config)
    repo.update_guild_settings(HOME, NOW, alert_channel_id=ALERTS)
    cascade, level = repo.rule("btc-liquidations"), repo.rule("btc-95k")
    assert cascade is not None and level is not None
    assert router.targets(cascade, "critical") == [Target("discord", f"channel:{ROUTED}", HOME, None)]
    # A warning the route keeps out on purpose goes nowhere, not to the alert channel.
    assert router.targets(cascade, "warning") == []
    # A rule no route names goes to the alert channel.
    assert router.targets(level, "warning") == [Target("discord", f"channel:{ALERTS}", HOME, None)]
    assert unrouted(router, repo.rules()) is None


def test_a_bot_of_several_servers_or_none_listed_sends_config_rules_only_where_routes_say(
    repo: Repo,
) -> None:
    for guilds in ([HOME, OTHER], []):
        config = example(discord={"guild_ids": guilds})
        assert home_guild(config) is None
        router = stored(repo, config)
        for guild in (HOME, OTHER):
            repo.update_guild_settings(guild, NOW, alert_channel_id=ALERTS)
        rule = repo.rule("fear-greed")
        assert rule is not None and router.targets(rule, "info") == []
        lost = unrouted(router, repo.rules())
        assert lost is not None and lost.count == enabled_rules(config)
        assert "only a bot set up for one server ([discord] guild_ids listing exactly one)" in lost.reason


def test_without_discord_the_console_is_a_destination_and_with_neither_it_is_said(repo: Repo) -> None:
    config = example()
    sync_config_rules(repo, config, NOW)
    console = AlertRouter.for_config(repo, config, console=True, discord=False)
    assert unrouted(console, repo.rules()) is None
    neither = AlertRouter.for_config(repo, config, console=False, discord=False)
    lost = unrouted(neither, repo.rules())
    assert lost is not None and lost.reason.startswith("Discord is off")
    # A disabled rule fires nothing, so it is not counted.
    rule = repo.rule("fear-greed")
    assert rule is not None
    repo.set_rule_enabled(rule.id, False, "disabled in the config file", NOW)
    after = unrouted(neither, repo.rules())
    assert after is not None and after.count == enabled_rules(config) - 1
    assert "fear-greed" not in after.rule_ids


def test_the_live_engine_logs_once_per_rule_that_an_alert_was_recorded_with_nowhere_to_go(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    # The bundled scenario: BTC closed above $95,000 at 23:00 on 2026-01-13.
    config = parse_config(
        {"symbols": ["BTCUSDT"], "rules": [{"id": "btc-95k", "detector": "level_cross", "symbol": "BTCUSDT",
                                            "level": 95000, "direction": "up"}]}
    )  # fmt: skip
    history = seed(repo)
    sync_config_rules(repo, config, parse_time("2026-01-13T20:00Z"))
    router = AlertRouter.for_config(repo, config, console=False, discord=True)
    engine = make_engine(config.engine, repo, history, router, warn_unrouted=True)
    engine.load()
    engine.evaluate(parse_time("2026-01-13T22:00Z"))  # learns that BTC is below the level
    with caplog.at_level(logging.WARNING, logger="bot.alerts.engine"):
        [fired] = engine.evaluate(parse_time("2026-01-14T00:00Z"))
        engine.evaluate(parse_time("2026-01-14T01:00Z"))
    assert fired.state == "firing" and fired.queued == 0  # recorded, delivered nowhere
    [said] = [r.getMessage() for r in caplog.records if r.name == "bot.alerts.engine"]
    assert said.startswith(f"rule btc-95k fired (alert #{fired.event_id}) but has no destination")


def test_an_outgoing_webhook_taking_a_rule_is_a_destination(repo: Repo) -> None:
    hook = {"name": "ops", "url": "https://hooks.example/tripwire", "secret_env": "HOOK_SECRET"}
    config = example(webhooks_out=[{**hook, "detectors": ["fear_greed"]}])
    sync_config_rules(repo, config, NOW)
    router = AlertRouter.for_config(repo, config, console=False, discord=True, webhooks=True)
    lost = unrouted(router, repo.rules())
    assert lost is not None and "fear-greed" not in lost.rule_ids and lost.count == enabled_rules(config) - 1
    # Without its webhooks (what /history and /status read for Discord) the rule has no Discord channel.
    discord_only = AlertRouter.for_config(repo, config, console=False, discord=True)
    rule = repo.rule("fear-greed")
    assert rule is not None and discord_only.targets(rule, "info") == []
