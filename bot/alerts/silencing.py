"""Silence matching: which silences mute an alert, and when a recurring silence's window is in force.

A silence mutes the alerts that match every matcher it sets (symbol, detector, rule, severity) in one
guild, for a while or on a schedule (a daily or weekly mute window such as an exchange's maintenance
hour). The engine reads the silences in force at each evaluation; silenced alerts are still recorded in
the history, marked silenced. The /silence commands live in ``bot.services.silences``.
"""

from __future__ import annotations

from storage.repo import RuleRow, SilenceRow
from storage.rows import DAY_MS, WEEK_MS

PERIODS = {"daily": DAY_MS, "weekly": WEEK_MS}


def silence_matches(silence: SilenceRow, rule: RuleRow, severity: str, guild_id: int | None) -> bool:
    """Return True when every matcher the silence sets equals the alert's value."""
    if silence.guild_id is not None and silence.guild_id != guild_id:
        return False
    checks = (
        (silence.symbol, rule.symbol),
        (silence.detector, rule.detector),
        (silence.rule_id, rule.id),
        (silence.severity, severity),
    )
    return all(want is None or want == have for want, have in checks)


def window(row: SilenceRow, now: int) -> tuple[bool, int, int]:
    """Return (in force now, start, end) of the silence's current window, or of its next one."""
    length = row.ends_at - row.starts_at
    period = PERIODS.get(row.recurrence or "")
    if period is None or now < row.starts_at:
        return row.starts_at <= now < row.ends_at, row.starts_at, row.ends_at
    start = row.starts_at + (now - row.starts_at) // period * period
    if now < start + length:
        return True, start, start + length
    return False, start + period, start + period + length
