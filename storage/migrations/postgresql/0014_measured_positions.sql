-- PostgreSQL dialect of ../0014_measured_positions.sql: the measured liquidation map's sampled rounds
-- (times BIGINT: PostgreSQL's INTEGER is 32 bits; DOUBLE PRECISION for REAL).
CREATE TABLE IF NOT EXISTS measured_positions (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    hour BIGINT NOT NULL,          -- UTC ms, the hour the round ended in
    account TEXT NOT NULL,          -- the account's address, lower case (USER is reserved in PostgreSQL)
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    size DOUBLE PRECISION NOT NULL,             -- coins
    value_usd DOUBLE PRECISION NOT NULL,
    entry DOUBLE PRECISION NOT NULL,
    liquidation_px DOUBLE PRECISION,            -- NULL: the account's margin covers any move
    leverage DOUBLE PRECISION NOT NULL,
    margin TEXT NOT NULL CHECK (margin IN ('cross', 'isolated')),
    ts BIGINT NOT NULL,            -- UTC ms, when the account was read
    PRIMARY KEY (venue, symbol, hour, account)
);
CREATE TABLE IF NOT EXISTS measured_samples (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    hour BIGINT NOT NULL,
    ts BIGINT NOT NULL,            -- UTC ms, when the round ended
    accounts_read INTEGER NOT NULL, -- accounts whose state the round read
    accounts INTEGER NOT NULL,     -- of them, those holding a position in the symbol
    sampled_usd DOUBLE PRECISION NOT NULL,      -- value of those positions, both sides
    open_interest_usd DOUBLE PRECISION NOT NULL,-- the venue's open interest (one side) at the round's mark price
    mark_px DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (venue, symbol, hour)
);
