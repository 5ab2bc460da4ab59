-- PostgreSQL dialect of ../0015_etf_flows.sql: the same table and key, BIGINT for SQLite's INTEGER (epoch
-- milliseconds do not fit 32 bits) and DOUBLE PRECISION for REAL. Comments on the columns there.
CREATE TABLE etf_flows (
    asset TEXT NOT NULL,
    date TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    net_usd DOUBLE PRECISION NOT NULL,
    value_traded_usd DOUBLE PRECISION,
    net_assets_usd DOUBLE PRECISION,
    cum_net_usd DOUBLE PRECISION,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (asset, source, date)
);
