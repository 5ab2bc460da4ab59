"""Decide where each alert goes: its rule's channel or DM, the config's routes, console and webhooks.

Webhooks are the config's ``[[webhooks_out]]``.

A config-file rule that no ``[[routes]]`` entry names (and that names no channel of its own) goes to the
*home server*'s alert channel (``/setup alert_channel``). The home server is the one server of
``[discord] guild_ids`` when it lists exactly one: a bot set up for one community. A bot listing several
servers (or none: commands synced globally) has no home server, and its config rules go only where
``[[routes]]`` say: one operator's rules are not posted into every community that invited the bot, and
which server they would go to never changes with who ran /setup last. A rule with no destination still
records its alerts (``/history`` of no server shows them); the start log, ``/status`` and the log at its
first alert say how many such rules there are and why (``unrouted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.alerts.model import WEBHOOK_SINK, Target, severity_at_least
from bot.config import Config, RouteConfig, WebhookOutConfig
from detectors.base import SEVERITIES
from storage.repo import Repo, RuleRow


def home_guild(config: Config) -> int | None:
    """Return the server whose alert channel takes the config rules no route names, or None."""
    guilds = set(config.discord.guild_ids)
    return next(iter(guilds)) if len(guilds) == 1 else None


class AlertRouter:
    """Route each alert to its targets: a Discord rule's to its channel or DM, a config rule's by its routes.

    A Discord rule's alert goes to its channel (or the guild default, or a DM), a config rule's to every
    matching ``[[routes]]`` entry, or to the home server's alert channel when no entry names the rule;
    optionally everything goes to the console too, and to every matching ``[[webhooks_out]]`` URL.
    """

    def __init__(
        self,
        repo: Repo,
        routes: Sequence[RouteConfig],
        *,
        console: bool,
        discord: bool,
        home_guild_id: int | None = None,
        webhooks: Sequence[WebhookOutConfig] = (),
    ) -> None:
        self.repo = repo
        self.routes = list(routes)
        self.console = console
        self.discord = discord
        self.home_guild_id = home_guild_id
        self.webhooks = list(webhooks)

    @classmethod
    def for_config(
        cls, repo: Repo, config: Config, *, console: bool, discord: bool, webhooks: bool = False
    ) -> AlertRouter:
        """Return the router of a config file: its routes, its home server and (``webhooks``) its hooks."""
        return cls(
            repo,
            config.routes,
            console=console,
            discord=discord,
            home_guild_id=home_guild(config),
            webhooks=config.webhooks_out if webhooks else (),
        )

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the delivery targets for an alert of ``rule``."""
        found: list[Target] = []
        if self.console:
            found.append(Target("console", "stdout"))
        if self.discord:
            found += self._discord_targets(rule, severity)
        found += self._webhook_targets(rule, severity)
        unique: dict[tuple[str, str], Target] = {}
        for target in found:
            unique.setdefault((target.sink, target.address), target)
        return list(unique.values())

    def _discord_targets(self, rule: RuleRow, severity: str) -> list[Target]:
        if rule.origin == "discord":
            if rule.deliver == "dm" and rule.owner_id is not None:
                return [Target("discord", f"user:{rule.owner_id}", rule.guild_id, None)]
            channel = rule.channel_id
            if channel is None and rule.guild_id is not None:
                channel = self._alert_channel(rule.guild_id)
            if channel is None:
                return []
            return [Target("discord", f"channel:{channel}", rule.guild_id, rule.role_id)]
        targets: list[Target] = []
        if rule.channel_id is not None:
            targets.append(Target("discord", f"channel:{rule.channel_id}", None, rule.role_id))
        for route in self.routes:
            if not self._names(route, rule) or not severity_at_least(severity, route.min_severity):
                continue
            role = rule.role_id if rule.role_id is not None else route.role_id
            targets.append(Target("discord", f"channel:{route.channel_id}", route.guild_id, role))
        if not targets and not self.named_by_a_route(rule) and self.home_guild_id is not None:
            # Only a rule no route names at all: a route's min_severity keeping an alert out is on purpose.
            channel = self._alert_channel(self.home_guild_id)
            if channel is not None:
                targets.append(Target("discord", f"channel:{channel}", self.home_guild_id, rule.role_id))
        return targets

    @staticmethod
    def _names(route: RouteConfig, rule: RuleRow) -> bool:
        return (not route.symbols or rule.symbol in route.symbols) and (
            not route.detectors or rule.detector in route.detectors
        )

    def named_by_a_route(self, rule: RuleRow) -> bool:
        """Return whether a config rule has a channel of its own or a ``[[routes]]`` entry naming it."""
        return rule.channel_id is not None or any(self._names(route, rule) for route in self.routes)

    def _alert_channel(self, guild_id: int) -> int | None:
        settings = self.repo.guild_settings(guild_id)
        return settings.alert_channel_id if settings else None

    def _webhook_targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the outgoing webhooks whose filters the alert passes (the address is the hook's name)."""
        targets: list[Target] = []
        for hook in self.webhooks:
            if rule.deliver == "dm" and not hook.include_personal:
                continue
            if hook.guild_ids and rule.guild_id not in hook.guild_ids:
                continue
            if hook.symbols and rule.symbol not in hook.symbols:
                continue
            if hook.detectors and rule.detector not in hook.detectors:
                continue
            if severity_at_least(severity, hook.min_severity):
                targets.append(Target(WEBHOOK_SINK, hook.name, rule.guild_id, None))
        return targets


@dataclass(frozen=True, slots=True)
class Unrouted:
    """The enabled rules whose alerts go nowhere (recorded in history only), and why, in words."""

    rule_ids: tuple[str, ...]
    reason: str

    @property
    def count(self) -> int:
        """Return how many rules have no destination."""
        return len(self.rule_ids)

    def describe(self) -> str:
        """Return one sentence for the log and /status: how many, which, why and what to do."""
        shown = ", ".join(self.rule_ids[:5]) + (", …" if self.count > 5 else "")
        rules = "rule has" if self.count == 1 else "rules have"
        return f"{self.count} {rules} no destination ({shown}): {self.reason}"


def unrouted(router: AlertRouter, rules: Iterable[RuleRow]) -> Unrouted | None:
    """Return the enabled config-file rules none of whose alerts would be delivered anywhere now, or None.

    A rule made in Discord always has a destination while it is enabled (/alert add needs one, and a
    channel that breaks switches the rule off), so only the config file's rules are looked at.
    """
    lost = tuple(
        r.id
        for r in rules
        if r.origin == "config"
        and r.enabled
        and not any(router.targets(r, severity) for severity in SEVERITIES)
    )
    if not lost:
        return None
    return Unrouted(lost, _reason(router))


def _reason(router: AlertRouter) -> str:
    """Return why a config rule has no destination under this router, and what would give it one."""
    if not router.discord:
        return (
            "Discord is off (no token, or --no-discord), nothing is written to the console and no "
            "[[webhooks_out]] entry takes them."
        )
    home = router.home_guild_id
    if home is None:
        return (
            "no [[routes]] entry names them, and only a bot set up for one server ([discord] guild_ids "
            "listing exactly one) sends such rules to that server's /setup alert_channel. Add [[routes]] "
            "(guild_id, channel_id) to the config file."
        )
    return (
        f"no [[routes]] entry names them and server {home} has no alert channel yet. Run /setup "
        "alert_channel there (they are posted in it from then on), or add [[routes]] to the config file."
    )
