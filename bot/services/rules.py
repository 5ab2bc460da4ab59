"""The /alert commands' logic (add, list, remove, pause, resume) and their views."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import ValidationError

from bot.alerts.model import BROKEN_PREFIX, PAUSED_REASON
from bot.alerts.rules import instantiate
from bot.alerts.warmup import WarmUp
from bot.config import RULE_ID_PATTERN, retention_problem
from bot.errors import UserError
from bot.parsing import (
    check_length,
    check_quota,
    echo,
    format_duration,
    known_detector,
    no_such_rule,
    optional_text,
)
from bot.services.base import ServiceBase
from bot.services.detector_settings import settings_problem
from detectors.base import MARKET_SYMBOL, short_symbol
from storage.repo import RuleRow
from storage.rows import HOUR_MS

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 300
MAX_COOLDOWN_S = 30 * 86_400
MAX_EXPIRY_S = 365 * 86_400
_RULE_ID = re.compile(RULE_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """Options every rule has whatever its detector (the common part of /alert add)."""

    channel_id: int | None = None
    role_id: int | None = None
    note: str | None = None
    repeat: bool = True
    cooldown_s: int | None = None
    expires_in_s: int | None = None
    deliver: Literal["channel", "dm"] = "channel"


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule as /alert list shows it, with the current price's distance to its level when it has one."""

    id: str
    detector: str
    symbol: str
    settings: Mapping[str, Any]
    summary: str
    guild_id: int | None
    owner_id: int | None
    channel_id: int | None
    role_id: int | None
    deliver: str
    note: str | None
    repeat: bool
    cooldown_s: int
    expires_at: int | None
    enabled: bool
    status_reason: str | None
    level: float | None = None
    price: float | None = None
    distance_pct: float | None = None
    # Intervals it has too few closed candles of to fire yet (its indicators' warm-up).
    warming: tuple[WarmUp, ...] = ()
    # What a rule just created will do now, when it is not obvious (Detector.describe_now).
    outlook: str | None = None

    @property
    def broken(self) -> bool:
        """Return whether delivery disabled the rule (channel gone, access lost)."""
        return not self.enabled and (self.status_reason or "").startswith(BROKEN_PREFIX)


