-- PostgreSQL dialect of ../0001_initial.sql (same tables, columns and keys; BIGINT for SQLite's
-- INTEGER: ids and epoch milliseconds do not fit 32 bits; identity columns for AUTOINCREMENT).
-- Schema v1: observations (written by feeds), rules and alert state (engine), outbox (notifiers),
-- silences and guild settings (slash commands). All times are UTC epoch milliseconds.
--
-- Observation tables are WITHOUT ROWID with the symbol first in the primary key, so the table itself is
-- clustered by (symbol, time): the range scans detectors and commands make need no second lookup, and the
-- natural key makes every re-poll an idempotent upsert.

CREATE TABLE candles (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    open_time BIGINT NOT NULL,
    source TEXT NOT NULL,
    o DOUBLE PRECISION NOT NULL,
    h DOUBLE PRECISION NOT NULL,
    l DOUBLE PRECISION NOT NULL,
    c DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    quote_volume DOUBLE PRECISION,
    closed BIGINT NOT NULL DEFAULT 1 CHECK (closed IN (0, 1)),
    PRIMARY KEY (symbol, interval, open_time, source)
);

-- side is the side of the liquidated POSITION ('long'/'short'), never the forced order's side.
-- Aggregated sources (hourly CoinGlass totals) store price = qty = 0, one row per side per bucket.
CREATE TABLE liquidations (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    price DOUBLE PRECISION NOT NULL,
    qty DOUBLE PRECISION NOT NULL,
    usd DOUBLE PRECISION NOT NULL,
    -- SQLite stores NaN as NULL and NOT NULL refuses it; PostgreSQL stores NaN, so it is refused here.
    CHECK (price <> 'NaN' AND qty <> 'NaN' AND usd <> 'NaN'),
    PRIMARY KEY (symbol, ts, source, side, price, qty)
);
-- For "all symbols over the last N hours" (the large-liquidation feed, pruning by age).
CREATE INDEX liquidations_ts ON liquidations (ts, usd);

-- Hourly totals per symbol and source, kept by triggers on every stored (not ignored) row, so
-- /liquidations over a day or a week reads a few hundred rows instead of millions during a cascade.
-- Kept longer than the raw rows (pruning raw liquidations leaves the hourly history in place).
CREATE TABLE liquidation_hourly (
    symbol TEXT NOT NULL,
    hour BIGINT NOT NULL,
    source TEXT NOT NULL,
    long_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    short_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, hour, source)
);
CREATE INDEX liquidation_hourly_hour ON liquidation_hourly (hour);

-- PostgreSQL: SQLite's v1 kept liquidation_hourly with triggers, which v4 replaced by the application
-- (storage/hourly.py); a PostgreSQL database starts with the application keeping it.

CREATE TABLE funding (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    mark_price DOUBLE PRECISION,
    next_funding_time BIGINT,
    settled BIGINT NOT NULL DEFAULT 1 CHECK (settled IN (0, 1)),
    PRIMARY KEY (symbol, ts, source)
);

CREATE TABLE open_interest (
    symbol TEXT NOT NULL,
    ts BIGINT NOT NULL,
    source TEXT NOT NULL,
    contracts DOUBLE PRECISION,
    usd DOUBLE PRECISION,
    PRIMARY KEY (symbol, ts, source)
);

-- date is the publication day (alternative.me dates a value by the day it is published, 00:00 UTC).
CREATE TABLE fear_greed (
    date TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    value BIGINT NOT NULL CHECK (value BETWEEN 0 AND 100),
    classification TEXT,
    source TEXT NOT NULL DEFAULT 'alternative.me'
);
CREATE UNIQUE INDEX fear_greed_ts ON fear_greed (ts);

-- Rules from the config file (origin 'config', guild_id NULL) and from Discord (/alert add).
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL CHECK (origin IN ('config', 'discord')),
    guild_id BIGINT,
    owner_id BIGINT,
    detector TEXT NOT NULL,
    symbol TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    channel_id BIGINT,
    role_id BIGINT,
    deliver TEXT NOT NULL DEFAULT 'channel' CHECK (deliver IN ('channel', 'dm')),
    note TEXT,
    repeat BIGINT NOT NULL DEFAULT 1 CHECK (repeat IN (0, 1)),
    cooldown_s BIGINT NOT NULL DEFAULT 0,
    pending_s BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    enabled BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    status_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rules_guild ON rules (guild_id, owner_id);
CREATE INDEX rules_symbol ON rules (symbol);

-- The detector's own small persisted dict (last side of a level, rolling values), per rule.
CREATE TABLE detector_state (
    rule_id TEXT PRIMARY KEY REFERENCES rules (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    -- The last `now` this rule was evaluated at: a restarted replay or a live restart skips ticks at or
    -- before it, so their effects (already committed with it) are never applied twice.
    evaluated_at BIGINT NOT NULL
);

-- Lifecycle of each alert (one row per dedupe key): pending -> firing -> resolved.
CREATE TABLE alert_state (
    dedupe_key TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
    since BIGINT NOT NULL,
    pending_count BIGINT NOT NULL DEFAULT 0,
    fired_at BIGINT,
    last_seen BIGINT,
    last_event_id BIGINT,
    fire_count BIGINT NOT NULL DEFAULT 0,
    -- 1 when the alert is a state (cascade, funding extreme) whose end is announced.
    stateful BIGINT NOT NULL DEFAULT 0 CHECK (stateful IN (0, 1))
);
CREATE INDEX alert_state_rule ON alert_state (rule_id);

-- Every alert event, including silenced and inhibited ones (history, /why).
CREATE TABLE alert_events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    dedupe_key TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    detector TEXT NOT NULL,
    symbol TEXT NOT NULL,
    guild_id BIGINT,
    state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title TEXT NOT NULL,
    values_json TEXT NOT NULL DEFAULT '{}',
    rule_json TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    late BIGINT NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    silenced_by BIGINT,
    inhibited_by BIGINT,
    UNIQUE (dedupe_key, state, at)
);
CREATE INDEX alert_events_symbol_at ON alert_events (symbol, at);
CREATE INDEX alert_events_rule_at ON alert_events (rule_id, at);
CREATE INDEX alert_events_guild_at ON alert_events (guild_id, at);

-- Durable delivery queue: a row is written in the same transaction as the event it delivers.
CREATE TABLE outbox (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_id BIGINT REFERENCES alert_events (id) ON DELETE SET NULL,
    sink TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    remote_id TEXT,
    error TEXT
);
CREATE INDEX outbox_due ON outbox (sink, status, next_attempt_at);
CREATE INDEX outbox_event ON outbox (event_id);

CREATE TABLE silences (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    guild_id BIGINT,
    symbol TEXT,
    detector TEXT,
    rule_id TEXT,
    severity TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    -- NULL: one window [starts_at, ends_at). 'daily'/'weekly': a mute window that repeats every day/week,
    -- lasting (ends_at - starts_at) from the time of day/week of starts_at (e.g. a maintenance hour).
    recurrence TEXT CHECK (recurrence IN ('daily', 'weekly')),
    created_by BIGINT,
    reason TEXT,
    created_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active ON silences (ends_at);

CREATE TABLE guild_settings (
    guild_id BIGINT PRIMARY KEY,
    alert_channel_id BIGINT,
    ops_channel_id BIGINT,
    settings TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL
);
