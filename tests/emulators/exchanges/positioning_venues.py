"""Gate tickers, Deribit book summaries, OKX rubik ratios and Hyperliquid's predicted funding.

What each venue documents and this emulator enforces:

- Gate ``GET /api/v4/futures/{settle}/tickers``: ``settle`` btc or usdt (else HTTP 400
  ``INVALID_PARAM_VALUE``), optional ``contract`` (an unknown one: HTTP 400 ``CONTRACT_NOT_FOUND``);
  public endpoints allow 200 requests per 10 s per endpoint and IP, past it HTTP 429
  ``TOO_MANY_REQUESTS`` [the bodies' ``message`` wording unverified]. ``total_size`` is in contracts
  of liq_venues.GATE_CONTRACTS' ``quanto_multiplier``.
- Deribit ``GET /api/v2/public/get_book_summary_by_currency``: ``currency`` one of BTC ETH USDC USDT EURR,
  ``kind`` (optional) one of future option spot future_combo option_combo; else HTTP 400 JSON-RPC error
  -32602 "Invalid params"; one credit pool with the DVOL route (positioning.CreditBucket: 500 credits a
  request, 50,000 at most, 10,000 a second back; past it 429 ``too_many_requests``, code 10028). A
  perpetual's ``open_interest`` is in USD. Only the BTC and ETH perpetuals are
  listed (no dated future, option or USDC market is served).
- OKX ``GET /api/v5/rubik/stat/contracts/long-short-account-ratio`` and ``/api/v5/rubik/stat/taker-volume``:
  ``ccy`` mandatory (empty: code 50014; one without statistics: 51000 "Parameter ccy error"
  [unverified wording]), taker volume's ``instType`` SPOT or CONTRACTS (else 51000), ``period`` 5m, 1H or 1D
  (else 51000) over the last 2, 30 and 180 days; "5 requests per 2 seconds" per IP and endpoint, past it
  HTTP 429 with code 50011 "Too Many Requests". Rows ``[ts, ratio]`` and ``[ts, sellVol, buyVol]``, newest
  first.
- Hyperliquid ``{"type": "predictedFundings"}`` (served by hyperliquid_info.py's ``POST /info``, weight 20):
  ``[[coin, [[venue, {fundingRate, nextFundingTime, fundingIntervalHours}], ...]], ...]``.

The figures are SYNTHETIC, made deterministically from the recorded market hours (no venue's own series was
recorded): Gate's open interest is 15 % of Binance's (in coins) and its running rate 1.1 x Binance's;
Deribit's perpetual holds 5 % of Binance's USD open interest at 0.8 x Binance's rate per 8 h; OKX's
accounts ratio and taker split lean with the hour's move as positioning.py's long shares do; Hyperliquid
predicts its own next hourly rate as Binance's / 8, Binance's as Binance's and Bybit's as 0.95 x it. The
payload shapes are the real ones (tests/data/corpus/README.md).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from .context import Context, fixed, json_response
from .data import DAY_MS, HOUR_MS, MarketHour
from .hyperliquid_info import SlidingWeight
from .liq_venues import GATE_CONTRACTS
from .positioning import CreditBucket, deribit_error, deribit_result, deribit_too_many, long_share

GATE_REQUESTS_PER_10_S = 200
OKX_RUBIK_REQUESTS_PER_2_S = 5
DERIBIT_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
DERIBIT_KINDS = ("future", "option", "spot", "future_combo", "option_combo")
# OKX rubik periods: their step and how far back each is kept ("5m ... within two days at most", ...).
RUBIK_PERIODS = {"5m": (5 * 60_000, 2 * DAY_MS), "1H": (HOUR_MS, 30 * DAY_MS), "1D": (DAY_MS, 180 * DAY_MS)}
RUBIK_COINS = ("BTC", "ETH")
PREDICTED_COINS = ("BTC", "ETH")


class OiFundingVenues:
    """Gate, Deribit and OKX routes of aggregated open interest, funding and long/short (one host)."""

    def __init__(self, ctx: Context, deribit_credits: CreditBucket | None = None) -> None:
        self.ctx = ctx
        self.deribit_credits = deribit_credits or CreditBucket()
        self.gate_weight = SlidingWeight(GATE_REQUESTS_PER_10_S, 10.0)
        self.rubik_weight = {
            "long_short": SlidingWeight(OKX_RUBIK_REQUESTS_PER_2_S, 2.0),
            "taker": SlidingWeight(OKX_RUBIK_REQUESTS_PER_2_S, 2.0),
        }

    def routes(self) -> list[web.RouteDef]:
        """Return the routes."""
        return [
            web.get("/api/v4/futures/{settle}/tickers", self.gate_tickers),
            web.get("/api/v2/public/get_book_summary_by_currency", self.deribit_book_summary),
            web.get("/api/v5/rubik/stat/contracts/long-short-account-ratio", self.okx_long_short),
            web.get("/api/v5/rubik/stat/taker-volume", self.okx_taker_volume),
        ]

    def _hour(self, coin: str) -> MarketHour | None:
        return self.ctx.data.market_hour_at(f"{coin}USDT", self.ctx.clock.recorded_now_ms())

    # -- Gate ------------------------------------------------------------------------------------------
    @staticmethod
    def _gate_error(status: int, label: str, message: str) -> web.Response:
        return json_response({"label": label, "message": message}, status=status)

    async def gate_tickers(self, request: web.Request) -> web.Response:
        """GET /api/v4/futures/{settle}/tickers: every USDT contract, or the one named."""
        if not self.gate_weight.charge(1):
            return self._gate_error(429, "TOO_MANY_REQUESTS", "Request Rate limit Exceeded")
        settle = request.match_info["settle"]
        if settle not in ("btc", "usdt"):
            return self._gate_error(400, "INVALID_PARAM_VALUE", f"invalid settle: {settle}")
        wanted = request.query.get("contract")
        contracts = GATE_CONTRACTS if settle == "usdt" else []
        if wanted is not None and wanted not in {c["name"] for c in contracts}:
            return self._gate_error(400, "CONTRACT_NOT_FOUND", f"contract {wanted} not found")
        rows = []
        for contract in contracts:
            coin = contract["name"].split("_")[0]
            hour = self._hour(coin)
            if hour is None or (wanted and contract["name"] != wanted):
                continue
            coins = hour.oi_close_usd / hour.price_close * Decimal("0.15")
            size = int(coins / Decimal(contract["quanto_multiplier"]))
            rate = hour.funding_close_pct / 100 * Decimal("1.1")
            rows.append(
                {
                    "contract": contract["name"],
                    "last": fixed(hour.price_close, 1),
                    "change_percentage": "0",
                    "total_size": str(size),
                    "volume_24h": "0",
                    "volume_24h_base": "0",
                    "volume_24h_quote": "0",
                    "volume_24h_settle": "0",
                    "mark_price": fixed(hour.price_close, 2),
                    "funding_rate": f"{rate:.6f}",
                    "funding_rate_indicative": f"{rate:.6f}",
                    "index_price": fixed(hour.price_close, 2),
                    "quanto_base_rate": "",
                    "low_24h": fixed(hour.price_low, 1),
                    "high_24h": fixed(hour.price_high, 1),
                }
            )
        return json_response(rows)

    # -- Deribit ---------------------------------------------------------------------------------------
    async def deribit_book_summary(self, request: web.Request) -> web.Response:
        """GET /api/v2/public/get_book_summary_by_currency: the currency's perpetual (kind future or all)."""
        if not self.deribit_credits.charge():
            return deribit_too_many()
        currency = request.query.get("currency", "")
        if currency not in DERIBIT_CURRENCIES:
            return deribit_error("wrong format", "currency")
        kind = request.query.get("kind")
        if kind is not None and kind not in DERIBIT_KINDS:
            return deribit_error("wrong format", "kind")
        result = []
        hour = self._hour(currency) if currency in ("BTC", "ETH") else None
        now = self.ctx.clock.now_ms()
        if hour is not None and kind in (None, "future"):
            usd = int(hour.oi_close_usd * Decimal("0.05") / 10) * 10  # whole $10 contracts
            result.append(
                {
                    "volume_usd": 0.0,
                    "volume_notional": 0.0,
                    "volume": 0.0,
                    "quote_currency": "USD",
                    "price_change": 0.0,
                    "open_interest": usd,
                    "mid_price": float(hour.price_close),
                    "mark_price": float(hour.price_close),
                    "low": float(hour.price_low),
                    "last": float(hour.price_close),
                    "instrument_name": f"{currency}-PERPETUAL",
                    "high": float(hour.price_high),
                    "funding_8h": round(float(hour.funding_close_pct) / 100 * 0.8, 8),
                    "estimated_delivery_price": float(hour.price_close),
                    "current_funding": 0.0,
                    "creation_timestamp": now,
                    "bid_price": float(hour.price_close),
                    "base_currency": currency,
                    "ask_price": float(hour.price_close),
                }
            )
        return deribit_result(result, now)

    # -- OKX rubik -------------------------------------------------------------------------------------
    @staticmethod
    def _okx(data: list[Any], code: str = "0", msg: str = "", status: int = 200) -> web.Response:
        return json_response({"code": code, "data": data, "msg": msg}, status=status)

    def _rubik_points(
        self, request: web.Request, limit_key: str
    ) -> list[tuple[int, MarketHour]] | web.Response:
        """Check a rubik request and return its (served ts, market hour) points, newest first."""
        if not self.rubik_weight[limit_key].charge(1):
            return self._okx([], "50011", "Too Many Requests", status=429)
        query = request.query
        ccy = query.get("ccy", "")
        if not ccy:
            return self._okx([], "50014", "Parameter ccy can not be empty")
        if ccy not in RUBIK_COINS:
            return self._okx([], "51000", "Parameter ccy error")
        period = query.get("period", "5m")
        if period not in RUBIK_PERIODS:
            return self._okx([], "51000", "Parameter period error")
        step, kept = RUBIK_PERIODS[period]
        now = self.ctx.clock.recorded_now_ms()
        try:
            begin = self.ctx.clock.recorded(int(query["begin"])) if "begin" in query else now - kept
            end = self.ctx.clock.recorded(int(query["end"])) if "end" in query else now
        except ValueError:
            return self._okx([], "51000", "Parameter begin error")
        begin, end = max(begin, now - kept), min(end, now)
        points = []
        for hour in self.ctx.data.market_hours.get(f"{ccy}USDT", []):
            for t in range(hour.ts, hour.ts + max(HOUR_MS, step), step):
                if begin <= t <= end and t < hour.ts + HOUR_MS:
                    points.append((self.ctx.clock.served(t), hour))
        return sorted(points, key=lambda p: -p[0])

    async def okx_long_short(self, request: web.Request) -> web.Response:
        """GET /api/v5/rubik/stat/contracts/long-short-account-ratio: [[ts, ratio]], newest first."""
        points = self._rubik_points(request, "long_short")
        if isinstance(points, web.Response):
            return points
        rows = []
        for t, hour in points:
            share = long_share(hour, 0.01)
            rows.append([str(t), f"{share / (1 - share):.2f}"])
        return self._okx(rows)

    async def okx_taker_volume(self, request: web.Request) -> web.Response:
        """GET /api/v5/rubik/stat/taker-volume: [[ts, sellVol, buyVol]], newest first."""
        inst_type = request.query.get("instType", "")
        if not inst_type:
            return self._okx([], "50014", "Parameter instType can not be empty")
        if inst_type not in ("SPOT", "CONTRACTS"):
            return self._okx([], "51000", "Parameter instType error")
        points = self._rubik_points(request, "taker")
        if isinstance(points, web.Response):
            return points
        rows = []
        for t, hour in points:
            total = float(hour.oi_close_usd / hour.price_close) / 400
            share = long_share(hour, -0.03)
            rows.append([str(t), f"{total * (1 - share):.4f}", f"{total * share:.4f}"])
        return self._okx(rows)

    # -- Hyperliquid predictedFundings -----------------------------------------------------------------
    def hyperliquid_predicted_fundings(self) -> list[Any]:
        """Return the ``predictedFundings`` answer (hyperliquid_info.py serves it)."""
        now = self.ctx.clock.now_ms()
        entries: list[Any] = []
        for coin in PREDICTED_COINS:
            hour = self._hour(coin)
            if hour is None:
                continue
            rate = hour.funding_close_pct / 100
            next_hour = now - now % HOUR_MS + HOUR_MS
            next_8h = self.ctx.next_funding_ms()
            entries.append(
                [
                    coin,
                    [
                        [
                            "BinPerp",
                            {
                                "fundingRate": f"{rate:.8f}",
                                "nextFundingTime": next_8h,
                                "fundingIntervalHours": 8,
                            },
                        ],
                        [
                            "HlPerp",
                            {
                                "fundingRate": f"{rate / 8:.10f}",
                                "nextFundingTime": next_hour,
                                "fundingIntervalHours": 1,
                            },
                        ],
                        [
                            "BybitPerp",
                            {
                                "fundingRate": f"{rate * Decimal('0.95'):.8f}",
                                "nextFundingTime": next_8h,
                                "fundingIntervalHours": 8,
                            },
                        ],
                    ],
                ]
            )
        return entries
