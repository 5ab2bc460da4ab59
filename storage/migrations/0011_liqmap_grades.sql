-- Schema v9 -> v10: the liquidation map's graded sweeps (bot/liqmap/grading.py). One row per sweep of the
-- modelled map of one venue's open interest, compared with one liquidation source's realized USD of that
-- side in that window; the key makes grading the same sweep again (another /liqmap, a replay) an update.
CREATE TABLE IF NOT EXISTS liqmap_grades (
    symbol TEXT NOT NULL,
    venue TEXT NOT NULL,          -- the liquidation source the realized USD comes from
    model_venue TEXT NOT NULL,    -- the open-interest source the map was built from
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    band_low REAL NOT NULL,
    band_high REAL NOT NULL,
    start INTEGER NOT NULL,       -- UTC ms, first swept candle's open
    end INTEGER NOT NULL,         -- UTC ms, last swept candle's close
    modelled_usd REAL NOT NULL,
    realized_usd REAL NOT NULL,
    basis TEXT NOT NULL,          -- 'events in band' or 'hourly totals' (no prices: the window only)
    graded_at INTEGER NOT NULL,
    PRIMARY KEY (symbol, venue, model_venue, side, start)
);
