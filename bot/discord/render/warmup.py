"""How a rule still warming up is described: closed candles it has and needs, and roughly when it is warm."""

from __future__ import annotations

from collections.abc import Sequence

from bot.alerts.warmup import WarmUp
from bot.notify.discord.render.base import when


def warm_up_line(item: WarmUp) -> str:
    """Return "12 of 35 closed 4h candles; fetching the rest from the exchange (…)" for one interval."""
    have = f"{item.have} of {item.need} closed {item.interval} candles"
    if item.fetched:
        # The spot feed backfills it on its next poll; the close-by-close date is the bound if the
        # exchange has less history than that (a new listing).
        return f"{have}; fetching the rest from the exchange now (at the latest warm {when(item.ready_at)})"
    return f"{have}; warm {when(item.ready_at)} as new candles close"


def warm_up_text(items: Sequence[WarmUp]) -> str:
    """Return the lines saying what a rule is still missing, or "" when it is warm."""
    if not items:
        return ""
    lines = "\n".join(warm_up_line(item) for item in items)
    return f"{lines}\nIt does not fire until then."
