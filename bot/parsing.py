"""Turn what people type into command options (durations, symbols) into values, or say what is wrong.

Shared by the Discord front end (its transformers) and the service; nothing here imports discord. Every
failure is a ``UserError`` whose message quotes the offending input safely and says what would work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from bot.errors import UserError
from detectors.values import format_duration as format_duration  # its one formatter, re-exported here

# Longest piece of user input echoed back in an error message (Discord shows it in a 2000-char reply).
ECHO_LIMIT = 40

_UNITS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
    "w": 604_800,
    "wk": 604_800,
    "week": 604_800,
    "weeks": 604_800,
}
_T = TypeVar("_T")
_PART = re.compile(r"(\d{1,7})\s*([a-z]+)")
_SYMBOL_JUNK = re.compile(r"[\s/_\-:.]")


def echo(text: object) -> str:
    """Return user input fit to quote in a reply: one line, short, no mentions or code-block breakers."""
    value = " ".join(str(text).split())
    if len(value) > ECHO_LIMIT:
        value = value[: ECHO_LIMIT - 1] + "…"
    # A zero-width space after @ keeps "@everyone" from ever reading as a mention; backticks would end
    # the inline-code span the value is shown in.
    return "`" + value.replace("`", "'").replace("@", "@\u200b") + "`" if value else "(empty)"


def check_length(text: str | None, what: str, limit: int) -> None:
    """Refuse a text (a note, a reason) longer than ``limit`` characters, saying how long it was."""
    if text is not None and len(text) > limit:
        raise UserError(f"The {what} can be at most {limit} characters ({len(text)} given).")


def optional_text(text: str | None) -> str | None:
    """Return ``text`` without surrounding spaces, or None when nothing is left (nothing to show)."""
    stripped = text.strip() if text is not None else ""
    return stripped or None


def check_quota(count: int, limit: int, what: str, remove_command: str) -> None:
    """Refuse one more of a server's ``what`` (alerts, digests, silences) once it has ``limit`` of them."""
    if count >= limit:
        raise UserError(
            f"This server already has {count} {what}, the most allowed ({limit}). "
            f"Remove one with {remove_command} first."
        )


def known_detector(name: str, detectors: Mapping[str, _T]) -> _T:
    """Return the detector called ``name``, or raise UserError listing the known ones."""
    found = detectors.get(name)
    if found is None:
        raise UserError(f"Unknown detector {echo(name)}. Known: {', '.join(detectors)}.")
    return found


def no_such_rule(rule_id: str) -> UserError:
    """Return the error for an alert id this server does not have (the same when another server has it)."""
    return UserError(f"There is no alert {echo(rule_id)} in this server; /alert list shows them.")


def parse_duration(
    text: str, *, what: str = "duration", minimum_s: int = 0, maximum_s: int | None = None
) -> int:
    """Parse ``15m``, ``2h``, ``1d``, ``1h30m``, ``90s`` or ``1 week`` into seconds (``0`` means none)."""
    raw = text.strip().lower()
    if raw in ("0", "0s", "none", "off"):
        seconds = 0
    else:
        compact = raw.replace(",", " ")
        total = 0
        position = 0
        for match in _PART.finditer(compact):
            gap = compact[position : match.start()]
            unit = _UNITS.get(match.group(2))
            if gap.strip() or unit is None:
                raise _bad_duration(text, what)
            total += int(match.group(1)) * unit
            position = match.end()
        if position == 0 or compact[position:].strip():
            raise _bad_duration(text, what)
        seconds = total
    if seconds < minimum_s:
        raise UserError(f"The {what} must be at least {format_duration(minimum_s)}; you gave {echo(text)}.")
    if maximum_s is not None and seconds > maximum_s:
        raise UserError(f"The {what} can be at most {format_duration(maximum_s)}; you gave {echo(text)}.")
    return seconds


def _bad_duration(text: str, what: str) -> UserError:
    return UserError(
        f"I could not read {echo(text)} as a {what}. Write a number with a unit, like `15m`, `2h`, "
        "`1d`, `1w` or `1h30m`."
    )


def resolve_symbol(text: str, known: Sequence[str]) -> str:
    """Return the configured symbol ``text`` names (``btc``, ``BTC/USDT``, ``btcusdt``: BTCUSDT)."""
    cleaned = _SYMBOL_JUNK.sub("", text).upper()
    if cleaned in known:
        return cleaned
    for quote in ("USDT", "USDC", "USD"):
        if cleaned and cleaned + quote in known:
            return cleaned + quote
    listed = ", ".join(known) if known else "none yet"
    raise UserError(f"Unknown symbol {echo(text)}. Tripwire watches: {listed}.")


def symbol_matches(current: str, known: Sequence[str], limit: int = 25) -> list[str]:
    """Return the known symbols matching what was typed so far (prefix matches first), at most ``limit``."""
    typed = _SYMBOL_JUNK.sub("", current).upper()
    starts = [s for s in known if s.startswith(typed)]
    contains = [s for s in known if typed in s and s not in starts]
    return (starts + contains)[:limit]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ t]\d{2}:\d{2}(:\d{2})?)?(z|utc|[+-]\d{2}:?\d{2})?$")
_ALERT_ID = re.compile(r"^(?:alert\s*)?#?\s*(\d{1,15})$")


def parse_since(text: str, now_ms: int) -> int:
    """Parse how far back to look, ``24h``/``7d`` (ago) or a UTC date/time (``2026-01-13 21:00``), into ms."""
    raw = " ".join(text.strip().lower().split())
    if _DATE.match(raw):
        iso = raw.replace(" ", "T", 1).removesuffix("utc").replace("z", "+00:00")
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            raise UserError(f"{echo(text)} is not a date that exists; write it as `2026-01-13`.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        since = int(moment.timestamp() * 1000)
    else:
        try:
            seconds = parse_duration(raw, what="time", minimum_s=1)
        except UserError:
            raise UserError(
                f"I could not read {echo(text)} as a time. Write how long ago, like `24h` or `7d`, or a UTC "
                "date, like `2026-01-13` or `2026-01-13 21:00`."
            ) from None
        since = now_ms - seconds * 1000
    if since > now_ms:
        raise UserError(f"{echo(text)} is in the future; `since` asks from when in the past.")
    return since


def parse_alert_id(text: str) -> int:
    """Parse an alert number as /history shows it (``38`` or ``#38``)."""
    match = _ALERT_ID.match(" ".join(str(text).strip().lower().split()))
    if match is None or int(match.group(1)) == 0:
        raise UserError(f"{echo(text)} is not an alert number; /history lists them (like `#38`).")
    return int(match.group(1))
