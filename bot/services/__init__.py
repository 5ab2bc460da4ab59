"""What the slash commands do, as plain Python: no ``import discord`` in this package.

``Service`` is the composite of one mixin per command family over ``ServiceBase`` (Red-DiscordBot composes
its cogs the same way): market queries, rule commands (and their bulk, export and import), detector help,
guild settings and status, silences. History (``HistoryService``), backtests (``BacktestService``) and
privacy (``PrivacyService``) are services of their own that ``bot.app`` builds beside it;
``liqprice.quote`` reads a ``Service``.
"""

from __future__ import annotations

from bot.services.admin import AdminCommands
from bot.services.base import ServiceBase
from bot.services.detectors import DetectorHelp
from bot.services.market import MarketQueries
from bot.services.positioning import PositioningQueries
from bot.services.rule_transfer import RuleTransfer
from bot.services.rules import RuleCommands
from bot.services.silences import SilenceCommands
from bot.services.webhooks import WebhookCommands


class Service(
    MarketQueries,
    PositioningQueries,
    RuleTransfer,
    RuleCommands,
    DetectorHelp,
    AdminCommands,
    SilenceCommands,
    WebhookCommands,
    ServiceBase,
):
    """Answer market queries and manage rules, silences and guild settings for the chat front ends."""


__all__ = ["Service"]
