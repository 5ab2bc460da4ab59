"""SYNTHETIC: a BTCUSDT liquidation cascade in each exchange's wire format, for the feed's end-to-end tests.

No venue recorded a cascade of several hundred BTC liquidations, so this one is made, from recorded parts:

* the frames' shapes are those the exchange emulator serves (the first recorded frame of each venue, as
  its replay yields it), with only the event fields replaced;
* sizes and prices are the recorded OKX BTC-USDT liquidations of 2026-10-02 (113 details), in order and
  cycled, with sizes multiplied by ``scale`` (synthetic: that excerpt is an ordinary afternoon, and the
  January 2026 squeeze liquidated hundreds of millions in hours);
* sides follow each venue's own recording: Binance the recorded excerpt's order sides in order, Bybit
  alternating as its two recorded frames do (Buy, Sell), OKX the recorded ``posSide``;
* times are the test clock's (synthetic), a millisecond apart, so no two events share the natural key the
  database drops repeats by.

Each second of the cascade is shaped by what the venues document: Binance's ``!forceOrder@arr`` sends at
most one event per symbol per second, Bybit's ``allLiquidation`` pushes an array every 500 ms, OKX's
``liquidation-orders`` groups a second's details of one instrument in a frame.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.data import OkxLiquidation

# BTC-USDT-SWAP's contract value in BTC, as the emulator's /api/v5/public/instruments serves it.
OKX_BTC_CT_VAL = Decimal("0.01")
BYBIT_ITEMS_PER_PUSH = 10
OKX_DETAILS_PER_SECOND = 2
BINANCE_POSITION = {"SELL": "long", "BUY": "short"}  # a forced sell closes a long
BYBIT_POSITION = {"Buy": "long", "Sell": "short"}  # Bybit names the position


def plain(value: Decimal) -> str:
    """Write a decimal as the venues do: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Expected:
    """What the bot should make of one pushed event: venue, position side, USD size and time."""

    source: str
    side: str
    usd: Decimal
    ts: int


@dataclass(slots=True)
class Second:
    """The frames pushed in one second of the cascade, in push order, and the events they carry."""

    frames: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[Expected] = field(default_factory=list)


class Cascade:
    """Make the cascade second by second from the emulator's recorded data (see the module docstring)."""

    def __init__(self, emu: ExchangeEmulator, *, scale: int) -> None:
        data = emu.data
        btc = [liq for liq in data.okx_liquidations if liq.uly == "BTC-USDT"]
        assert len(btc) == 113, "the recorded OKX excerpt changed; revisit the expected figures"
        self.recorded = btc
        self.scale = Decimal(scale)
        self._sizes = itertools.cycle(btc)
        self._binance_sides = itertools.cycle([order.side for order in data.force_orders])
        self._bybit_sides = itertools.cycle([frame["data"][0]["S"] for frame in data.live_frames["bybit"]])
        self._templates = {
            "binance": next(emu.binance.replay_frames()),
            "bybit": next(emu.bybit.replay_frames()),
            "okx": next(emu.okx.replay_frames()),
        }

    def second(self, t: int) -> Second:
        """Return the frames of the second starting at ``t`` (ms): Binance, Bybit twice, then OKX."""
        out = Second()
        self._binance(out, t)
        self._bybit(out, t, [next(self._sizes) for _ in range(BYBIT_ITEMS_PER_PUSH)])
        self._bybit(out, t + 500, [next(self._sizes) for _ in range(BYBIT_ITEMS_PER_PUSH)])
        self.okx(out, t + 900, [next(self._sizes) for _ in range(OKX_DETAILS_PER_SECOND)])
        return out

    def _qty(self, liq: OkxLiquidation) -> Decimal:
        """Return a recorded size in BTC, scaled."""
        return Decimal(liq.sz) * OKX_BTC_CT_VAL * self.scale

    def _binance(self, out: Second, t: int) -> None:
        liq, side = next(self._sizes), next(self._binance_sides)
        qty = plain(self._qty(liq))
        frame = copy.deepcopy(self._templates["binance"])
        frame["E"] = t
        frame["o"].update(s="BTCUSDT", S=side, q=qty, l=qty, z=qty, p=liq.bk_px, ap=liq.bk_px, T=t)
        out.frames.append(("binance", frame))
        usd = Decimal(liq.bk_px) * self._qty(liq)
        out.events.append(Expected("binance", BINANCE_POSITION[side], usd, t))

    def _bybit(self, out: Second, t: int, sizes: list[OkxLiquidation]) -> None:
        frame = copy.deepcopy(self._templates["bybit"])
        item = frame["data"][0]
        frame.update(topic="allLiquidation.BTCUSDT", ts=t + len(sizes), data=[])
        for n, liq in enumerate(sizes):
            side = next(self._bybit_sides)
            frame["data"].append({**item, "T": t + n, "s": "BTCUSDT", "S": side, "v": plain(self._qty(liq)),
                                  "p": liq.bk_px})  # fmt: skip
            usd = Decimal(liq.bk_px) * self._qty(liq)
            out.events.append(Expected("bybit", BYBIT_POSITION[side], usd, t + n))
        out.frames.append(("bybit", frame))

    def okx(self, out: Second, t: int, details: list[OkxLiquidation]) -> None:
        """Add one OKX frame carrying ``details`` (recorded ones, sizes scaled) stamped from ``t``."""
        frame = copy.deepcopy(self._templates["okx"])
        (item,) = frame["data"]
        detail = item["details"][0]
        item.update(instFamily="BTC-USDT", instId="BTC-USDT-SWAP", uly="BTC-USDT", details=[])
        for n, liq in enumerate(details):
            contracts = Decimal(liq.sz) * self.scale
            side = "sell" if liq.pos_side == "long" else "buy"  # the order that closes the position
            item["details"].append({**detail, "bkPx": liq.bk_px, "posSide": liq.pos_side, "side": side,
                                    "sz": plain(contracts), "ts": str(t + n)})  # fmt: skip
            usd = Decimal(liq.bk_px) * contracts * OKX_BTC_CT_VAL
            out.events.append(Expected("okx", liq.pos_side, usd, t + n))
        out.frames.append(("okx", frame))
