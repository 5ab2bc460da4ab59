"""Decide where each alert goes: the rule's own channel or DM, the config file's routes, the console."""

from __future__ import annotations

from collections.abc import Sequence

from bot.alerts.model import WEBHOOK_SINK, Target, severity_at_least
from bot.config import RouteConfig, WebhookOutConfig
from storage.repo import Repo, RuleRow


class AlertRouter:
    """Route each alert to its targets: a Discord rule's to its channel or DM, a config rule's by its routes.

    A Discord rule's alert goes to its channel (or the guild default, or a DM), a config rule's to every
    matching ``[[routes]]`` entry; optionally everything goes to the console too, and to every matching
    ``[[webhooks_out]]`` URL.
    """

    def __init__(
        self,
        repo: Repo,
        routes: Sequence[RouteConfig],
        *,
        console: bool,
        discord: bool,
        webhooks: Sequence[WebhookOutConfig] = (),
    ) -> None:
        self.repo = repo
        self.routes = list(routes)
        self.console = console
        self.discord = discord
        self.webhooks = list(webhooks)

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
                settings = self.repo.guild_settings(rule.guild_id)
                channel = settings.alert_channel_id if settings else None
            if channel is None:
                return []
            return [Target("discord", f"channel:{channel}", rule.guild_id, rule.role_id)]
        targets: list[Target] = []
        if rule.channel_id is not None:
            targets.append(Target("discord", f"channel:{rule.channel_id}", None, rule.role_id))
        for route in self.routes:
            if route.symbols and rule.symbol not in route.symbols:
                continue
            if route.detectors and rule.detector not in route.detectors:
                continue
            if not severity_at_least(severity, route.min_severity):
                continue
            role = rule.role_id if rule.role_id is not None else route.role_id
            targets.append(Target("discord", f"channel:{route.channel_id}", route.guild_id, role))
        return targets

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
