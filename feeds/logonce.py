"""Log a repeated failure once, then a summary at most once per interval, then its recovery.

During an exchange outage a poller fails every few seconds and a websocket reconnects again and again;
logging each attempt would bury everything else. ``FailureLog`` logs the first failure of a key at once,
counts the repeats, writes one summary line per interval while it lasts, and one line when it recovers.
Every message goes through ``redact`` first, so a URL's query string (where a token or key would sit)
never reaches the log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.base import NowMs

_URL_QUERY = re.compile(r"((?:https?|wss?)://[^\s?#]*)[?#][^\s]*", re.IGNORECASE)
_MAX_MESSAGE = 300


def redact(message: str) -> str:
    """Return the message with URL query strings removed and its length bounded."""
    text = _URL_QUERY.sub(r"\1?…", message)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


@dataclass
class _Streak:
    first_ms: int
    last_logged_ms: int
    last_message: str
    total: int = 1
    unlogged: int = 0


class FailureLog:
    """Rate-limit the logging of repeated failures per key (one feed's one problem)."""

    def __init__(self, logger: logging.Logger, now_ms: NowMs, interval_s: float = 300.0) -> None:
        self.logger = logger
        self.now_ms = now_ms
        self.interval_ms = int(interval_s * 1000)
        self._streaks: dict[str, _Streak] = {}
        self._skips: dict[str, _Streak] = {}
        self._said: set[str] = set()

    def failure(
        self, key: str, message: str, *, level: int = logging.WARNING, exc_info: BaseException | None = None
    ) -> bool:
        """Record a failure; log it if it is the first of its streak or the interval has passed.

        Return True when a line was written (``exc_info``, for unexpected errors, is logged with it).
        """
        now = self.now_ms()
        text = redact(message)
        streak = self._streaks.get(key)
        if streak is None:
            self._streaks[key] = _Streak(first_ms=now, last_logged_ms=now, last_message=text)
            self.logger.log(level, "%s: %s", key, text, exc_info=exc_info)
            return True
        streak.total += 1
        streak.unlogged += 1
        streak.last_message = text
        if now - streak.last_logged_ms < self.interval_ms:
            return False
        self.logger.log(
            level,
            "%s: still failing: %d more failures in the last %.0fs (%d since %s); last: %s",
            key,
            streak.unlogged,
            (now - streak.last_logged_ms) / 1000,
            streak.total,
            _fmt_ms(streak.first_ms),
            text,
            exc_info=exc_info,
        )
        streak.last_logged_ms = now
        streak.unlogged = 0
        return True

    def skipped(self, key: str, reasons: list[str]) -> bool:
        """Record items skipped from a payload; log the first, then a count at most once per interval."""
        if not reasons:
            return False
        now = self.now_ms()
        text = redact(reasons[-1])
        streak = self._skips.get(key)
        if streak is None:
            self._skips[key] = _Streak(now, now, text, total=len(reasons))
            self.logger.warning("%s: skipped %d bad item(s), keeping the rest: %s", key, len(reasons), text)
            return True
        streak.total += len(reasons)
        streak.unlogged += len(reasons)
        streak.last_message = text
        if now - streak.last_logged_ms < self.interval_ms:
            return False
        self.logger.warning(
            "%s: skipped %d more bad item(s) in the last %.0fs (%d since %s); last: %s",
            key,
            streak.unlogged,
            (now - streak.last_logged_ms) / 1000,
            streak.total,
            _fmt_ms(streak.first_ms),
            text,
        )
        streak.last_logged_ms = now
        streak.unlogged = 0
        return True

    def success(self, key: str) -> bool:
        """End a failure streak, logging the recovery once; return True when there was a streak."""
        streak = self._streaks.pop(key, None)
        if streak is None:
            return False
        self.logger.info(
            "%s: recovered after %d failures over %.0fs (last: %s)",
            key,
            streak.total,
            (self.now_ms() - streak.first_ms) / 1000,
            streak.last_message,
        )
        return True

    def failing(self, key: str) -> bool:
        """Tell whether the key is in a failure streak."""
        return key in self._streaks

    def once(self, key: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Log a message the first time ``key`` is seen in this process only; return True if logged."""
        if key in self._said:
            return False
        self._said.add(key)
        self.logger.log(level, message, *args)
        return True


def _fmt_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
