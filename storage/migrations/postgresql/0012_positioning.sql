-- PostgreSQL dialect of ../0012_positioning.sql: the same tables and keys, BIGINT for SQLite's INTEGER
-- (epoch milliseconds do not fit 32 bits) and DOUBLE PRECISION for REAL. Comments on the columns there.
CREATE TABLE long_short (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    metric TEXT NOT NULL,
    period TEXT NOT NULL,
    ratio DOUBLE PRECISION NOT NULL,
    long_share DOUBLE PRECISION,
    PRIMARY KEY (symbol, metric, source, period, ts)
);
CREATE TABLE implied_vol (
    currency TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    resolution TEXT NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (currency, source, resolution, ts)
);
CREATE TABLE depth_bands (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    band_bp BIGINT NOT NULL,
    bid_usd DOUBLE PRECISION NOT NULL,
    ask_usd DOUBLE PRECISION NOT NULL,
    bid_complete BIGINT NOT NULL,
    ask_complete BIGINT NOT NULL,
    PRIMARY KEY (symbol, source, band_bp, ts)
);
