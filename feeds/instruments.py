"""The instrument registry: which instrument trades a market on each venue, and how to read its numbers.

A *market* is what a member means: "PEPE", "BTC". Venues trade it under their own names and units:
Binance spot ``PEPEUSDT``; Binance USD-M and Bybit ``1000PEPEUSDT`` (one unit is 1,000 PEPE, so its
price is 1,000x PEPE's); Bybit ``SHIB1000USDT`` for what Binance calls ``1000SHIBUSDT``; OKX
``PEPE-USDT-SWAP`` in contracts of ``ctVal`` coins. The registry is built from each venue's own
instrument list (see ``feeds.instrument_lists``), so a market resolves to the right instrument per venue
and kind, and every price and size can be put back in units of the base coin before venues are added up.

The canonical symbol the rest of Tripwire stores under stays ``<BASE><QUOTE>`` (``PEPEUSDT``), the name
the project has always used for a USDT market; a 1000x instrument's rows are normalised to it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from feeds.health import Rejections
from storage.rows import Funding, Liquidation, OpenInterest

Kind = Literal["spot", "perp"]

# Quote assets, longest first so that BTCFDUSD splits as BTC/FDUSD (not BTCFD/USD) and BTCTUSD as
# BTC/TUSD. Only used where a venue gives no base/quote of its own (a symbol typed by a member).
QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDE",
    "DAI",
    "USD",
    "EUR",
    "TRY",
    "BRL",
    "BTC",
    "ETH",
    "BNB",
)
# The quotes whose markets count as one USD market when venues are added up.
USD_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDE", "DAI", "USD"})
# A multiplier written before (Binance, Bybit: 1000PEPE, 1000000MOG) or after (Bybit: SHIB1000) the coin.
_LEADING = re.compile(r"^(10{2,})([A-Z].*)$")
_TRAILING = re.compile(r"^([A-Z][A-Z0-9]*?[A-Z])(10{2,})$")


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a concatenated symbol into (base, quote) by the longest known quote suffix.

    ``BTCFDUSD`` -> (BTC, FDUSD); ``1000PEPEUSDT`` -> (1000PEPE, USDT). Dashed forms (``BTC-USDT``,
    ``PEPE-USDT-SWAP``) split on the dash. Raise ValueError when no known quote ends the symbol.
    """
    text = symbol.strip().upper()
    if "-" in text:
        parts = text.split("-")
        if len(parts) >= 2 and parts[0] and parts[1]:
            return parts[0], parts[1]
    for quote in QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    raise ValueError(f"{symbol!r} does not end in a known quote ({', '.join(QUOTES)})")


def strip_multiplier(base: str) -> tuple[str, int]:
    """Return (coin, multiplier) of a derivative's base: ``1000PEPE`` -> (PEPE, 1000), ``BTC`` -> (BTC, 1).

    Only derivatives are read this way: on spot, ``1000SATS`` is the coin's own name.
    """
    if match := _LEADING.match(base):
        return match.group(2), int(match.group(1))
    if match := _TRAILING.match(base):
        return match.group(1), int(match.group(2))
    return base, 1


@dataclass(frozen=True, slots=True)
class Instrument:
    """One venue's instrument for a market: its name there and how to read its prices and sizes.

    ``multiplier`` is how many base coins one unit of the instrument stands for (1000 for 1000PEPEUSDT):
    its price is divided by it and its sizes multiplied by it to give per-coin figures.
    ``contract_size`` is the base coins per contract where sizes come in contracts (OKX ``ctVal``).
    """

    venue: str  # "binance", "binance_futures", "bybit", "okx", "coinbase", "kraken"
    kind: Kind
    symbol: str  # the venue's own name: 1000PEPEUSDT, SHIB1000USDT, PEPE-USDT-SWAP, BTC-USD
    base: str  # the coin, multiplier removed: PEPE
    quote: str  # USDT, FDUSD, USD
    multiplier: int = 1
    contract_size: float = 1.0
    inverse: bool = False  # quoted in coins per USD contract (Bybit/OKX inverse): not a USD market
    funding_interval_h: float | None = None  # perpetuals: hours between settlements, when the venue says
    listed: bool = True  # False: in the list but not trading (delisted, settling, halted, pre-launch)
    status: str = ""  # the venue's own status word, for messages

    @property
    def canonical(self) -> str:
        """Return the symbol Tripwire stores this market under: PEPEUSDT for 1000PEPEUSDT."""
        return f"{self.base}{self.quote}"

    def price(self, venue_price: float) -> float:
        """Return the price of one base coin from the instrument's quoted price."""
        return venue_price / self.multiplier

    def size(self, venue_size: float, *, contracts: bool = False) -> float:
        """Return a size in base coins from the instrument's size (in contracts when ``contracts``)."""
        units = venue_size * self.contract_size if contracts else venue_size
        return units * self.multiplier

    def describe(self) -> str:
        """Say what this instrument is, for /alert add and check-config: "bybit perp SHIB1000USDT (x1000)"."""
        extra = f" (x{self.multiplier})" if self.multiplier != 1 else ""
        hours = self.funding_interval_h
        funding = f", funding every {hours:g}h" if self.kind == "perp" and hours else ""
        state = "" if self.listed else f", not trading ({self.status or 'delisted'})"
        return f"{self.venue} {self.kind} {self.symbol}{extra}{funding}{state}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name given by a member or the config stands for."""

    query: str
    canonical: str | None  # PEPEUSDT; None when nothing matched
    base: str | None = None
    quote: str | None = None
    instruments: tuple[Instrument, ...] = ()  # listed ones, per venue and kind
    unlisted: tuple[Instrument, ...] = ()  # known to a venue but not trading there
    suggestions: tuple[str, ...] = ()  # closest known names when nothing matched

    @property
    def ok(self) -> bool:
        """Tell whether at least one venue trades it."""
        return bool(self.instruments)

    def message(self) -> str:
        """Say what the name resolved to, or why it is refused and what was probably meant."""
        if self.ok:
            venues = "; ".join(i.describe() for i in self.instruments)
            note = ""
            if self.unlisted:
                note = " Not trading: " + "; ".join(i.describe() for i in self.unlisted) + "."
            return f"{self.query} -> {self.canonical} ({self.base}/{self.quote}): {venues}.{note}"
        if self.unlisted:
            gone = "; ".join(i.describe() for i in self.unlisted)
            return f"{self.query} is not trading on any venue: {gone}."
        hint = f" Did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        return f"{self.query} is not a market any venue lists.{hint}"


