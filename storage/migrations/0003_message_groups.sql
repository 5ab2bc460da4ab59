-- Schema v3: noise control. Alerts for one channel are delivered as grouped messages, and a rule says how
-- its resolve notices are told.

-- One Discord message (or the message about to be posted) holding one or more outbox rows: alerts arriving
-- within the group window, lesser alerts folded into them, resolve notices edited into them, or the
-- "+N more alerts" summary of a channel over its cap. The rows it holds are the outbox rows whose
-- group_id points here. Until remote_id is set, the rows it was created with are fixed: a crash before
-- Discord's answer was recorded re-sends exactly them under the same nonce, so Discord returns the message
-- it already created; rows are added later only by editing the confirmed message (an idempotent request).
CREATE TABLE message_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    target TEXT NOT NULL,
    -- 'single': a row that is never grouped (the large-liquidation feed batches its own messages).
    kind TEXT NOT NULL CHECK (kind IN ('alerts', 'ops', 'summary', 'single')),
    -- The configured grouping key values (e.g. the symbol with [engine] group_by = ["symbol"]).
    group_key TEXT NOT NULL DEFAULT '',
    -- Rows queued before this time may join (created_at of the first row + the group window).
    window_ends_at INTEGER NOT NULL,
    -- When the message was planned: counted against the channel's messages-per-minute cap.
    created_at INTEGER NOT NULL,
    -- The message id, once Discord confirmed the first send.
    remote_id TEXT,
    -- 1 when the message was deleted in Discord: nothing is added to it any more.
    gone INTEGER NOT NULL DEFAULT 0 CHECK (gone IN (0, 1))
);
CREATE INDEX message_groups_target ON message_groups (sink, target, created_at);

ALTER TABLE outbox ADD COLUMN group_id INTEGER REFERENCES message_groups (id);
CREATE INDEX outbox_group ON outbox (group_id);

-- How a state-like alert's end is told: 'edit' its message, edit it and post a 'message' as well, or
-- 'none'.
ALTER TABLE rules ADD COLUMN resolve_notice TEXT NOT NULL DEFAULT 'edit'
    CHECK (resolve_notice IN ('edit', 'message', 'none'));
