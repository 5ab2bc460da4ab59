-- PostgreSQL dialect of ../0017_feed_health.sql: the same table and key, BIGINT for SQLite's INTEGER
-- (epoch milliseconds do not fit 32 bits). Comments on the columns there.
CREATE TABLE feed_health (
    role TEXT PRIMARY KEY,
    writer TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    statuses TEXT NOT NULL
);