@dataclass
class InstrumentRegistry:
    """Every venue's instruments, looked up by market, canonical symbol or any venue's own symbol."""

    instruments: list[Instrument] = field(default_factory=list)
    fetched_at: dict[str, int] = field(default_factory=dict)  # venue -> when its list was read (ms)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self._by_symbol: dict[str, list[Instrument]] = {}
        self._by_canonical: dict[str, list[Instrument]] = {}
        self._by_base: dict[str, list[Instrument]] = {}
        for inst in self.instruments:
            self._by_symbol.setdefault(_key(inst.symbol), []).append(inst)
            self._by_canonical.setdefault(inst.canonical, []).append(inst)
            self._by_base.setdefault(inst.base, []).append(inst)

    def replace(self, venue: str, instruments: Iterable[Instrument], at: int) -> None:
        """Replace one venue's instruments with a fresh list read at ``at``."""
        self.instruments = [i for i in self.instruments if i.venue != venue] + list(instruments)
        self.fetched_at[venue] = at
        self._index()

    def venues(self) -> list[str]:
        """Return the venues with a list, sorted."""
        return sorted({i.venue for i in self.instruments})

    def instrument(self, venue: str, canonical: str, kind: Kind | None = None) -> Instrument | None:
        """Return the listed instrument of ``venue`` for a canonical symbol (a perp before a spot), if any."""
        found = [
            i
            for i in self._by_canonical.get(canonical, [])
            if i.venue == venue and i.listed and (kind is None or i.kind == kind)
        ]
        found.sort(key=lambda i: (i.kind != "perp", i.multiplier))
        return found[0] if found else None

    def resolve(self, query: str, *, default_quote: str = "USDT") -> Resolution:
        """Resolve a market ("PEPE"), a canonical symbol ("PEPEUSDT") or a venue symbol ("SHIB1000USDT")."""
        text = query.strip().upper()
        if not text:
            return Resolution(query, None)
        if text in self._by_symbol:
            # A venue's own symbol: its market, on every venue that trades it.
            first = self._by_symbol[text][0]
            return self._market(query, first.base, first.quote)
        if text in self._by_canonical:
            first = self._by_canonical[text][0]
            return self._market(query, first.base, first.quote)
        if text in self._by_base:
            return self._market(query, text, default_quote)
        try:
            base, quote = split_symbol(text)
        except ValueError:
            base, quote = text, default_quote
        coin, _ = strip_multiplier(base)
        if coin in self._by_base:
            return self._market(query, coin, quote)
        return Resolution(query, None, suggestions=self.closest(text))

    def _market(self, query: str, base: str, quote: str) -> Resolution:
        canonical = f"{base}{quote}"
        found = [i for i in self._by_canonical.get(canonical, []) if not i.inverse]
        order = {"perp": 0, "spot": 1}
        found.sort(key=lambda i: (i.venue, order[i.kind], i.multiplier))
        listed = tuple(i for i in found if i.listed)
        unlisted = tuple(i for i in found if not i.listed and not any(x.venue == i.venue for x in listed))
        return Resolution(query, canonical, base, quote, listed, unlisted)

    def closest(self, text: str, n: int = 3) -> tuple[str, ...]:
        """Return up to ``n`` known names closest to ``text`` (canonical symbols and markets)."""
        names = set(self._by_canonical) | set(self._by_base)
        return tuple(difflib.get_close_matches(text.upper(), sorted(names), n=n, cutoff=0.6))


