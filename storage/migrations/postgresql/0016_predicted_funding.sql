-- PostgreSQL dialect of ../0016_predicted_funding.sql: the same table and key, BIGINT for SQLite's INTEGER
-- (epoch milliseconds do not fit 32 bits) and DOUBLE PRECISION for REAL. Comments on the columns there.
CREATE TABLE predicted_funding (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    venue TEXT NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    next_funding_time BIGINT NOT NULL,
    interval_h DOUBLE PRECISION,
    PRIMARY KEY (symbol, source, venue, ts)
);
