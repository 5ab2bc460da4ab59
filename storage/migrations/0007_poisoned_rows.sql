-- Schema v6 -> v7: remove what a broken upstream could store before the ingest guard (feeds/guard.py)
-- refused it. A liquidation whose price x quantity overflowed was stored as usd = Infinity (SQLite keeps
-- IEEE infinities as REAL; 9e999 is how SQL spells one) and its alert's payload as JSON with Infinity, which
-- is not JSON: json_extract() then fails on every query scanning that table, and /history broke for every
-- server. Rows stamped more than a day ahead of the upgrade (one 2099 point emptied the cascade baseline and
-- froze the spot poll, which asks for candles after the newest stored one) go too, here for what an older
-- version stored and in every retention prune (storage/repo/maintenance.py) from then on.
DELETE FROM liquidations WHERE abs(usd) >= 9e999 OR abs(price) >= 9e999 OR abs(qty) >= 9e999;
UPDATE liquidation_hourly SET long_usd = 0 WHERE abs(long_usd) >= 9e999;
UPDATE liquidation_hourly SET short_usd = 0 WHERE abs(short_usd) >= 9e999;
DELETE FROM candles
    WHERE abs(o) >= 9e999 OR abs(h) >= 9e999 OR abs(l) >= 9e999 OR abs(c) >= 9e999 OR abs(volume) >= 9e999
    OR abs(quote_volume) >= 9e999;
DELETE FROM funding WHERE abs(rate) >= 9e999 OR abs(mark_price) >= 9e999;
DELETE FROM open_interest WHERE abs(contracts) >= 9e999 OR abs(usd) >= 9e999;
DELETE FROM candles WHERE open_time > (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000;
DELETE FROM liquidations WHERE ts > (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000;
DELETE FROM liquidation_hourly WHERE hour > (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000;
DELETE FROM funding WHERE ts > (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000;
DELETE FROM open_interest WHERE ts > (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000;
-- Python's json.dumps wrote Infinity, -Infinity and NaN as bare words; null is what storage writes now.
UPDATE alert_events SET values_json = replace(replace(replace(values_json, '-Infinity', 'null'), 'Infinity',
    'null'), 'NaN', 'null') WHERE json_valid(values_json) = 0;
UPDATE outbox SET payload = replace(replace(replace(payload, '-Infinity', 'null'), 'Infinity', 'null'), 'NaN',
    'null') WHERE json_valid(payload) = 0;
