-- Schema v11 -> v12: candles counted per UTC day, so a window's count is a sum over its whole days plus the
-- partial days at its ends read from the index (at most two days of rows) instead of every row in it:
-- /chart's and /alert test's coverage and the replay's closed-candle count over 97 days of 1m read 140k
-- index entries (46 and 56 ms on three years of 1m, bench.command_queries).
--   candle_days: rows per (symbol, interval, source, day), as candle_coverage counts them;
--   candle_closed_days: open times with a closed candle per (symbol, interval, day), any source, as
--   closed_candle_count counts them (a minute stored by two sources is one).
-- Kept by the application in the transaction that writes the candles (storage/candle_days.py, called by
-- Repo.upsert_candles and the retention prune) rather than by triggers: a trigger per row cost 3-4 times
-- the row's own insert (15 against 4 µs), which the replay and the backfill pay for every candle.
-- ``day`` is open_time - open_time % 86400000. Filled here from the stored candles (one pass).
CREATE TABLE candle_days (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    source TEXT NOT NULL,
    day INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, source, day)
) WITHOUT ROWID;

CREATE TABLE candle_closed_days (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    day INTEGER NOT NULL,
    open_times INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, day)
) WITHOUT ROWID;

INSERT INTO candle_days (symbol, interval, source, day, rows)
SELECT symbol, interval, source, open_time - open_time % 86400000, COUNT(*)
FROM candles GROUP BY symbol, interval, source, open_time - open_time % 86400000;

INSERT INTO candle_closed_days (symbol, interval, day, open_times)
SELECT symbol, interval, open_time - open_time % 86400000, COUNT(DISTINCT open_time)
FROM candles WHERE closed = 1 GROUP BY symbol, interval, open_time - open_time % 86400000;
