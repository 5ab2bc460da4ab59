"""What ``/liqfeed`` does, as plain Python: each server's large-liquidation feed, validated and stored.

A server has at most one feed: a channel, a USD threshold, and optional symbol and exchange filters. It is
kept in ``guild_settings.settings["liqfeed"]`` (no table of its own: it is one small record per server), and
every change is handed to the running feed (``FeedRuntime``) so it applies to the next liquidation; when the
feed runs in another process (issue 21: the market role), the change is published (storage.changes) and
``bot.roles.changes.liqfeed_handler`` applies it there.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import UserError
from bot.parsing import echo, resolve_symbol
from detectors.base import format_usd
from feeds.liq_coverage import COVERAGE
from storage.changes import LIQFEED
from storage.repo import Repo
from storage.rows import Liquidation

log = logging.getLogger(__name__)

SETTINGS_KEY = "liqfeed"
# The exchanges whose liquidation streams Tripwire reads, by the source name the feeds store
# (feeds.liq_coverage lists each one with what its numbers count).
EXCHANGES = tuple(COVERAGE)
# Below $10k the Binance stream alone delivers several events a second per busy symbol: a threshold that
# low only ever shows summaries. Above $1B no single liquidation has ever been reported.
MIN_USD = 10_000.0
MAX_USD = 1_000_000_000.0
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """One server's large-liquidation feed."""

    guild_id: int
    channel_id: int
    min_usd: float
    symbols: tuple[str, ...] = ()  # empty: every watched symbol
    exchanges: tuple[str, ...] = ()  # empty: every exchange
    set_by: int | None = None
    set_at: int = 0

    def matches(self, row: Liquidation) -> bool:
        """Return whether a liquidation belongs in this feed."""
        return (
            row.usd >= self.min_usd
            and (not self.symbols or row.symbol in self.symbols)
            and (not self.exchanges or row.source in self.exchanges)
        )

    def to_json(self) -> dict[str, Any]:
        """Return the stored form (guild_settings.settings["liqfeed"])."""
        return {
            "channel_id": self.channel_id,
            "min_usd": self.min_usd,
            "symbols": list(self.symbols),
            "exchanges": list(self.exchanges),
            "set_by": self.set_by,
            "set_at": self.set_at,
        }

    @classmethod
    def from_json(cls, guild_id: int, raw: Mapping[str, Any]) -> FeedSettings:
        """Read the stored form back."""
        return cls(
            guild_id=guild_id,
            channel_id=int(raw["channel_id"]),
            min_usd=float(raw["min_usd"]),
            symbols=tuple(str(s) for s in raw.get("symbols") or ()),
            exchanges=tuple(str(e) for e in raw.get("exchanges") or ()),
            set_by=int(raw["set_by"]) if raw.get("set_by") is not None else None,
            set_at=int(raw.get("set_at") or 0),
        )

    def describe(self) -> str:
        """Return the filters in words: "≥ $250.0k · BTCUSDT, ETHUSDT · binance, bybit"."""
        symbols = ", ".join(self.symbols) if self.symbols else "all symbols"
        exchanges = ", ".join(self.exchanges) if self.exchanges else "all exchanges"
        return f"≥ {format_usd(self.min_usd)} · {symbols} · {exchanges}"


class FeedRuntime(Protocol):
    """The running feed, told about every change (``bot.liqfeed.feed.LiquidationFeed``)."""

    def feed_changed(self, guild_id: int, settings: FeedSettings | None) -> None:
        """Apply a server's new settings (None: the feed was switched off)."""

    def mode(self, guild_id: int) -> str | None:
        """Return "live" or "summary" for a server's running feed, None when it has none."""

    def guilds(self) -> list[int]:
        """Return the servers whose feed runs."""


@dataclass(frozen=True, slots=True)
class LiqFeedView:
    """A server's feed as /liqfeed shows it."""

    guild_id: int
    settings: FeedSettings | None
    mode: str | None  # "live", "summary", or None when no feed runs in this process
    changed: bool


