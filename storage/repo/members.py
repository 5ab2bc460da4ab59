"""Personal data of members (what /privacy shows and forgets) and the notices owed to them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.changes import RULE, SETTINGS
from storage.repo.mapping import NOTICES
from storage.repo.rules import RulesMixin
from storage.rows import MemberData, MemberNoticeRow


class MembersMixin(RulesMixin):
    """What is stored about one member: their data, its removal, and notices owed to them."""

    # --- personal data, notices and digests (issue 9) ------------------------------------------------

    def personal_event_ids(self, user_id: int) -> list[int]:
        """Return the ids of the alert events of a member's personal (DM) rules, removed rules included."""
        return [
            int(r[0])
            for r in self.conn.execute(
                "SELECT id FROM alert_events WHERE rule_id IN"
                " (SELECT id FROM rules WHERE owner_id = ? AND deliver = 'dm')"
                f" OR ({self.dialect.json_number('rule_json', '$.owner_id')} = ?"
                f" AND {self.dialect.json_text('rule_json', '$.deliver')} = 'dm')"
                " OR id IN (SELECT event_id FROM outbox WHERE target = ? AND event_id IS NOT NULL)"
                " ORDER BY id",
                (user_id, user_id, f"user:{user_id}"),
            )
        ]

    def member_data(self, user_id: int) -> MemberData:
        """Return what is stored about a Discord user: their rules, alert history, DMs and other traces."""
        owned = self.rules(owner_id=user_id)

        def count(sql: str, *params: Any) -> int:
            return int(self.conn.execute(sql, params).fetchone()[0])

        return MemberData(
            personal_rules=[r for r in owned if r.deliver == "dm"],
            created_rules=[r for r in owned if r.deliver != "dm"],
            personal_events=len(self.personal_event_ids(user_id)),
            dm_deliveries=count("SELECT COUNT(*) FROM outbox WHERE target = ?", f"user:{user_id}"),
            notices=count("SELECT COUNT(*) FROM member_notices WHERE user_id = ?", user_id),
            digests_created=count("SELECT COUNT(*) FROM digests WHERE created_by = ?", user_id),
            silences_created=count("SELECT COUNT(*) FROM silences WHERE created_by = ?", user_id),
            liqfeeds_set=count(
                "SELECT COUNT(*) FROM guild_settings"
                f" WHERE {self.dialect.json_number('settings', '$.liqfeed.set_by')} = ?",
                user_id,
            ),
            server_events_naming=count(
                "SELECT COUNT(*) FROM alert_events"
                f" WHERE {self.dialect.json_number('rule_json', '$.owner_id')} = ?"
                f" AND {self.dialect.json_text('rule_json', '$.deliver')} IS DISTINCT FROM 'dm'",
                user_id,
            ),
        )

    def forget_member(
        self, user_id: int, replacement_reason: str
    ) -> tuple[list[str], list[str], dict[str, int]]:
        """Delete a user's personal rules, their history, DMs and notices; clear their id from the rest.

        Server rules, digests and silences they created belong to the server and stay, without their id;
        a pause reason naming them becomes ``replacement_reason``. Returns the removed rule ids, the ids of
        the rules that stay without their id (whoever holds them in memory must reload them, or the next
        alert's rule copy names the member again) and the rows changed per kind. Run it inside
        ``transaction()``.
        """
        events = self.personal_event_ids(user_id)
        target = f"user:{user_id}"
        owned = self.rules(owner_id=user_id)
        removed = [r.id for r in owned if r.deliver == "dm"]
        unowned = [r.id for r in owned if r.deliver != "dm"]
        counts: dict[str, int] = {}
        marks = ",".join("?" * len(events))
        outbox = self.conn.execute("DELETE FROM outbox WHERE target = ?", (target,)).rowcount
        if events:
            outbox += self.conn.execute(f"DELETE FROM outbox WHERE event_id IN ({marks})", events).rowcount
            self.conn.execute(f"DELETE FROM alert_events WHERE id IN ({marks})", events)
        counts["alert_events"] = len(events)
        counts["outbox"] = outbox
        counts["rules"] = self.conn.execute(
            "DELETE FROM rules WHERE owner_id = ? AND deliver = 'dm'", (user_id,)
        ).rowcount
        counts["member_notices"] = self.conn.execute(
            "DELETE FROM member_notices WHERE user_id = ?", (user_id,)
        ).rowcount
        counts["rules_unowned"] = self.conn.execute(
            "UPDATE rules SET owner_id = NULL WHERE owner_id = ?", (user_id,)
        ).rowcount
        naming = f"%<@{user_id}>%"
        unowned += [
            r[0]
            for r in self.conn.execute("SELECT id FROM rules WHERE status_reason LIKE ?", (naming,))
            if r[0] not in unowned
        ]
        self.conn.execute(
            "UPDATE rules SET status_reason = ? WHERE status_reason LIKE ?", (replacement_reason, naming)
        )
        counts["digests_unowned"] = self.conn.execute(
            "UPDATE digests SET created_by = NULL WHERE created_by = ?", (user_id,)
        ).rowcount
        counts["silences_unowned"] = self.conn.execute(
            "UPDATE silences SET created_by = NULL WHERE created_by = ?", (user_id,)
        ).rowcount
        # A server's webhook route stays the server's; only the name of who made it goes.
        counts["webhooks_unowned"] = self.conn.execute(
            "UPDATE webhook_routes SET created_by = NULL WHERE created_by = ?", (user_id,)
        ).rowcount
        # The copy of a server rule each of its past alerts keeps (for /why) names its creator too.
        counts["alert_events_unowned"] = self.conn.execute(
            f"UPDATE alert_events SET rule_json = {self.dialect.json_set('rule_json', '$.owner_id', 'null')}"
            f" WHERE {self.dialect.json_number('rule_json', '$.owner_id')} = ?",
            (user_id,),
        ).rowcount
        set_by_them = f"{self.dialect.json_number('settings', '$.liqfeed.set_by')} = ?"
        guilds = [
            int(r[0])
            for r in self.conn.execute(f"SELECT guild_id FROM guild_settings WHERE {set_by_them}", (user_id,))
        ]
        counts["liqfeeds_unowned"] = self.conn.execute(
            "UPDATE guild_settings"
            f" SET settings = {self.dialect.json_set('settings', '$.liqfeed.set_by', 'null')}"
            f" WHERE {set_by_them}",
            (user_id,),
        ).rowcount
        self._guild_settings_rows.clear()  # the cached rows may hold the old "set by"
        # The other processes (issue 21) hold the same rules and settings in memory: the market role's
        # engine would keep running the deleted personal rules, a cluster keep showing "set by" them.
        for rule_id in [*removed, *unowned]:
            self.publish_change(RULE, rule_id)
        for guild_id in guilds:
            self.publish_change(SETTINGS, guild_id)
        return removed, unowned, counts

    def save_notice(self, user_id: int, kind: str, text: str, now: int) -> None:
        """Store (or replace) the notice of one kind owed to a member."""
        self.conn.execute(
            "INSERT INTO member_notices (user_id, kind, text, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT (user_id, kind) DO UPDATE SET text = excluded.text,"
            " created_at = excluded.created_at",
            (user_id, kind, text, now),
        )

    def notices(self, user_id: int) -> list[MemberNoticeRow]:
        """Return the notices owed to a member, oldest first."""
        return [
            NOTICES(r)
            for r in self.conn.execute(
                "SELECT id, user_id, kind, text, created_at FROM member_notices WHERE user_id = ?"
                " ORDER BY id",
                (user_id,),
            )
        ]

    def delete_notices(self, ids: Iterable[int]) -> int:
        """Delete notices (once shown); return how many went."""
        wanted = list(ids)
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        return self.conn.execute(f"DELETE FROM member_notices WHERE id IN ({marks})", wanted).rowcount
