-- Schema v11 -> v12: positioning beyond open interest and funding (issue 19). Portable SQL (SQLite and
-- PostgreSQL): plain types, composite primary keys as the natural key of each upsert.
--
-- long_short: one ratio reading of a venue for a market. metric says whose positions it counts:
--   accounts       (all accounts long / short: Binance globalLongShortAccountRatio, Bybit account-ratio,
--                   OKX rubik long-short-account-ratio),
--   top_accounts   (Binance topLongShortAccountRatio), top_positions (Binance topLongShortPositionRatio),
--   taker_volume   (taker buy / sell volume: Binance takerlongshortRatio, OKX rubik taker-volume).
-- ratio is long (or buy) per short (or sell); long_share is long / (long + short), 0..1, when the venue
-- gives the parts. period is the venue's aggregation period ("5m", "1h", ...); ts its start (UTC ms).
CREATE TABLE long_short (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    metric TEXT NOT NULL,
    period TEXT NOT NULL,
    ratio REAL NOT NULL,
    long_share REAL,
    PRIMARY KEY (symbol, metric, source, period, ts)
);
-- implied_vol: a volatility index candle (Deribit DVOL) per currency ("BTC", "ETH"), in annualised %.
CREATE TABLE implied_vol (
    currency TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    resolution TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    PRIMARY KEY (currency, source, resolution, ts)
);
-- depth_bands: a venue's order book snapshot summed within band_bp basis points of the mid price (50 =
-- ±0.5 %), bids below and asks above, in USD. complete = 1 when the snapshot reached past the band's edge
-- on that side; 0 when the venue's snapshot (a few hundred levels) ended inside it: then the figure is
-- what the snapshot holds, a lower bound.
CREATE TABLE depth_bands (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    band_bp INTEGER NOT NULL,
    bid_usd REAL NOT NULL,
    ask_usd REAL NOT NULL,
    bid_complete INTEGER NOT NULL,
    ask_complete INTEGER NOT NULL,
    PRIMARY KEY (symbol, source, band_bp, ts)
);
