"""A digest in words: a title, a status line and one block of lines per section.

The same lines make the Discord embed's fields and ``tripwire digest``'s output; only how a moment is
written differs (a Discord timestamp each reader sees in their own zone, or UTC text), so it is passed in.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.digests.content import DerivativesLine, Digest, Liquidations, PositioningLine
from detectors.base import short_symbol
from detectors.values import (
    Moment,
    format_change,
    format_count,
    format_duration,
    format_funding,
    format_price,
    format_usd,
    utc_text,
)
from storage.rows import HOUR_MS

# A digest section: its heading and its lines.
Section = tuple[str, list[str]]


def utc(ms: int) -> str:
    """Return ``2026-01-14 14:00 UTC`` (the one UTC formatter, ``detectors.values.utc_text``)."""
    return utc_text(ms)


def change(value: float | None) -> str:
    """Return a change in percent with an arrow and one decimal: ``▲ +1.6%`` (or ``n/a``)."""
    if value is None:
        return "n/a"
    arrow = "▲" if value > 0 else "▼" if value < 0 else "•"
    return f"{arrow} {format_change(value, 1)}"


def funding_pct(rate: float) -> str:
    """Return a funding rate (decimal per interval) in percent with four decimals."""
    return format_funding(rate * 100)


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


def _prices(digest: Digest, moment: Moment) -> Section:
    """Return the prices section: each symbol's close, change over the span and range."""
    lines = [
        f"{short_symbol(p.symbol)} {format_price(p.close)} {change(p.change_pct)}"
        + (f" · range {format_price(p.low)}–{format_price(p.high)}" if p.low and p.high else "")
        for p in digest.prices
    ]
    return (f"Prices ({span(digest)} change)", lines or ["No price data for this period."])


def _liquidations(digest: Digest, moment: Moment) -> Section | None:
    """Return the liquidations section, or None when the digest has no liquidation data."""
    if digest.liquidations is None:
        return None
    return (f"Liquidations ({span(digest)})", _liquidation_lines(digest.liquidations, moment))


def _derivatives_line(d: DerivativesLine) -> str:
    """Return one symbol's funding rate (and the one before) and open interest (and its change)."""
    parts = []
    if d.funding_rate is not None:
        was = f" (was {funding_pct(d.funding_rate_before)})" if d.funding_rate_before is not None else ""
        parts.append(f"funding {funding_pct(d.funding_rate)}{was}")
    if d.open_interest is not None:
        amount = (
            format_usd(d.open_interest)
            if d.open_interest_unit == "usd"
            else f"{format_count(d.open_interest)} contracts"
        )
        parts.append(f"open interest {amount} ({change(d.open_interest_change_pct)})")
    return f"{short_symbol(d.symbol)} " + " · ".join(parts)


def _derivatives(digest: Digest, moment: Moment) -> Section:
    """Return the funding and open-interest section."""
    lines = [_derivatives_line(d) for d in digest.derivatives]
    return ("Funding and open interest", lines or ["No funding or open-interest data."])


def _positioning_line(p: PositioningLine) -> str:
    """Return one symbol's summed open interest, weighted funding, long/short reading, DVOL and ETF flow."""
    parts = []
    if p.oi_usd is not None:
        parts.append(
            f"open interest {format_usd(p.oi_usd)} over {p.venues} venue{'s' if p.venues != 1 else ''}"
            + (f" (without {', '.join(p.without)})" if p.without else "")
        )
    elif p.without:
        parts.append(f"no open interest (without {', '.join(p.without)})")
    if p.funding_per_8h is not None:
        how = "weighted by open interest" if p.weighted else "venues' mean"
        parts.append(f"funding {funding_pct(p.funding_per_8h)} per 8h ({how})")
    if p.long_short is not None:
        parts.append(f"{p.long_short_label} {p.long_short:.2f} long/short")
    if p.dvol is not None:
        parts.append(f"DVOL {p.dvol:.1f}")
    if p.etf is not None:
        sign = "+" if p.etf.net_usd >= 0 else "-"
        parts.append(f"spot ETFs {sign}{format_usd(abs(p.etf.net_usd))} on {p.etf.date} ({p.etf.source})")
    return f"{short_symbol(p.symbol)} " + " · ".join(parts)


def _positioning(digest: Digest, moment: Moment) -> Section:
    """Return the positioning section."""
    lines = [_positioning_line(p) for p in digest.positioning]
    return ("Positioning across venues", lines or ["No positioning data."])


def _fear_greed(digest: Digest, moment: Moment) -> Section:
    """Return the Fear & Greed section: the value and its change since the day before when known."""
    fng = digest.fear_greed
    if fng is None:
        return ("Fear & Greed", ["No Fear & Greed value yet."])
    label = f" {fng.classification}" if fng.classification else ""
    if fng.previous is None or fng.change is None:
        return ("Fear & Greed", [f"{fng.value}{label} (published {fng.date})"])
    return ("Fear & Greed", [f"{fng.previous} → {fng.value}{label} ({fng.change:+d} since the day before)"])


def _alerts(digest: Digest, moment: Moment) -> Section:
    """Return the alerts-fired section: the newest alerts, and how many more there were."""
    lines = [f"{moment(a.at)} · {a.title}" for a in digest.alerts]
    if digest.alerts_total > len(digest.alerts):
        lines.append(f"… and {digest.alerts_total - len(digest.alerts)} more")
    return (f"Alerts fired ({digest.alerts_total})", lines or ["No alerts fired in this period."])


# Each section name's builder; a name not listed (the chart) has no lines.
_SECTION_BUILDERS: dict[str, Callable[[Digest, Moment], Section | None]] = {
    "prices": _prices,
    "liquidations": _liquidations,
    "derivatives": _derivatives,
    "positioning": _positioning,
    "fng": _fear_greed,
    "alerts": _alerts,
}


def sections(digest: Digest, moment: Moment) -> list[tuple[str, list[str]]]:
    """Return (heading, lines) for each section the digest has, in order."""
    found: list[Section] = []
    for name in digest.sections:
        build = _SECTION_BUILDERS.get(name)
        section = build(digest, moment) if build is not None else None
        if section is not None:
            found.append(section)
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
