-- Schema v9 -> v10: an index on candles by series (symbol, interval, source) and then time, so the reads
-- that name a source or ask which series a symbol has (storage/repo/observations.py: the spot poll's newest
-- candle of its source, /chart's and /alert test's coverage, /why's newest candle per series) seek instead
-- of walking a symbol's whole history: the primary key (symbol, interval, open_time, source) puts the
-- source last, so "the newest candle of source X" or "which sources" had to read every candle of the symbol
-- (854 ms for /chart's coverage on three years of 1m). ``closed`` is carried so counting closed candles and
-- finding the newest closed one read the index alone. Building it reads the table once (4 s for 1.6M
-- candles); the migration runner copies the database aside first (storage/db.py).
CREATE INDEX candles_series ON candles (symbol, interval, source, open_time, closed);
