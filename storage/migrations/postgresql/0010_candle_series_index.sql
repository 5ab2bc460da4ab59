-- PostgreSQL dialect of ../0010_candle_series_index.sql: the same index (series, then time, closed carried).
CREATE INDEX candles_series ON candles (symbol, interval, source, open_time, closed);
