-- Schema v1: observations (written by feeds), rules and alert state (engine), outbox (notifiers),
-- silences and guild settings (slash commands). All times are UTC epoch milliseconds.
--
-- Observation tables are WITHOUT ROWID with the symbol first in the primary key, so the table itself is
-- clustered by (symbol, time): the range scans detectors and commands make need no second lookup, and the
-- natural key makes every re-poll an idempotent upsert.

CREATE TABLE candles (
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    open_time INTEGER NOT NULL,
    source TEXT NOT NULL,
    o REAL NOT NULL,
    h REAL NOT NULL,
    l REAL NOT NULL,
    c REAL NOT NULL,
    volume REAL NOT NULL,
    quote_volume REAL,
    closed INTEGER NOT NULL DEFAULT 1 CHECK (closed IN (0, 1)),
    PRIMARY KEY (symbol, interval, open_time, source)
) WITHOUT ROWID;

-- side is the side of the liquidated POSITION ('long'/'short'), never the forced order's side.
-- Aggregated sources (hourly CoinGlass totals) store price = qty = 0, one row per side per bucket.
CREATE TABLE liquidations (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    price REAL NOT NULL,
    qty REAL NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (symbol, ts, source, side, price, qty)
) WITHOUT ROWID;
-- For "all symbols over the last N hours" (the large-liquidation feed, pruning by age).
CREATE INDEX liquidations_ts ON liquidations (ts, usd);

-- Hourly totals per symbol and source, kept by triggers on every stored (not ignored) row, so
-- /liquidations over a day or a week reads a few hundred rows instead of millions during a cascade.
-- Kept longer than the raw rows (pruning raw liquidations leaves the hourly history in place).
CREATE TABLE liquidation_hourly (
    symbol TEXT NOT NULL,
    hour INTEGER NOT NULL,
    source TEXT NOT NULL,
    long_usd REAL NOT NULL DEFAULT 0,
    short_usd REAL NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, hour, source)
) WITHOUT ROWID;
CREATE INDEX liquidation_hourly_hour ON liquidation_hourly (hour);

CREATE TRIGGER liquidations_hourly_insert AFTER INSERT ON liquidations
BEGIN
    INSERT INTO liquidation_hourly (symbol, hour, source, long_usd, short_usd, events)
    VALUES (
        NEW.symbol,
        NEW.ts - NEW.ts % 3600000,
        NEW.source,
        CASE WHEN NEW.side = 'long' THEN NEW.usd ELSE 0 END,
        CASE WHEN NEW.side = 'short' THEN NEW.usd ELSE 0 END,
        1
    )
    ON CONFLICT (symbol, hour, source) DO UPDATE SET
        long_usd = long_usd + excluded.long_usd,
        short_usd = short_usd + excluded.short_usd,
        events = events + 1;
END;

-- Aggregated sources revise a bucket's total in place: move the hourly total by the difference.
CREATE TRIGGER liquidations_hourly_update AFTER UPDATE OF usd ON liquidations
BEGIN
    UPDATE liquidation_hourly SET
        long_usd = long_usd + CASE WHEN NEW.side = 'long' THEN NEW.usd - OLD.usd ELSE 0 END,
        short_usd = short_usd + CASE WHEN NEW.side = 'short' THEN NEW.usd - OLD.usd ELSE 0 END
    WHERE symbol = NEW.symbol AND hour = NEW.ts - NEW.ts % 3600000 AND source = NEW.source;
END;

-- rate is a decimal per funding interval (0.0001 = 0.01 %). settled = 1 for a settlement (history)
-- row at its funding time, 0 for a current estimate polled between settlements.
CREATE TABLE funding (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    rate REAL NOT NULL,
    mark_price REAL,
    next_funding_time INTEGER,
    settled INTEGER NOT NULL DEFAULT 1 CHECK (settled IN (0, 1)),
    PRIMARY KEY (symbol, ts, source)
) WITHOUT ROWID;

CREATE TABLE open_interest (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    contracts REAL,
    usd REAL,
    PRIMARY KEY (symbol, ts, source)
) WITHOUT ROWID;

