"""The config sections of the market-data feeds (``[feeds.*]`` in the TOML file).

``bot.config.Config`` composes ``FeedsConfig`` as its ``feeds`` section; the models live here so that the
feed modules read their own settings without importing ``bot`` (the layer rule in feeds/ruff.toml).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from storage.config import StrictModel


class FeedConfig(StrictModel):
    """Settings every feed shares."""

    enabled: bool = True
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    # A feed with no successful poll/message for this long is reported stale (and holds its alerts back).
    stale_after_seconds: float = Field(300.0, ge=10, le=86400)


class BinanceSpotFeedConfig(FeedConfig):
    """Spot candles from Binance: kline websockets live, the public market-data REST API for history."""

    base_url: str = "https://data-api.binance.vision"
    # "stream": live candles from the <symbol>@kline_<interval> websockets, REST only for the backfill and
    # to repair gaps (after a reconnect, or a close the stream did not deliver). "poll": every candle
    # from REST every poll_seconds (a crossing is seen up to a poll late).
    candles: Literal["stream", "poll"] = "stream"
    ws_url: str = "wss://data-stream.binance.vision"
    # REST requests in flight at once (backfill, gap repair, polls); the weight budget still bounds the rate.
    max_concurrent_requests: int = Field(8, ge=1, le=64)
    interval: Literal["1m", "3m", "5m", "15m", "30m", "1h"] = "1m"
    poll_seconds: float = Field(15.0, ge=5, le=3600)
    backfill_days: float = Field(7.0, ge=0, le=30)
    # Where to get candles when Binance answers HTTP 451 (restricted location).
    fallback: Literal["coinbase", "kraken", "none"] = "coinbase"
    # Request weight the bot lets itself use per minute (X-MBX-USED-WEIGHT-1M); Binance allows 6,000 per
    # IP and bans (HTTP 418) an IP that keeps going after a 429, so leave room for other clients.
    max_weight_per_minute: int = Field(5000, ge=10, le=6000)


class CoinbaseFeedConfig(FeedConfig):
    """Coinbase Exchange candles (spot fallback)."""

    base_url: str = "https://api.exchange.coinbase.com"


class KrakenFeedConfig(FeedConfig):
    """Kraken OHLC (spot fallback)."""

    base_url: str = "https://api.kraken.com"


class BinanceFuturesFeedConfig(FeedConfig):
    """Binance USD-M futures: liquidation stream, funding and open interest."""

    rest_url: str = "https://fapi.binance.com"
    ws_url: str = "wss://fstream.binance.com/market"
    liquidations: bool = True
    funding_poll_seconds: float = Field(60.0, ge=10, le=3600)
    open_interest_poll_seconds: float = Field(60.0, ge=10, le=3600)
    backfill_days: float = Field(7.0, ge=0, le=30)
    # Request weight the bot lets itself use per minute on fapi; Binance's USD-M limit is 2,400 per IP.
    max_weight_per_minute: int = Field(2000, ge=10, le=2400)
    # REST requests in flight at once per poll or backfill (weight and each endpoint's own limit still apply).
    max_concurrent_requests: int = Field(8, ge=1, le=64)


class BybitFeedConfig(FeedConfig):
    """Bybit v5: allLiquidation stream and linear tickers (funding, open interest)."""

    rest_url: str = "https://api.bybit.com"
    ws_url: str = "wss://stream.bybit.com/v5/public/linear"
    liquidations: bool = True
    tickers_poll_seconds: float = Field(60.0, ge=10, le=3600)


class OkxFeedConfig(FeedConfig):
    """OKX v5 liquidation orders (websocket, or REST polling)."""

    rest_url: str = "https://www.okx.com"
    ws_url: str = "wss://ws.okx.com:8443/ws/v5/public"
    mode: Literal["websocket", "rest"] = "websocket"
    rest_poll_seconds: float = Field(30.0, ge=2, le=3600)


class GateFeedConfig(FeedConfig):
    """Gate USDT perpetuals: the ``futures.public_liquidates`` stream (``!all``: every contract)."""

    enabled: bool = False
    rest_url: str = "https://api.gateio.ws"
    ws_url: str = "wss://fx-ws.gateio.ws/v4/ws/usdt"


class HtxFeedConfig(FeedConfig):
    """HTX USDT-margined swaps: ``public.*.liquidation_orders`` on the notification websocket."""

    enabled: bool = False
    ws_url: str = "wss://api.hbdm.com/linear-swap-notification"


class DeribitFeedConfig(FeedConfig):
    """Deribit perpetuals: trades flagged ``liquidation`` on ``trades.<instrument>.100ms``."""

    enabled: bool = False
    ws_url: str = "wss://www.deribit.com/ws/api/v2"


class HyperliquidFeedConfig(FeedConfig):
    """Hyperliquid perpetuals: public trades against the liquidator vault (backstop liquidations only)."""

    enabled: bool = False
    ws_url: str = "wss://api.hyperliquid.xyz/ws"
    # POST /info: the account states the measured liquidation map samples ([liqmap.hyperliquid]).
    rest_url: str = "https://api.hyperliquid.xyz"
    # HLP's liquidator child vault (listed among HLP's children by Hyperliquid's vaultDetails); a fill
    # against it is a backstop liquidation. Lower case.
    liquidator_addresses: list[Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]] = Field(
        default_factory=lambda: ["0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"], min_length=1
    )


class FearGreedFeedConfig(FeedConfig):
    """The Crypto Fear & Greed Index from alternative.me (daily)."""

    base_url: str = "https://api.alternative.me"
    poll_seconds: float = Field(3600.0, ge=300, le=86400)
    backfill_days: int = Field(400, ge=0, le=5000)
    stale_after_seconds: float = Field(2 * 86400.0, ge=3600, le=30 * 86400)


class PositioningFeedConfig(FeedConfig):
    """Positioning from keyless public endpoints (``feeds.positioning``).

    Long/short ratios (Binance, Bybit, OKX rubik), Deribit's DVOL for BTC and ETH, Hyperliquid's, OKX's,
    Gate's and Deribit's open interest and funding, Hyperliquid's predicted funding.
    """

    binance_url: str = "https://fapi.binance.com"
    bybit_url: str = "https://api.bybit.com"
    deribit_url: str = "https://www.deribit.com"
    hyperliquid_url: str = "https://api.hyperliquid.xyz"
    okx_url: str = "https://www.okx.com"
    gate_url: str = "https://api.gateio.ws"
    long_short: bool = True
    implied_vol: bool = True
    hyperliquid: bool = True
    # Hyperliquid's forecast of its own, Binance's and Bybit's next funding rate (shown as a forecast).
    hyperliquid_predicted: bool = True
    okx: bool = True
    # OKX rubik: accounts net long per net short and taker buy/sell volume, per currency (long/short rows).
    okx_rubik: bool = True
    # Gate USDT futures tickers: every contract's open interest and funding in one answer.
    gate: bool = True
    # Deribit book summaries: the BTC and ETH perpetuals' open interest (USD) and 8-hour funding.
    deribit_book: bool = True
    # Binance and Bybit order-book snapshots summed within ±0.5/1/2 % of the mid (/depth).
    depth: bool = True
    # Ratios are published per period (Binance: 5m..1d); the poll reads the newest few of this period.
    period: Literal["5m", "15m", "30m", "1h"] = "5m"
    poll_seconds: float = Field(300.0, ge=30, le=3600)
    # Binance keeps 30 days of ratio history; backfilled hourly at start.
    backfill_days: float = Field(30.0, ge=0, le=30)
    stale_after_seconds: float = Field(1800.0, ge=60, le=86400)


EtfAsset = Literal["BTC", "ETH"]
ETF_ASSETS: tuple[EtfAsset, ...] = ("BTC", "ETH")


class EtfFeedConfig(FeedConfig):
    """US spot BTC and ETH ETF daily net flows (``feeds.etf_flows``): SoSoValue's open API, off by default.

    The API needs a free key, read from the environment (``TRIPWIRE_ETF_API_KEY``, or a file named by
    ``TRIPWIRE_ETF_API_KEY_FILE``), never from this file.
    """

    enabled: bool = False
    base_url: str = "https://api.sosovalue.xyz"
    assets: list[EtfAsset] = Field(default_factory=lambda: list(ETF_ASSETS), min_length=1)
    # The funds report once per US trading day; the free plan allows 1000 calls a month (two a poll).
    poll_seconds: float = Field(6 * 3600.0, ge=3600, le=86400)
    # No successful poll for this long: stale. A weekend plus a holiday leaves four days without a new day.
    stale_after_seconds: float = Field(2 * 86400.0, ge=3600, le=30 * 86400)
    max_lag_seconds: float = Field(5 * 86400.0, ge=86400, le=30 * 86400)


class FeedLimitsConfig(StrictModel):
    """Bounds on what an upstream may send, and on the clocks (``[feeds.limits]``)."""

    # A REST body larger than this is refused unread (logged once, counted in the feed's health).
    max_body_mib: float = Field(4.0, gt=0, le=256)
    # The same for the venues' instrument lists, read at start and daily: the largest answers a venue sends
    # (Binance spot's exchangeInfo of every pair runs to megabytes), so they get a bound of their own.
    max_list_body_mib: float = Field(32.0, gt=0, le=256)
    # A websocket frame larger than this ends the connection (aiohttp max_msg_size).
    max_frame_mib: float = Field(8.0, gt=0, le=256)
    # Bodies above this many KiB are decoded in a worker thread instead of on the event loop.
    off_loop_kib: float = Field(64.0, ge=0, le=65536)
    # A row stamped further ahead of the (skew-corrected) clock than this is refused; venues stamp events
    # when they happen, so only a broken upstream or a wrong clock goes past a few seconds.
    future_skew_seconds: float = Field(120.0, ge=1, le=86400)
    # Host clock off from the venues' (Date headers, server times) by more than this: told once to ops.
    clock_skew_alert_seconds: float = Field(30.0, ge=1, le=86400)
    # Correct the clock by the measured offset (staleness, detectors and the row time window use it).
    correct_clock: bool = True


class FeedsConfig(StrictModel):
    """Every market-data source."""

    binance_spot: BinanceSpotFeedConfig = BinanceSpotFeedConfig()
    coinbase: CoinbaseFeedConfig = CoinbaseFeedConfig()
    kraken: KrakenFeedConfig = KrakenFeedConfig()
    binance_futures: BinanceFuturesFeedConfig = BinanceFuturesFeedConfig()
    bybit: BybitFeedConfig = BybitFeedConfig()
    okx: OkxFeedConfig = OkxFeedConfig()
    gate: GateFeedConfig = GateFeedConfig()
    htx: HtxFeedConfig = HtxFeedConfig()
    deribit: DeribitFeedConfig = DeribitFeedConfig()
    hyperliquid: HyperliquidFeedConfig = HyperliquidFeedConfig()
    fear_greed: FearGreedFeedConfig = FearGreedFeedConfig()
    positioning: PositioningFeedConfig = PositioningFeedConfig()
    etf: EtfFeedConfig = EtfFeedConfig()
    limits: FeedLimitsConfig = FeedLimitsConfig()