# Tripwire's source names of the venues whose instrument list states each perpetual's funding interval,
# and the names of those lists in the registry.
FUNDING_LIST_VENUE = {"binance": "binance_futures", "bybit": "bybit", "okx": "okx", "gate": "gate"}


def stated_funding_interval(registry: InstrumentRegistry | None, source: str, symbol: str) -> float | None:
    """Return the hours between settlements a venue's instrument list states for a market, if it does.

    Gate's and OKX's rows are running rates with no settlements to measure the interval from, and an alt
    may settle every 4, 2 or 1 hours where BTC settles every 8: the list is the only place that says so.
    """
    venue = FUNDING_LIST_VENUE.get(source)
    if registry is None or venue is None:
        return None
    inst = registry.instrument(venue, symbol, "perp")
    return inst.funding_interval_h if inst is not None and inst.funding_interval_h else None


def _key(symbol: str) -> str:
    return symbol.strip().upper()


class VenueNames:
    """One venue's names for the watched markets, and the normalisation of its rows back to them.

    Built from the registry when there is one; without one (an offline first start, tests) every watched
    symbol is its own venue symbol with a multiplier of 1, as before the registry existed.
    """

    def __init__(
        self,
        venue: str,
        symbols: Iterable[str],
        registry: InstrumentRegistry | None = None,
        kind: Kind | None = None,
    ) -> None:
        self.venue = venue
        self.by_canonical: dict[str, Instrument] = {}
        self.by_venue: dict[str, Instrument] = {}
        self.unlisted: list[str] = []  # watched markets this venue's list does not trade
        self._canonical_of: dict[str, str] = {}
        self._venue_symbols: set[str] = set()
        known = registry is not None and venue in registry.fetched_at
        for symbol in symbols:
            inst = registry.instrument(venue, symbol, kind) if registry is not None and known else None
            if inst is None and known:
                self.unlisted.append(symbol)
                continue
            if inst is None:
                base, quote = split_symbol(symbol) if _splittable(symbol) else (symbol, "")
                inst = Instrument(venue, kind or "perp", symbol, base, quote)
            self.by_canonical[symbol] = inst
            if inst.symbol != symbol or inst.multiplier != 1:
                self.by_venue[inst.symbol] = inst  # rows of the others need no change
            self._venue_symbols.add(inst.symbol)
            self._canonical_of[inst.symbol] = symbol

    def symbols(self) -> list[str]:
        """Return the canonical symbols this venue trades (in the order given)."""
        return list(self.by_canonical)

    def venue_symbol(self, canonical: str) -> str:
        """Return the venue's name for a canonical symbol (itself when unknown)."""
        inst = self.by_canonical.get(canonical)
        return inst.symbol if inst is not None else canonical

    def venue_symbols(self) -> frozenset[str]:
        """Return the venue's names of every watched market (for stream filters and subscriptions)."""
        return frozenset(self._venue_symbols)

    def reject_unlisted(self, rejections: Rejections) -> None:
        """Report, once each, the watched markets this venue's instrument list does not trade."""
        for symbol in self.unlisted:
            rejections.reject(self.venue, symbol, f"not in {self.venue}'s instrument list")

    def _inst(self, venue_symbol: str) -> Instrument | None:
        return self.by_venue.get(venue_symbol)

    def canonical(self, venue_symbol: str) -> str:
        """Return the canonical symbol of a venue symbol (itself when unknown)."""
        return self._canonical_of.get(venue_symbol, venue_symbol)

    def liquidation(self, row: Liquidation) -> Liquidation:
        """Return a liquidation per base coin under the canonical symbol (USD unchanged)."""
        inst = self._inst(row.symbol)
        if inst is None:
            return row
        return row._replace(
            symbol=self.canonical(row.symbol), price=inst.price(row.price), qty=inst.size(row.qty)
        )

    def funding(self, row: Funding) -> Funding:
        """Return a funding row under the canonical symbol with the mark price per base coin."""
        inst = self._inst(row.symbol)
        if inst is None:
            return row
        mark = inst.price(row.mark_price) if row.mark_price is not None else None
        return row._replace(symbol=self.canonical(row.symbol), mark_price=mark)

    def open_interest(self, row: OpenInterest) -> OpenInterest:
        """Return open interest in base coins under the canonical symbol (USD unchanged)."""
        inst = self._inst(row.symbol)
        if inst is None:
            return row
        contracts = inst.size(row.contracts) if row.contracts is not None else None
        return row._replace(symbol=self.canonical(row.symbol), contracts=contracts)


def _splittable(symbol: str) -> bool:
    try:
        split_symbol(symbol)
    except ValueError:
        return False
    return True