-- date is the publication day (alternative.me dates a value by the day it is published, 00:00 UTC).
CREATE TABLE fear_greed (
    date TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    value INTEGER NOT NULL CHECK (value BETWEEN 0 AND 100),
    classification TEXT,
    source TEXT NOT NULL DEFAULT 'alternative.me'
) WITHOUT ROWID;
CREATE UNIQUE INDEX fear_greed_ts ON fear_greed (ts);

-- Rules from the config file (origin 'config', guild_id NULL) and from Discord (/alert add).
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL CHECK (origin IN ('config', 'discord')),
    guild_id INTEGER,
    owner_id INTEGER,
    detector TEXT NOT NULL,
    symbol TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    channel_id INTEGER,
    role_id INTEGER,
    deliver TEXT NOT NULL DEFAULT 'channel' CHECK (deliver IN ('channel', 'dm')),
    note TEXT,
    repeat INTEGER NOT NULL DEFAULT 1 CHECK (repeat IN (0, 1)),
    cooldown_s INTEGER NOT NULL DEFAULT 0,
    pending_s INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    status_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rules_guild ON rules (guild_id, owner_id);
CREATE INDEX rules_symbol ON rules (symbol);

-- The detector's own small persisted dict (last side of a level, rolling values), per rule.
CREATE TABLE detector_state (
    rule_id TEXT PRIMARY KEY REFERENCES rules (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    -- The last `now` this rule was evaluated at: a restarted replay or a live restart skips ticks at or
    -- before it, so their effects (already committed with it) are never applied twice.
    evaluated_at INTEGER NOT NULL
);

-- Lifecycle of each alert (one row per dedupe key): pending -> firing -> resolved.
CREATE TABLE alert_state (
    dedupe_key TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
    since INTEGER NOT NULL,
    pending_count INTEGER NOT NULL DEFAULT 0,
    fired_at INTEGER,
    last_seen INTEGER,
    last_event_id INTEGER,
    fire_count INTEGER NOT NULL DEFAULT 0,
    -- 1 when the alert is a state (cascade, funding extreme) whose end is announced.
    stateful INTEGER NOT NULL DEFAULT 0 CHECK (stateful IN (0, 1))
);
CREATE INDEX alert_state_rule ON alert_state (rule_id);

-- Every alert event, including silenced and inhibited ones (history, /why).
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    detector TEXT NOT NULL,
    symbol TEXT NOT NULL,
    guild_id INTEGER,
    state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title TEXT NOT NULL,
    values_json TEXT NOT NULL DEFAULT '{}',
    rule_json TEXT NOT NULL DEFAULT '{}',
    at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    late INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    silenced_by INTEGER,
    inhibited_by INTEGER,
    UNIQUE (dedupe_key, state, at)
);
CREATE INDEX alert_events_symbol_at ON alert_events (symbol, at);
CREATE INDEX alert_events_rule_at ON alert_events (rule_id, at);
CREATE INDEX alert_events_guild_at ON alert_events (guild_id, at);

-- Durable delivery queue: a row is written in the same transaction as the event it delivers.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER REFERENCES alert_events (id) ON DELETE SET NULL,
    sink TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    remote_id TEXT,
    error TEXT
);
CREATE INDEX outbox_due ON outbox (sink, status, next_attempt_at);
CREATE INDEX outbox_event ON outbox (event_id);

CREATE TABLE silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER,
    symbol TEXT,
    detector TEXT,
    rule_id TEXT,
    severity TEXT,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    -- NULL: one window [starts_at, ends_at). 'daily'/'weekly': a mute window that repeats every day/week,
    -- lasting (ends_at - starts_at) from the time of day/week of starts_at (e.g. a maintenance hour).
    recurrence TEXT CHECK (recurrence IN ('daily', 'weekly')),
    created_by INTEGER,
    reason TEXT,
    created_at INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active ON silences (ends_at);

CREATE TABLE guild_settings (
    guild_id INTEGER PRIMARY KEY,
    alert_channel_id INTEGER,
    ops_channel_id INTEGER,
    settings TEXT NOT NULL DEFAULT '{}',
    updated_at INTEGER NOT NULL
);
