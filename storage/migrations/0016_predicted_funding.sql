-- Schema v14 -> v17 (0015 and 0016 are other branches'): predicted funding (issue 19). Portable SQL.
--
-- predicted_funding: a forecast of a venue's next funding rate, read from another source at ts (UTC ms).
-- Hyperliquid's info endpoint ("predictedFundings") predicts its own ("hyperliquid"), Binance's and
-- Bybit's next settlement. rate is a decimal per interval_h hours (the venue's interval, when the source
-- says it), due at next_funding_time. A prediction, never a realised rate: the funding table and its
-- aggregates never read it.
CREATE TABLE predicted_funding (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    venue TEXT NOT NULL,
    rate REAL NOT NULL,
    next_funding_time INTEGER NOT NULL,
    interval_h REAL,
    PRIMARY KEY (symbol, source, venue, ts)
);
