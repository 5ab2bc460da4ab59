"""Hyperliquid's info endpoint: ``POST /info`` for account states and asset contexts, within the IP's weight.

What the venue documents ("Rate limits and user limits", "Info endpoint > Perpetuals", Hyperliquid API docs,
hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api):

- REST requests of one IP share **1,200 weight a minute**. ``clearinghouseState`` (with ``l2Book``,
  ``allMids``, ``orderStatus``, ``spotClearinghouseState``, ``exchangeStatus``) weighs 2, ``userRole`` 60,
  every other info request 20 (``metaAndAssetCtxs`` among them). Over the limit the request is refused with
  HTTP 429. The docs do not say how the minute is counted nor what the 429's body is: here a sliding
  60 s window, an empty body and no Retry-After [unverified].
- ``{"type":"clearinghouseState","user":"0x…40 hex"}`` answers the account's perpetuals state;
  ``{"type":"metaAndAssetCtxs"}`` the universe and each asset's context (``openInterest`` in coins,
  ``markPx``). A body that is not that JSON, or a ``user`` that is not a 42-character address, is refused
  with 422 ``Failed to deserialize the JSON body into the target type`` (text/plain), as the venue's
  OpenAPI description by nktkas lists it.

What is served:

- the account ``0x5e9ee108…a13a`` answers its RECORDED state (the official SDK's cassette, 2023-03-27,
  tests/data/fixtures/hyperliquid_info_clearinghouseState_mainnet_20230327.json), byte-exact;
- every other account answers a STAND-IN (no state of a 2026 account was recorded): BTC and/or ETH
  positions in the shape of the documented example (tests/data/corpus/
  hyperliquid_info_clearinghouseState_docs_example.json), derived from a hash of the address: side,
  leverage, size ($1k to $1M), the recorded hour it opened in (entry: that hour's close), isolated or
  cross, and the ``liquidationPx`` an isolated position of that leverage has under Hyperliquid's
  maintenance margin (half the initial margin at the asset's maximum leverage); a third of the cross ones
  carry ``null``, as the recorded account's well-margined longs do. A position opened after "now" is not
  there yet, one whose liquidation price the recorded prices reached since is gone (liquidated);
- ``metaAndAssetCtxs``: positioning.py's answer (BTC and ETH, SYNTHETIC open interest: 12% of Binance's);
- ``meta`` (weight 20): that answer's first half, the universe (the instrument list Tripwire reads);
- ``predictedFundings`` (weight 20): positioning_venues.py's answer (SYNTHETIC forecasts for BTC and ETH).
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from .context import Context, json_response
from .data import Candle

IP_WEIGHT_PER_MINUTE = 1200
WEIGHT_2 = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
WEIGHTS_OTHER = {"userRole": 60}
DEFAULT_WEIGHT = 20
RECORDED_USER = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
RECORDED_FILE = "hyperliquid_info_clearinghouseState_mainnet_20230327.json"
ADDRESS = re.compile(r"^0[xX][0-9a-fA-F]{40}$")
REFUSED_BODY = "Failed to deserialize the JSON body into the target type"
# coin -> (served symbol, maximum leverage, size decimals) as Hyperliquid's meta lists BTC and ETH.
COINS = {"BTC": ("BTCUSDT", 40, 5), "ETH": ("ETHUSDT", 25, 4)}
LEVERAGES = (3, 5, 10, 20, 25, 40)
# Hours of each coin's recording a stand-in account may have opened its position in (BTC's starts
# 2026-01-01, ETH's 2026-01-09; both end 2026-01-20).
RECORDED_HOURS = {"BTC": 20 * 24, "ETH": 11 * 24}


def info_weight(kind: str) -> int:
    """Return the documented weight of an info request type."""
    return 2 if kind in WEIGHT_2 else WEIGHTS_OTHER.get(kind, DEFAULT_WEIGHT)


class SlidingWeight:
    """Weight spent by the IP over the last ``window`` seconds, refusing what would pass ``limit``."""

    def __init__(self, limit: int, window: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self.used = 0
        self.refused = 0

    def charge(self, weight: int) -> bool:
        """Count a request of this weight and return True; False (a 429) if it would pass the limit."""
        now = self._now()
        while self._spent and self._spent[0][0] <= now - self.window:
            self.used -= self._spent.popleft()[1]
        if self.used + weight > self.limit:
            self.refused += 1
            return False
        self._spent.append((now, weight))
        self.used += weight
        return True


def _digits(value: Decimal, places: int) -> str:
    text = f"{value:.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def stand_in_position(user: str, coin: str, hours: Sequence[Candle]) -> dict[str, Any] | None:
    """Return the STAND-IN position ``user`` holds in ``coin`` after these hours (None: no position).

    ``hours`` are the coin's recorded hourly candles up to now. The account opened its position at the
    close of one of them (chosen by its address, any hour of the recording): none yet if that hour is still
    to come, none any more if the price has since reached its liquidation price (the venue closed it).
    """
    seed = hashlib.sha256(f"{user.lower()}:{coin}".encode()).digest()
    if seed[0] >= 180 or not hours:  # about 30% of accounts hold none of this coin
        return None
    _, max_leverage, size_places = COINS[coin]
    opened = int.from_bytes(seed[7:9], "big") % RECORDED_HOURS[coin]
    if opened >= len(hours):
        return None  # opened later in the recording than now
    long = seed[1] % 2 == 0
    leverage = min(LEVERAGES[seed[2] % len(LEVERAGES)], max_leverage)
    value = Decimal(10) ** (Decimal(3) + Decimal(3) * Decimal(seed[3]) / 255)
    sign = 1 if long else -1
    entry = hours[opened].close * (1 + (Decimal(seed[4]) - 128) / 128 * Decimal("0.002"))
    price = hours[-1].close
    size = (value / price).quantize(Decimal(1).scaleb(-size_places))
    if size == 0:
        return None
    isolated = seed[5] % 2 == 0
    mmr = Decimal(1) / (2 * max_leverage)
    # Equity at the liquidation price equals the maintenance margin: entry/L + s(p - entry) = m p.
    liquidation: Decimal | None = entry * (sign - Decimal(1) / leverage) / (sign - mmr)
    if not isolated:
        # Cross margin backs the position with the whole account: farther away, or none at all.
        liquidation = None if seed[6] < 85 else entry * (1 - sign * Decimal(2) / leverage)
    since = hours[opened + 1 :]
    if liquidation is not None and since:
        reached = (
            min(c.low for c in since) <= liquidation if long else max(c.high for c in since) >= liquidation
        )
        if reached:
            return None  # liquidated since it opened
    notional = size * price
    pnl = sign * size * (price - entry)
    margin = notional / leverage
    position: dict[str, Any] = {
        "coin": coin,
        "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"},
        "entryPx": _digits(entry, 1 if coin == "BTC" else 2),
        "leverage": {"type": "isolated" if isolated else "cross", "value": leverage},
        "liquidationPx": None if liquidation is None or liquidation <= 0 else _digits(liquidation, 8),
        "marginUsed": _digits(margin, 6),
        "maxLeverage": max_leverage,
        "positionValue": _digits(notional, 6),
        "returnOnEquity": _digits(pnl / margin, 8) if margin else "0.0",
        "szi": _digits(size if long else -size, size_places),
        "unrealizedPnl": _digits(pnl, 6),
    }
    if isolated:
        position["leverage"]["rawUsd"] = _digits(-sign * notional + margin, 6)
    return position


class HyperliquidInfo:
    """``POST /info``: clearinghouseState and metaAndAssetCtxs, charged against the IP's weight."""

    def __init__(
        self,
        ctx: Context,
        asset_ctxs: Callable[[], list[Any]],
        limit: int = IP_WEIGHT_PER_MINUTE,
        window: float = 60.0,
        *,
        predicted: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.asset_ctxs = asset_ctxs  # positioning.py's metaAndAssetCtxs answer
        self.predicted = predicted  # positioning_venues.py's predictedFundings answer
        self.weight = SlidingWeight(limit, window)
        fixtures = Path(ctx.config.data_dir) / "fixtures"
        self.recorded_body = (fixtures / RECORDED_FILE).read_bytes()
        self.served: collections.Counter[str] = collections.Counter()  # answered requests per type

    def routes(self) -> list[web.RouteDef]:
        """Return the info route."""
        return [web.post("/info", self.info)]

    async def info(self, request: web.Request) -> web.Response:
        """Serve POST https://api.hyperliquid.xyz/info."""
        try:
            body = json.loads(await request.read())
            kind = str(body["type"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=422, text=REFUSED_BODY)
        if not self.weight.charge(info_weight(kind)):
            return web.Response(status=429, text="")
        if kind == "clearinghouseState":
            user = body.get("user")
            if not isinstance(user, str) or not ADDRESS.match(user):
                return web.Response(status=422, text=REFUSED_BODY)
            self.served[kind] += 1
            if user.lower() == RECORDED_USER:
                return web.Response(body=self.recorded_body, content_type="application/json")
            return json_response(self.state(user))
        if kind == "metaAndAssetCtxs":
            self.served[kind] += 1
            return json_response(self.asset_ctxs())
        if kind == "meta":
            self.served[kind] += 1
            return json_response(self.asset_ctxs()[0])
        if kind == "predictedFundings" and self.predicted is not None:
            self.served[kind] += 1
            return json_response(self.predicted())
        return web.Response(status=422, text=REFUSED_BODY)

    def price(self, coin: str) -> Decimal:
        """Return the coin's served mark price: the close of the hour now."""
        candle = self.ctx.data.candle_at(COINS[coin][0], self.ctx.clock.recorded_now_ms())
        if candle is None:
            raise web.HTTPInternalServerError(text=f"no {coin} price recorded before now")
        return candle.close

    def hours(self, coin: str) -> list[Candle]:
        """Return the coin's recorded hourly candles up to the one open now."""
        candles = self.ctx.data.spot[COINS[coin][0]]
        now = self.ctx.clock.recorded_now_ms()
        return candles[: bisect.bisect_right(candles, now, key=lambda c: c.open_time)]

    def state(self, user: str) -> dict[str, Any]:
        """Return a STAND-IN clearinghouseState of ``user`` (see the module)."""
        positions: list[dict[str, Any]] = []
        for coin in COINS:
            position = stand_in_position(user, coin, self.hours(coin))
            if position is not None:
                positions.append({"position": position, "type": "oneWay"})
        notional = sum((Decimal(p["position"]["positionValue"]) for p in positions), Decimal(0))
        used = sum((Decimal(p["position"]["marginUsed"]) for p in positions), Decimal(0))
        account = used * 2 + 1000
        summary = {
            "accountValue": _digits(account, 6),
            "totalMarginUsed": _digits(used, 6),
            "totalNtlPos": _digits(notional, 6),
            "totalRawUsd": _digits(account - notional, 6),
        }
        return {
            "assetPositions": positions,
            "crossMaintenanceMarginUsed": "0.0",
            "crossMarginSummary": summary,
            "marginSummary": summary,
            "time": self.ctx.clock.now_ms(),
            "withdrawable": _digits(account - used, 6),
        }
