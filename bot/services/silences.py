"""The /silence commands: add, list and remove silences per guild, with no ``import discord``.

A silence mutes the alerts that match every matcher it sets (symbol, detector, rule, severity) in one
guild, for a while (``2h``, or until a time) or on a schedule (a daily or weekly mute window such as an
exchange's maintenance hour). The engine reads the silences in force at each evaluation, so a silence
works from the next evaluation on and ends by itself; silenced alerts are still recorded in the history,
marked silenced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.alerts.silencing import PERIODS, window
from bot.errors import UserError
from bot.parsing import (
    check_length,
    check_quota,
    echo,
    format_duration,
    known_detector,
    no_such_rule,
    optional_text,
    resolve_symbol,
)
from bot.services.base import ServiceBase
from detectors.base import SEVERITIES
from storage.repo import SilenceRow

MIN_SILENCE_S = 60
MAX_SILENCE_S = 365 * 86_400
MAX_SILENCES_PER_GUILD = 50
MAX_REASON_CHARS = 200
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(?:(?P<day>[a-z]{3})[a-z]*\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})(?:\s*utc)?$")


@dataclass(frozen=True, slots=True)
class SilenceView:
    """A silence as /silence list shows it: its matchers, its window and whether it is in force now."""

    id: int
    symbol: str | None
    detector: str | None
    rule_id: str | None
    severity: str | None
    starts_at: int
    ends_at: int
    recurrence: str | None
    created_by: int | None
    reason: str | None
    active: bool
    # The window in force now, or the next one (for a recurring silence), or the only one.
    window_start: int
    window_end: int

    @property
    def matchers(self) -> str:
        """Return what the silence mutes, e.g. "BTCUSDT · level_cross", or "every alert"."""
        parts = [
            self.symbol or "",
            self.detector or "",
            f"rule {self.rule_id}" if self.rule_id else "",
            f"{self.severity} alerts" if self.severity else "",
        ]
        shown = " · ".join(p for p in parts if p)
        return shown or "every alert"

    @property
    def length_s(self) -> int:
        """Return the length of one window in seconds."""
        return (self.ends_at - self.starts_at) // 1000


def parse_moment(text: str, now: int) -> int:
    """Parse a UTC time into epoch ms.

    ``2026-01-14 18:00``, ``2026-01-14T18:00Z``, a date, or ``18:00`` and ``sun 03:00`` (the next such time
    from ``now``).
    """
    raw = " ".join(str(text).strip().lower().split())
    clock = _CLOCK.match(raw)
    if clock:
        hour, minute = int(clock["h"]), int(clock["m"])
        if hour > 23 or minute > 59:
            raise _bad_moment(text)
        base = datetime.fromtimestamp(now / 1000, tz=UTC)
        moment = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
        day = clock["day"]
        if day is not None:
            if day not in _WEEKDAYS:
                raise _bad_moment(text)
            moment += timedelta(days=(_WEEKDAYS.index(day) - moment.weekday()) % 7)
            if moment.timestamp() * 1000 <= now:
                moment += timedelta(days=7)
        elif moment.timestamp() * 1000 <= now:
            moment += timedelta(days=1)
        return int(moment.timestamp() * 1000)
    try:
        parsed = datetime.fromisoformat(raw.upper().replace(" UTC", "").replace("Z", "+00:00"))
    except ValueError:
        raise _bad_moment(text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 2000 <= parsed.year <= 2200:
        raise _bad_moment(text)
    return int(parsed.timestamp() * 1000)


def _bad_moment(text: str) -> UserError:
    return UserError(
        f"I could not read {echo(text)} as a time. Write a UTC time like `2026-01-14 18:00`, `18:00` (the "
        "next one) or `sun 03:00`."
    )


class SilenceCommands(ServiceBase):
    """The silence part of the Service (mixed into ``bot.services.Service``)."""

    def add_silence(
        self,
        guild_id: int,
        user_id: int,
        *,
        symbol: str | None = None,
        detector: str | None = None,
        rule_id: str | None = None,
        severity: str | None = None,
        duration_s: int | None = None,
        until: int | None = None,
        starts_at: int | None = None,
        recurrence: str | None = None,
        reason: str | None = None,
    ) -> SilenceView:
        """Mute a guild's alerts matching every given matcher for a while, or on a daily/weekly schedule."""
        now = self.now_ms()
        name = resolve_symbol(symbol, self.config.symbols) if symbol is not None else None
        if detector is not None:
            known_detector(detector, self.detectors)
        if severity is not None and severity not in SEVERITIES:
            raise UserError(f"Unknown severity {echo(severity)}; use one of {', '.join(SEVERITIES)}.")
        rule = self._silenced_rule(guild_id, rule_id) if rule_id is not None else None
        if recurrence is not None and recurrence not in PERIODS:
            raise UserError(f"Repeat {echo(recurrence)} is not daily or weekly.")
        check_length(reason, "reason", MAX_REASON_CHARS)
        start = now if starts_at is None else starts_at
        end = self._end(start, duration_s, until, recurrence)
        if recurrence is None and end <= now:
            raise UserError(f"That silence would already be over (it ends <t:{end // 1000}:R>).")
        if recurrence is None and start > now + MAX_SILENCE_S * 1000:
            raise UserError("A silence can start at most a year from now.")
        check_quota(
            len(self.repo.silences(guild_id, now)), MAX_SILENCES_PER_GUILD, "silences", "/silence remove"
        )
        with self.repo.transaction():
            silence_id = self.repo.add_silence(
                guild_id=guild_id,
                starts_at=start,
                ends_at=end,
                symbol=name,
                detector=detector,
                rule_id=rule,
                severity=severity,
                recurrence=recurrence,
                created_by=user_id,
                reason=optional_text(reason),
                now=now,
            )
        return self._silence_view(guild_id, silence_id, now)

    def _silenced_rule(self, guild_id: int, rule_id: str) -> str:
        row = self.repo.rule(rule_id.strip())
        # Config-file rules have no guild and may be routed to any server: those may be silenced too.
        if row is None or (row.guild_id is not None and row.guild_id != guild_id):
            raise no_such_rule(rule_id)
        return row.id

    @staticmethod
    def _end(start: int, duration_s: int | None, until: int | None, recurrence: str | None) -> int:
        if (duration_s is None) == (until is None):
            raise UserError("Give either a duration (e.g. `2h`) or an end time (`until`), not both or none.")
        end = start + duration_s * 1000 if duration_s is not None else until
        assert end is not None
        length_s = (end - start) // 1000
        if length_s < MIN_SILENCE_S:
            raise UserError("A silence must last at least 1m (the end must be after the start).")
        if recurrence is not None and length_s * 1000 >= PERIODS[recurrence]:
            period = format_duration(PERIODS[recurrence] // 1000)
            raise UserError(f"A {recurrence} mute window must be shorter than {period}.")
        if length_s > MAX_SILENCE_S:
            raise UserError(f"A silence can last at most {format_duration(MAX_SILENCE_S)}.")
        return end

    def list_silences(self, guild_id: int) -> list[SilenceView]:
        """Return the guild's silences that have not ended (recurring ones always), in force ones first."""
        now = self.now_ms()
        views = [_view(row, now) for row in self.repo.silences(guild_id, now)]
        return sorted(views, key=lambda v: (not v.active, v.window_start, v.id))

    def remove_silence(self, guild_id: int, silence_id: int) -> SilenceView:
        """Delete one of the guild's silences (alerts it muted stay in the history, marked silenced)."""
        now = self.now_ms()
        view = self._silence_view(guild_id, silence_id, now)
        with self.repo.transaction():
            self.repo.delete_silence(silence_id, guild_id)
        return view

    def silence_choices(self, guild_id: int, current: str) -> list[tuple[int, str]]:
        """Return (silence id, label) pairs matching what was typed, for autocomplete (at most 25)."""
        typed = current.strip().lower().lstrip("#")
        found = []
        for view in self.list_silences(guild_id):
            label = f"#{view.id} · {view.matchers}" + (f" · {view.reason}" if view.reason else "")
            if typed in label.lower():
                found.append((view.id, label[:100]))
        return found[:25]

    def _silence_view(self, guild_id: int, silence_id: int, now: int) -> SilenceView:
        for row in self.repo.silences(guild_id, -(2**62)):
            if row.id == silence_id:
                return _view(row, now)
        raise UserError(f"There is no silence #{silence_id} in this server; /silence list shows them.")


def _view(row: SilenceRow, now: int) -> SilenceView:
    active, start, end = window(row, now)
    return SilenceView(
        id=row.id,
        symbol=row.symbol,
        detector=row.detector,
        rule_id=row.rule_id,
        severity=row.severity,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        recurrence=row.recurrence,
        created_by=row.created_by,
        reason=row.reason,
        active=active,
        window_start=start,
        window_end=end,
    )
