-- Schema v7 -> v8: each venue's instrument list as last read (feeds.instruments), so that a start without
-- network still knows which instrument trades each market where (1000PEPEUSDT, SHIB1000USDT, ...), its
-- multiplier, contract size and funding interval. One venue's list is replaced whole on every refresh.
-- IF NOT EXISTS: the markets branch created this table as its migration 7 before main's 7 (poisoned_rows)
-- landed; its databases resume from v6 (storage/db.py _resume_from) and keep the table they have.
CREATE TABLE IF NOT EXISTS instruments (
    venue TEXT NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT NOT NULL,
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    multiplier BIGINT NOT NULL DEFAULT 1,
    contract_size DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    inverse BIGINT NOT NULL DEFAULT 0,
    funding_interval_h DOUBLE PRECISION,
    listed BIGINT NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT '',
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (venue, kind, symbol)
);
