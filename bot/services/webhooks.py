"""The /webhook commands: add, list and remove a server's inbound webhook routes, with no ``import discord``.

A route is a URL that TradingView (or any sender) posts alerts to; each has its own secret and its own
``webhook`` rule, whose channel, role and cooldown decide where and how often its alerts go, and whose
alerts go through the same silences, grouping, history and /why as every other. The secret is made here,
shown once in the answer to /webhook add, and stored only as a SHA-256: it cannot be shown again, and a
lost one is replaced by removing the route and adding it anew.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from bot.alerts.model import WEBHOOK_DETECTOR
from bot.config import WebhooksInConfig as WebhooksInSettings
from bot.errors import UserError
from bot.inbound.endpoint import PATH_WITH_SECRET, secret_hash
from bot.parsing import check_quota, echo
from bot.services.base import ServiceBase
from detectors.base import MARKET_SYMBOL, SEVERITIES
from storage.repo import RuleRow, WebhookRouteRow

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
MAX_COOLDOWN_S = 86_400


@dataclass(frozen=True, slots=True)
class WebhookView:
    """A route as /webhook list shows it (never its secret: only its hash is kept)."""

    id: str
    name: str
    rule_id: str
    channel_id: int | None
    role_id: int | None
    default_severity: str
    cooldown_s: int
    max_body_bytes: int
    rate_per_minute: int
    created_by: int | None
    created_at: int
    last_used_at: int | None
    accepted: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A route just made, with the URL holding its secret: shown once, to the member who made it."""

    view: WebhookView
    url: str
    secret: str
    # Set when [webhooks_in] public_url is not: the URL is the bot's own address, likely not reachable.
    address_note: str | None


class WebhookCommands(ServiceBase):
    """Manage a server's inbound webhook routes."""

    def add_webhook(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        channel_id: int,
        *,
        severity: str = "warning",
        role_id: int | None = None,
        cooldown_s: int = 0,
    ) -> NewWebhook:
        """Make a route and its ``webhook`` rule; return the route with its URL and secret (shown once)."""
        settings = self._webhooks_on()
        name = name.strip().lower()
        if not NAME_PATTERN.match(name):
            raise UserError(
                f"{echo(name)} cannot name a webhook: use up to 24 lower-case letters, digits, - or _ "
                "(e.g. `tv-btc`)."
            )
        if severity not in SEVERITIES:
            raise UserError(f"The severity must be one of {', '.join(SEVERITIES)}.")
        if not 0 <= cooldown_s <= MAX_COOLDOWN_S:
            raise UserError("The cooldown must be between 0 and 1 day.")
        existing = self.repo.webhook_routes(guild_id)
        if any(route.name == name for route in existing):
            raise UserError(f"This server already has a webhook called `{name}`; pick another name.")
        check_quota(len(existing), settings.max_routes_per_guild, "webhooks", "/webhook remove")
        check_quota(
            self.repo.count_rules(guild_id=guild_id),
            self.config.discord.max_rules_per_guild,
            "alerts",
            "/alert remove",
        )
        now = self.now_ms()
        secret = secrets.token_urlsafe(24)
        rule = RuleRow(
            id=self._free_rule_id(name),
            origin="discord",
            detector=WEBHOOK_DETECTOR,
            symbol=MARKET_SYMBOL,  # each alert carries its own symbol
            settings={},
            guild_id=guild_id,
            owner_id=user_id,
            channel_id=channel_id,
            role_id=role_id,
            note=f"TradingView webhook {name}",
            cooldown_s=cooldown_s,
            created_at=now,
            updated_at=now,
        )
        route = WebhookRouteRow(
            id=self._free_route_id(),
            guild_id=guild_id,
            rule_id=rule.id,
            name=name,
            secret_sha256=secret_hash(secret),
            default_severity=severity,
            max_body_bytes=settings.max_body_bytes,
            rate_per_minute=settings.rate_per_minute,
            created_by=user_id,
            created_at=now,
        )
        with self.repo.transaction():
            self.repo.save_rule(rule)
            self.repo.add_webhook_route(route)
        self.engine.refresh_rule(rule.id)
        log.info("webhook %s (%s) added in guild %s by user %s", route.id, name, guild_id, user_id)
        base = settings.public_url.rstrip("/")
        note = None
        if not base:
            http = self.config.http
            base = f"http://{http.host}:{http.port}"
            note = (
                "The bot's operator has not set `[webhooks_in] public_url`, so this URL is the bot's own "
                "address; TradingView needs one it can reach on port 80 or 443."
            )
        path = PATH_WITH_SECRET.format(route=route.id, secret=secret)
        return NewWebhook(self._webhook_view(route, rule), base + path, secret, note)

    def list_webhooks(self, guild_id: int) -> list[WebhookView]:
        """Return the server's routes, oldest first."""
        self._webhooks_on()
        return [
            self._webhook_view(route, self.repo.rule(route.rule_id))
            for route in self.repo.webhook_routes(guild_id)
        ]

    def remove_webhook(self, guild_id: int, name: str) -> WebhookView:
        """Remove a route and its rule (its past alerts stay in the history)."""
        self._webhooks_on()
        wanted = name.strip().lower()
        route = next(
            (r for r in self.repo.webhook_routes(guild_id) if wanted in (r.name, r.id.lower())), None
        )
        if route is None:
            raise UserError(f"There is no webhook {echo(name)} in this server; /webhook list shows them.")
        view = self._webhook_view(route, self.repo.rule(route.rule_id))
        with self.repo.transaction():
            self.repo.delete_rule(route.rule_id)  # the route goes with its rule (ON DELETE CASCADE)
        self.engine.refresh_rule(route.rule_id)
        log.info("webhook %s (%s) removed in guild %s", route.id, route.name, guild_id)
        return view

    def webhook_choices(self, guild_id: int, typed: str) -> list[str]:
        """Return the names of the server's routes containing ``typed`` (for autocomplete)."""
        typed = typed.strip().lower()
        return [r.name for r in self.repo.webhook_routes(guild_id) if typed in r.name]

    def _webhooks_on(self) -> WebhooksInSettings:
        settings = self.config.webhooks_in
        if not settings.enabled:
            raise UserError(
                "Webhooks are off on this bot; its operator turns them on with `[webhooks_in]` in the config."
            )
        return settings

    def _free_rule_id(self, name: str) -> str:
        for _ in range(20):
            candidate = f"hook-{name}-{secrets.token_hex(2)}"
            if self.repo.rule(candidate) is None:
                return candidate
        raise RuntimeError("could not find a free rule id after 20 tries")

    def _free_route_id(self) -> str:
        for _ in range(20):
            candidate = secrets.token_urlsafe(9)
            if self.repo.webhook_route(candidate) is None:
                return candidate
        raise RuntimeError("could not find a free route id after 20 tries")

    @staticmethod
    def _webhook_view(route: WebhookRouteRow, rule: RuleRow | None) -> WebhookView:
        return WebhookView(
            id=route.id,
            name=route.name,
            rule_id=route.rule_id,
            channel_id=rule.channel_id if rule else None,
            role_id=rule.role_id if rule else None,
            default_severity=route.default_severity,
            cooldown_s=rule.cooldown_s if rule else 0,
            max_body_bytes=route.max_body_bytes,
            rate_per_minute=route.rate_per_minute,
            created_by=route.created_by,
            created_at=route.created_at,
            last_used_at=route.last_used_at,
            accepted=route.accepted,
            enabled=bool(rule and rule.enabled),
        )
