-- PostgreSQL dialect of ../0011_liqmap_grades.sql: the liquidation map's graded sweeps. "end" is quoted:
-- END is a reserved word in PostgreSQL (storage/repo/liqmap.py quotes it on both backends).
CREATE TABLE IF NOT EXISTS liqmap_grades (
    symbol TEXT NOT NULL,
    venue TEXT NOT NULL,
    model_venue TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    band_low DOUBLE PRECISION NOT NULL,
    band_high DOUBLE PRECISION NOT NULL,
    start BIGINT NOT NULL,
    "end" BIGINT NOT NULL,
    modelled_usd DOUBLE PRECISION NOT NULL,
    realized_usd DOUBLE PRECISION NOT NULL,
    basis TEXT NOT NULL,
    graded_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, venue, model_venue, side, start)
);
