-- Schema v8 -> v9: inbound webhook routes (issue 23). Each route is a URL that TradingView (or anything
-- that can POST) sends alerts to; an accepted alert becomes an event of the route's `webhook` rule, so
-- silences, grouping, routing, history and /why treat it like any other alert. Only a SHA-256 of the
-- route's secret is kept: the secret is shown once, when the route is made, and cannot be read back.
CREATE TABLE webhook_routes (
    id TEXT PRIMARY KEY,
    guild_id BIGINT NOT NULL,
    rule_id TEXT NOT NULL UNIQUE REFERENCES rules (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    default_severity TEXT NOT NULL DEFAULT 'warning' CHECK (default_severity IN ('info', 'warning', 'critical')),
    max_body_bytes BIGINT NOT NULL,
    rate_per_minute BIGINT NOT NULL,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    accepted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_routes_guild ON webhook_routes (guild_id);
