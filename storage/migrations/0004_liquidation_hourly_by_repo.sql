-- The hourly liquidation totals are kept by the application (storage/hourly.py, called by Repo in the
-- same transaction as the rows, with the same arithmetic in the same order) instead of a trigger run for
-- every stored row: the insert trigger was 6.6 of the 9.4 µs a stored liquidation cost (bench.ingest).
DROP TRIGGER IF EXISTS liquidations_hourly_insert;
DROP TRIGGER IF EXISTS liquidations_hourly_update;
