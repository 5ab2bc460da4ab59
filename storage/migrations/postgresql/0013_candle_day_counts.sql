-- PostgreSQL dialect of ../0013_candle_day_counts.sql: the same tables and keys, BIGINT for SQLite's
-- INTEGER (epoch milliseconds do not fit 32 bits). Comments on the columns and why the application keeps
-- the counts (not triggers) there.
CREATE TABLE candle_days (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    source TEXT NOT NULL,
    day BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    PRIMARY KEY (symbol, interval, source, day)
);

CREATE TABLE candle_closed_days (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    day BIGINT NOT NULL,
    open_times BIGINT NOT NULL,
    PRIMARY KEY (symbol, interval, day)
);

INSERT INTO candle_days (symbol, interval, source, day, rows)
SELECT symbol, interval, source, open_time - open_time % 86400000, COUNT(*)
FROM candles GROUP BY symbol, interval, source, open_time - open_time % 86400000;

INSERT INTO candle_closed_days (symbol, interval, day, open_times)
SELECT symbol, interval, open_time - open_time % 86400000, COUNT(DISTINCT open_time)
FROM candles WHERE closed = 1 GROUP BY symbol, interval, open_time - open_time % 86400000;
