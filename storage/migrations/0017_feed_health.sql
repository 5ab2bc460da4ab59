-- Schema v16 -> v17: the feed health the market role reports for /status elsewhere (issue 21). Portable SQL.
--
-- feed_health: one row per reporting role ("market"): the process that wrote it (writer, "host:pid"),
-- when (written_at, UTC ms) and every feed's state then (statuses, a JSON list of /status feed lines).
-- A Discord cluster runs no feeds; its /status shows this row with its age. Ephemeral: rewritten every few
-- seconds by the leader, so `tripwire db copy` leaves it behind (storage.copy.NOT_COPIED).
CREATE TABLE feed_health (
    role TEXT PRIMARY KEY,
    writer TEXT NOT NULL,
    written_at INTEGER NOT NULL,
    statuses TEXT NOT NULL
);