class LiqFeedService:
    """Show, set and switch off each server's large-liquidation feed."""

    def __init__(
        self,
        repo: Repo,
        symbols: Sequence[str],
        now_ms: Callable[[], int],
        runtime: FeedRuntime | None = None,
    ) -> None:
        self.repo = repo
        self.symbols = list(symbols)
        self.now_ms = now_ms
        self.runtime = runtime

    def settings(self, guild_id: int) -> FeedSettings | None:
        """Return a server's feed, or None."""
        row = self.repo.guild_settings(guild_id)
        raw = row.settings.get(SETTINGS_KEY) if row is not None else None
        return FeedSettings.from_json(guild_id, raw) if isinstance(raw, Mapping) else None

    def all_settings(self) -> list[FeedSettings]:
        """Return every server's feed (loaded by the running feed at start)."""
        found = []
        for row in self.repo.all_guild_settings():
            raw = row.settings.get(SETTINGS_KEY)
            if isinstance(raw, Mapping):
                try:
                    found.append(FeedSettings.from_json(row.guild_id, raw))
                except (KeyError, TypeError, ValueError):
                    log.error(
                        "guild %s has unreadable liquidation feed settings; skipping them", row.guild_id
                    )
        return found

    def show(self, guild_id: int) -> LiqFeedView:
        """Return a server's feed and the mode it is in."""
        settings = self.settings(guild_id)
        return LiqFeedView(guild_id, settings, self._mode(guild_id, settings), changed=False)

    def set(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int,
        min_usd: float,
        symbols: str | None = None,
        exchanges: str | None = None,
    ) -> LiqFeedView:
        """Validate and store a server's feed (replacing any earlier one), and apply it at once."""
        if not math.isfinite(min_usd) or not MIN_USD <= min_usd <= MAX_USD:
            raise UserError(
                f"The threshold must be between {format_usd(MIN_USD)} and {format_usd(MAX_USD)} of "
                f"liquidated position; you gave {echo(min_usd)}."
            )
        settings = FeedSettings(
            guild_id=guild_id,
            channel_id=channel_id,
            min_usd=float(min_usd),
            symbols=self._symbols(symbols),
            exchanges=_exchanges(exchanges),
            set_by=user_id,
            set_at=self.now_ms(),
        )
        self._store(guild_id, settings)
        log.info(
            "guild %s set its liquidation feed: %s in channel %s", guild_id, settings.describe(), channel_id
        )
        return LiqFeedView(guild_id, settings, self._mode(guild_id, settings), changed=True)

    def off(self, guild_id: int) -> LiqFeedView:
        """Switch a server's feed off."""
        if self.settings(guild_id) is None:
            raise UserError("This server has no liquidation feed; start one with `/liqfeed set`.")
        self._store(guild_id, None)
        log.info("guild %s switched its liquidation feed off", guild_id)
        return LiqFeedView(guild_id, None, None, changed=True)

    def _symbols(self, text: str | None) -> tuple[str, ...]:
        found: list[str] = []
        for part in _parts(text):
            symbol = resolve_symbol(part, self.symbols)
            if symbol not in found:
                found.append(symbol)
        return tuple(found)

    def _mode(self, guild_id: int, settings: FeedSettings | None) -> str | None:
        return self.runtime.mode(guild_id) if self.runtime is not None and settings is not None else None

    def _store(self, guild_id: int, settings: FeedSettings | None) -> None:
        with self.repo.transaction():
            if settings is None:
                self.repo.update_guild_settings(guild_id, self.now_ms(), drop=[SETTINGS_KEY])
            else:
                self.repo.update_guild_settings(
                    guild_id, self.now_ms(), settings={SETTINGS_KEY: settings.to_json()}
                )
            # The feed may run in another process (the market role): it reloads this server's settings.
            self.repo.publish_change(LIQFEED, guild_id)
        if self.runtime is not None:
            self.runtime.feed_changed(guild_id, settings)


def reload_feeds(service: LiqFeedService, feed: FeedRuntime) -> None:
    """Read every server's stored feed again: start the new ones, apply changes, stop those switched off.

    For a process that may have missed a change another process made (it was not listening yet, or its
    listener reconnected: storage.changes).
    """
    service.repo.forget_guild_settings()
    stored = {settings.guild_id: settings for settings in service.all_settings()}
    for guild_id in set(feed.guilds()) - stored.keys():
        feed.feed_changed(guild_id, None)
    for guild_id, settings in stored.items():
        feed.feed_changed(guild_id, settings)


def _parts(text: str | None) -> list[str]:
    return [p for p in _SEPARATORS.split(text or "") if p]


def _exchanges(text: str | None) -> tuple[str, ...]:
    found: list[str] = []
    for part in _parts(text):
        name = part.lower()
        if name not in EXCHANGES:
            raise UserError(
                f"Unknown exchange {echo(part)}. Tripwire reads liquidations from: {', '.join(EXCHANGES)}."
            )
        if name not in found:
            found.append(name)
    return tuple(found)
