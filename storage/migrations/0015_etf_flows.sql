-- Schema v14 -> v15: US spot ETF daily net flows (issue 19, feeds/etf_flows.py). Off by default: the
-- source (SoSoValue's open API) needs a free key. One row per asset, source and US trading day, as read:
--   asset              "BTC" or "ETH"
--   date, ts           the trading day ("YYYY-MM-DD") and its 00:00 UTC in ms
--   net_usd            the day's net flow over every fund of the asset, USD (negative: net outflow)
--   value_traded_usd, net_assets_usd, cum_net_usd   the source's other daily totals, NULL when absent
--   fetched_at         when Tripwire read the row from the source (UTC ms): a revised day is updated in
--                      place and keeps the time of its last reading.
CREATE TABLE etf_flows (
    asset TEXT NOT NULL,
    date TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    net_usd REAL NOT NULL,
    value_traded_usd REAL,
    net_assets_usd REAL,
    cum_net_usd REAL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (asset, source, date)
);
