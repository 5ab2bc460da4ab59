-- Schema v2: scheduled market digests (/digest), notices owed to members (their DMs were found closed),
-- and an index for finding everything a member owns (/privacy, personal quotas).

-- One digest per channel. The schedule is a time of day in UTC (minute_of_day) repeated every
-- every_hours hours (24 = once a day); every_hours divides 24, so every day has the same posting times,
-- which is what makes the schedule an exact cron expression.
CREATE TABLE digests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    minute_of_day INTEGER NOT NULL CHECK (minute_of_day BETWEEN 0 AND 1439),
    every_hours INTEGER NOT NULL DEFAULT 24 CHECK (every_hours IN (1, 2, 3, 4, 6, 8, 12, 24)),
    -- Days of the week it posts on (UTC), one bit per day: 1 = Monday ... 64 = Sunday; 127 = every day.
    weekdays INTEGER NOT NULL DEFAULT 127 CHECK (weekdays BETWEEN 1 AND 127),
    -- Comma-separated sections: prices, liquidations, derivatives, fng, alerts, chart.
    contents TEXT NOT NULL,
    -- The schedule slot of the last digest queued (at creation: the creation time). A slot after it and
    -- not after now is owed, once, however many slots passed while the bot was down.
    last_slot_at INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    status_reason TEXT,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (guild_id, channel_id)
);

-- Something a member must be told privately the next time they use a command (e.g. their alerts were
-- paused because their DMs are closed). One per member and kind; deleted once shown.
CREATE TABLE member_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, kind)
);

CREATE INDEX rules_owner ON rules (owner_id, deliver);
