-- Schema v13 -> v14: the measured liquidation map (feeds/hyperliquid_sample.py). Each sampling round of a
-- venue's public accounts replaces the hour it ended in: one row per account's position in a watched symbol
-- (with the venue's own liquidation price) and one row saying what the round covered. An hour keeps its
-- last round, so the stored hours are the measured map's columns over time (bot/liqmap/measured.py).
CREATE TABLE IF NOT EXISTS measured_positions (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    hour INTEGER NOT NULL,          -- UTC ms, the hour the round ended in
    account TEXT NOT NULL,          -- the account's address, lower case (USER is reserved in PostgreSQL)
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    size REAL NOT NULL,             -- coins
    value_usd REAL NOT NULL,
    entry REAL NOT NULL,
    liquidation_px REAL,            -- NULL: the account's margin covers any move
    leverage REAL NOT NULL,
    margin TEXT NOT NULL CHECK (margin IN ('cross', 'isolated')),
    ts INTEGER NOT NULL,            -- UTC ms, when the account was read
    PRIMARY KEY (venue, symbol, hour, account)
);
CREATE TABLE IF NOT EXISTS measured_samples (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    hour INTEGER NOT NULL,
    ts INTEGER NOT NULL,            -- UTC ms, when the round ended
    accounts_read INTEGER NOT NULL, -- accounts whose state the round read
    accounts INTEGER NOT NULL,      -- of them, those holding a position in the symbol
    sampled_usd REAL NOT NULL,      -- value of those positions, both sides
    open_interest_usd REAL NOT NULL,-- the venue's open interest (one side) at the round's mark price
    mark_px REAL NOT NULL,
    PRIMARY KEY (venue, symbol, hour)
);
