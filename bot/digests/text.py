"""A digest in words: a title, a status line and one block of lines per section.

The same lines make the Discord embed's fields and ``tripwire digest``'s output; only how a moment is
written differs (a Discord timestamp each reader sees in their own zone, or UTC text), so it is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.digests.content import Digest, Liquidations
from bot.parsing import format_duration
from detectors.base import format_price, format_usd, short_symbol
from storage.rows import HOUR_MS

Moment = Callable[[int], str]


def utc(ms: int) -> str:
    """Return ``2026-01-14 14:00 UTC``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def change(value: float | None) -> str:
    """Return a change in percent with an arrow and one decimal: ``▲ +1.6%`` (or ``n/a``)."""
    if value is None:
        return "n/a"
    arrow = "▲" if value > 0 else "▼" if value < 0 else "•"
    return f"{arrow} {value:+.1f}%"


def funding_pct(rate: float) -> str:
    """Return a funding rate (decimal per interval) in percent with four decimals."""
    return f"{rate * 100:+.4f}%"


def span(digest: Digest) -> str:
    """Return the span a digest covers in hours (``24h``), the way market changes are quoted."""
    hours = digest.period_ms / HOUR_MS
    return f"{hours:.0f}h" if hours == int(hours) else format_duration(digest.period_ms / 1000)


def title(digest: Digest) -> str:
    """Return the digest's title: the span it covers and when it ends."""
    return f"Market digest: {span(digest)} to {utc(digest.at)}"


def status(digest: Digest, moment: Moment) -> str | None:
    """Return the line saying the digest is late or was asked for, or None for an on-time post."""
    if digest.late_by_s is not None:
        return (
            f"⏱ Posted late: this is the digest due {moment(digest.at)}, missed while Tripwire was offline "
            f"({format_duration(digest.late_by_s)} late)."
        )
    if digest.on_request:
        return "Posted on request (/digest now)."
    return None


def _liquidation_lines(liq: Liquidations, moment: Moment) -> list[str]:
    if liq.total_usd <= 0:
        return ["No liquidations recorded in this period."]
    share = liq.short_usd / liq.total_usd * 100
    leaning = "shorts" if liq.short_usd >= liq.long_usd else "longs"
    lines = [
        f"Shorts {format_usd(liq.short_usd)} · longs {format_usd(liq.long_usd)} · "
        f"total {format_usd(liq.total_usd)} ({leaning} {max(share, 100 - share):.0f}%)"
    ]
    if len(liq.by_symbol) > 1:
        lines += [
            f"{short_symbol(s.symbol)}: shorts {format_usd(s.short_usd)}, longs {format_usd(s.long_usd)}"
            for s in liq.by_symbol
        ]
    for item in liq.largest[:1]:
        side = "shorts" if item.side == "short" else "longs"
        if item.aggregated:
            lines.append(
                f"Largest: {format_usd(item.usd)} of {short_symbol(item.symbol)} {side} in the hour from "
                f"{moment(item.ts)} ({item.source})"
            )
        else:
            lines.append(
                f"Largest: a {format_usd(item.usd)} {short_symbol(item.symbol)} {item.side} at "
                f"{moment(item.ts)} ({item.source})"
            )
    return lines


def sections(digest: Digest, moment: Moment) -> list[tuple[str, list[str]]]:
    """Return (heading, lines) for each section the digest has, in order."""
    covered = span(digest)
    found: list[tuple[str, list[str]]] = []
    for name in digest.sections:
        if name == "prices":
            lines = [
                f"{short_symbol(p.symbol)} {format_price(p.close)} {change(p.change_pct)}"
                + (f" · range {format_price(p.low)}–{format_price(p.high)}" if p.low and p.high else "")
                for p in digest.prices
            ]
            found.append((f"Prices ({covered} change)", lines or ["No price data for this period."]))
        elif name == "liquidations" and digest.liquidations is not None:
            found.append((f"Liquidations ({covered})", _liquidation_lines(digest.liquidations, moment)))
        elif name == "derivatives":
            lines = []
            for d in digest.derivatives:
                parts = []
                if d.funding_rate is not None:
                    was = (
                        f" (was {funding_pct(d.funding_rate_before)})"
                        if d.funding_rate_before is not None
                        else ""
                    )
                    parts.append(f"funding {funding_pct(d.funding_rate)}{was}")
                if d.open_interest is not None:
                    amount = (
                        format_usd(d.open_interest)
                        if d.open_interest_unit == "usd"
                        else f"{d.open_interest:,.0f} contracts"
                    )
                    parts.append(f"open interest {amount} ({change(d.open_interest_change_pct)})")
                lines.append(f"{short_symbol(d.symbol)} " + " · ".join(parts))
            found.append(("Funding and open interest", lines or ["No funding or open-interest data."]))
        elif name == "fng":
            fng = digest.fear_greed
            if fng is None:
                found.append(("Fear & Greed", ["No Fear & Greed value yet."]))
                continue
            label = f" {fng.classification}" if fng.classification else ""
            if fng.previous is None or fng.change is None:
                found.append(("Fear & Greed", [f"{fng.value}{label} (published {fng.date})"]))
            else:
                found.append(
                    (
                        "Fear & Greed",
                        [f"{fng.previous} → {fng.value}{label} ({fng.change:+d} since the day before)"],
                    )
                )
        elif name == "alerts":
            lines = [f"{moment(a.at)} · {a.title}" for a in digest.alerts]
            if digest.alerts_total > len(digest.alerts):
                lines.append(f"… and {digest.alerts_total - len(digest.alerts)} more")
            found.append(
                (f"Alerts fired ({digest.alerts_total})", lines or ["No alerts fired in this period."])
            )
    return found


def digest_text(digest: Digest) -> str:
    """Return the digest as plain text (UTC times), as ``tripwire digest`` prints it."""
    out = [title(digest)]
    note = status(digest, utc)
    if note:
        out.append(note)
    for heading, lines in sections(digest, utc):
        out += ["", heading, *(f"  {line}" for line in lines)]
    if digest.chart_symbol:
        out += ["", f"(chart of {digest.chart_symbol} attached in Discord)"]
    return "\n".join(out)
