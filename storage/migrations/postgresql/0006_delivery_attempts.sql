-- Schema v5 -> v6: exactly once beyond Discord's nonce window. Discord drops a repeated nonce only "in the
-- past few minutes" (resources/message.mdx, Create Message), so a message group whose first send may have
-- reached Discord and whose window may have passed is looked for in the channel before it is sent again.

-- Wall-clock epoch ms of the group's first send attempt (set before the request leaves; never changed):
-- NULL means no request was ever made, so nothing can be in Discord yet.
ALTER TABLE message_groups ADD COLUMN attempted_at BIGINT;
-- Wall-clock epoch ms when the message was found in Discord (created by an attempt whose answer was lost)
-- and taken as the group's message instead of posting it again; NULL when the bot's own send confirmed it.
ALTER TABLE message_groups ADD COLUMN adopted_at BIGINT;