class RuleCommands(ServiceBase):
    """Create, list and change alert rules."""

    def _new_rule_id(self, detector: str, symbol: str) -> str:
        asset = "market" if symbol == MARKET_SYMBOL else short_symbol(symbol).lower()
        kind = detector.split("_")[0].lower()
        for _ in range(20):
            candidate = f"{asset[:12]}-{kind[:12]}-{self._new_suffix()}"
            if _RULE_ID.match(candidate) and self.repo.rule(candidate) is None:
                return candidate
        raise RuntimeError("could not find a free rule id after 20 tries")

    def validate_rule(
        self, detector: str, symbol: str | None, settings: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """Return the symbol and settings (as stored) of a rule of ``detector``, or raise UserError."""
        name = self.rule_symbol(detector, symbol)
        return name, self.check_settings(detector, settings)

    def check_settings(self, detector: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Return a rule's settings as stored, or raise UserError.

        Checked: every bound of the detector's Settings, finite numbers, and no window reaching back further
        than retention keeps its data (issue 17).
        """
        cls = known_detector(detector, self.detectors)

        def check_finite(values: Mapping[str, Any]) -> None:
            for key, value in values.items():
                # pydantic accepts inf for a float with gt=0; no market level or threshold is infinite.
                if isinstance(value, float) and not math.isfinite(value):
                    raise UserError(
                        f"Invalid `settings` for {detector}: `{echo(key)[1:-1]}` must be a finite number."
                    )

        check_finite(settings)
        try:
            validated = cls.Settings.model_validate(dict(settings))
        except ValidationError as exc:
            raise settings_problem(detector, cls.Settings, exc) from None
        stored = validated.model_dump(mode="json")
        check_finite(stored)  # "inf" typed as text becomes a float only in validation
        beyond = retention_problem(validated, self.config.storage.retention)
        if beyond is not None:
            raise UserError(f"Invalid {detector} options: {beyond}.")
        return stored

    def rule_symbol(self, detector: str, symbol: str | None) -> str:
        """Return the symbol a rule of ``detector`` watches (MARKET for a market-wide one).

        Raise UserError when one is missing, or given to a detector that takes none.
        """
        cls = known_detector(detector, self.detectors)
        if cls.market_wide:
            # MARKET is what a stored market-wide rule carries (a drafted rule enabled after /alert test).
            if symbol is not None and symbol != MARKET_SYMBOL:
                raise UserError(f"{detector} watches the whole market, not one symbol: leave out `symbol`.")
            return MARKET_SYMBOL
        if symbol is None:
            example = self.symbols[0] if self.symbols else "BTCUSDT"
            raise UserError(
                f"{detector} needs a symbol, e.g. `symbol:{example}` (watched: {', '.join(self.symbols)})."
            )
        return self.resolve_symbol(symbol)

    def check_delivery(self, options: RuleOptions, *, is_admin: bool) -> None:
        """Refuse a channel alert to a member without Manage Server (their alerts come by DM)."""
        if options.deliver == "channel" and not is_admin:
            raise UserError(
                "Alerts in channels need the Manage Server permission; use `deliver: dm` to get this alert "
                "by direct message."
            )

    def add_rule(
        self,
        guild_id: int,
        user_id: int,
        detector: str,
        symbol: str | None,
        settings: Mapping[str, Any],
        options: RuleOptions | None = None,
        *,
        is_admin: bool = False,
    ) -> RuleView:
        """Validate and store a new rule of ``detector`` in a guild, then hand it to the engine."""
        options = options or RuleOptions()
        name, stored_settings = self.validate_rule(detector, symbol, settings)
        self.check_delivery(options, is_admin=is_admin)
        self._check_options(guild_id, options)
        self._check_user_quota(guild_id, user_id, options.deliver)
        check_quota(
            self.repo.count_rules(guild_id=guild_id),
            self.config.discord.max_rules_per_guild,
            "alerts",
            "/alert remove",
        )
        self.check_not_duplicate(guild_id, user_id, detector, name, stored_settings, options)
        now = self.now_ms()
        cooldown = options.cooldown_s
        row = RuleRow(
            id=self._new_rule_id(detector, name),
            origin="discord",
            detector=detector,
            symbol=name,
            settings=stored_settings,
            guild_id=guild_id,
            owner_id=user_id,
            channel_id=options.channel_id,
            role_id=options.role_id,
            deliver=options.deliver,
            note=optional_text(options.note),
            repeat=options.repeat,
            cooldown_s=self.config.engine.default_cooldown_seconds if cooldown is None else cooldown,
            expires_at=now + options.expires_in_s * 1000 if options.expires_in_s else None,
            created_at=now,
            updated_at=now,
        )
        with self.repo.transaction():
            self.repo.save_rule(row)
        self.engine.refresh_rule(row.id)
        log.info("rule %s (%s %s) added in guild %s by user %s", row.id, detector, name, guild_id, user_id)
        return replace(
            self._view(row, now),
            warming=self.warming_of(detector, name, row.settings, now),
            outlook=self.outlook(row, now),
        )

    def outlook(self, row: RuleRow, now: int, state: Mapping[str, Any] | None = None) -> str | None:
        """Return what ``row`` will do from ``now``, in words, when it is not obvious, or None.

        Without ``state`` (the rule's stored detector state) the rule's detector is evaluated once on the
        live history, as the engine's first evaluation will (a condition under way is learnt, not fired
        on); its detector says what that means (Detector.describe_now).
        """
        if self.history is None:
            return None
        try:
            detector = instantiate(row, self.config.storage.retention)
            view = self.history.view(MARKET_SYMBOL if detector.market_wide else row.symbol, now)
            if state is None:
                fresh: dict[str, Any] = {}
                detector.evaluate(view, fresh)
                state = fresh
            return detector.describe_now(view, state)
        except Exception:  # a plugin's trouble must not undo the rule just created: the engine reports it
            log.exception("rule %s: its detector could not say what it will do now", row.id)
            return None

    def check_not_duplicate(
        self,
        guild_id: int,
        user_id: int,
        detector: str,
        symbol: str,
        settings: Mapping[str, Any],
        options: RuleOptions,
    ) -> None:
        """Refuse a rule that an existing one of the guild (or the member's, for a DM) already is."""
        for existing in self.repo.rules(guild_id=guild_id):
            if (
                existing.detector == detector
                and existing.symbol == symbol
                and existing.settings == settings
                and existing.channel_id == options.channel_id
                and existing.deliver == options.deliver
                and (options.deliver == "channel" or existing.owner_id == user_id)
            ):
                raise UserError(f"Alert `{existing.id}` already does exactly this.")

    def personal_alert_count(self, user_id: int) -> int:
        """Return a member's personal (DM) alerts across every server: one inbox, one quota."""
        return sum(1 for r in self.repo.rules(owner_id=user_id) if r.deliver == "dm")

    def _check_user_quota(self, guild_id: int, user_id: int, deliver: str) -> None:
        limit = self.config.discord.max_rules_per_user
        if deliver == "dm":
            # One inbox however many servers: personal alerts count across all of them.
            personal = self.personal_alert_count(user_id)
            if personal >= limit:
                raise UserError(
                    f"You already have {personal} personal alerts, the most one member may have ({limit}). "
                    "Remove one with /alert remove first."
                )
            return
        owned = self.repo.count_rules(guild_id=guild_id, owner_id=user_id)
        if owned >= limit:
            raise UserError(
                f"You already have {owned} alerts here, the most one member may have "
                f"({limit}). Remove one with /alert remove first."
            )

    def _check_options(self, guild_id: int, options: RuleOptions) -> None:
        if options.deliver == "dm" and (options.channel_id is not None or options.role_id is not None):
            raise UserError("An alert delivered by DM has no channel or role; leave those options out.")
        check_length(options.note, "note", MAX_NOTE_CHARS)
        if options.cooldown_s is not None and not 0 <= options.cooldown_s <= MAX_COOLDOWN_S:
            raise UserError(f"The cooldown must be between 0 and {format_duration(MAX_COOLDOWN_S)}.")
        if options.expires_in_s is not None and not 60 <= options.expires_in_s <= MAX_EXPIRY_S:
            raise UserError(f"The expiry must be between 1m and {format_duration(MAX_EXPIRY_S)} from now.")
        if options.role_id is not None and options.role_id == guild_id:
            # The @everyone role has the guild's id; mentioning it would ping the whole server.
            raise UserError("Alerts never ping @everyone; pick a role made for alerts.")
        if options.deliver == "channel" and options.channel_id is None:
            settings = self.repo.guild_settings(guild_id)
            if settings is None or settings.alert_channel_id is None:
                raise UserError(
                    "Pick a channel for this alert, or set the server's default alert channel with /setup."
                )

    def _guild_rule(self, guild_id: int, user_id: int, rule_id: str, is_admin: bool) -> RuleRow:
        row = self.repo.rule(rule_id.strip())
        if row is None or row.guild_id != guild_id:
            raise no_such_rule(rule_id)
        if not is_admin and row.owner_id != user_id:
            raise UserError(
                f"Alert `{row.id}` belongs to someone else; only its owner or an admin can change it."
            )
        if not is_admin and row.deliver != "dm":
            # A member manages their personal alerts; the server's channel alerts need Manage Server, even
            # the ones they created while they had it.
            raise UserError(
                f"Alert `{row.id}` posts in a channel; changing it needs the Manage Server permission."
            )
        return row

    def list_rules(self, guild_id: int, user_id: int, *, is_admin: bool) -> list[RuleView]:
        """Return the guild's rules (admins) or the member's own, with distances to levels."""
        rows = self.repo.rules(guild_id=guild_id, owner_id=None if is_admin else user_id)
        now = self.now_ms()
        prices: dict[str, float | None] = {}
        return [self._view(row, now, prices) for row in rows]

    def rule_choices(
        self, guild_id: int, user_id: int, *, is_admin: bool, current: str
    ) -> list[tuple[str, str]]:
        """Return (rule id, label) pairs for autocomplete, matching what was typed, at most 25."""
        typed = current.strip().lower()
        rows = self.repo.rules(guild_id=guild_id, owner_id=None if is_admin else user_id)
        # What a member may change: their personal alerts (see _guild_rule).
        rows = rows if is_admin else [r for r in rows if r.deliver == "dm"]
        found = [r for r in rows if typed in r.id or typed in r.symbol.lower()]
        # Labels need only the settings: no price is read while someone types.
        return [
            (r.id, f"{r.id} · {r.symbol} {self.summarize(r.detector, r.settings)}"[:100]) for r in found[:25]
        ]

    def remove_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Delete a rule of the guild (its alert history is kept) and tell the engine."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        with self.repo.transaction():
            self.repo.delete_rule(row.id)
        self.engine.refresh_rule(row.id)
        log.info("rule %s removed in guild %s by user %s", row.id, guild_id, user_id)
        return self._view(row, self.now_ms())

    def pause_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Disable a rule until it is resumed."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        if not row.enabled:
            raise UserError(f"Alert `{row.id}` is already paused ({row.status_reason or 'disabled'}).")
        return self._set_enabled(row, False, f"{PAUSED_REASON}<@{user_id}>")

    def resume_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Enable a paused (or broken, once fixed) rule again."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        if row.enabled:
            raise UserError(f"Alert `{row.id}` is already running.")
        if row.expires_at is not None and row.expires_at <= self.now_ms():
            raise UserError(f"Alert `{row.id}` has expired; add it again with a new expiry.")
        try:
            # A quarantined rule runs again only with settings that validate today (issue 17).
            self.check_settings(row.detector, row.settings)
        except UserError as exc:
            raise UserError(
                f"Alert `{row.id}` cannot run with its settings: {exc} Remove it and add it again."
            ) from None
        return self._set_enabled(row, True, None)

    def _set_enabled(self, row: RuleRow, enabled: bool, reason: str | None) -> RuleView:
        now = self.now_ms()
        with self.repo.transaction():
            self.repo.set_rule_enabled(row.id, enabled, reason, now)
        self.engine.refresh_rule(row.id)
        updated = self.repo.rule(row.id)
        assert updated is not None
        return self._view(updated, now)

    def _view(self, row: RuleRow, now: int, prices: dict[str, float | None] | None = None) -> RuleView:
        level_value = row.settings.get("level")
        level = float(level_value) if isinstance(level_value, int | float) else None
        price: float | None = None
        distance: float | None = None
        if level is not None and row.symbol != MARKET_SYMBOL:
            cache = prices if prices is not None else {}
            if row.symbol not in cache:
                found = self._recent_candles(row.symbol, now, HOUR_MS)
                cache[row.symbol] = found[1][-1].c if found else None
            price = cache[row.symbol]
            if price:
                distance = (level - price) / price * 100
        return RuleView(
            id=row.id,
            detector=row.detector,
            symbol=row.symbol,
            settings=self.ordered_settings(row.detector, row.settings),
            summary=self.summarize(row.detector, row.settings),
            guild_id=row.guild_id,
            owner_id=row.owner_id,
            channel_id=row.channel_id,
            role_id=row.role_id,
            deliver=row.deliver,
            note=row.note,
            repeat=row.repeat,
            cooldown_s=row.cooldown_s,
            expires_at=row.expires_at,
            enabled=row.enabled,
            status_reason=row.status_reason,
            level=level,
            price=price,
            distance_pct=distance,
        )
