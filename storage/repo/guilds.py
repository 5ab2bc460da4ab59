"""Guild settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.changes import SETTINGS
from storage.repo.base import RepoBase
from storage.repo.mapping import GUILD_SETTINGS
from storage.rows import GuildSettingsRow


class GuildsMixin(RepoBase):
    """Per-guild settings, cached until written or rolled back."""

    # --- guild settings ------------------------------------------------------------------------------

    def guild_settings(self, guild_id: int) -> GuildSettingsRow | None:
        """Return a guild's settings, or None if never set."""
        if guild_id in self._guild_settings_rows:
            row = self._guild_settings_rows[guild_id]
        else:
            row = self.conn.execute(
                f"SELECT {GUILD_SETTINGS.columns} FROM guild_settings WHERE guild_id = ?",
                (guild_id,),
            ).fetchone()
            self._guild_settings_rows[guild_id] = row
        # Built afresh from the stored row each time: callers get a settings dict of their own.
        return GUILD_SETTINGS(row) if row else None

    def all_guild_settings(self) -> list[GuildSettingsRow]:
        """Return the settings of every guild."""
        return [
            GUILD_SETTINGS(r)
            for r in self.conn.execute(f"SELECT {GUILD_SETTINGS.columns} FROM guild_settings")
        ]

    def forget_guild_settings(self, guild_id: int | None = None) -> None:
        """Drop the cached settings of a guild (None: of all) that another process changed."""
        if guild_id is None:
            self._guild_settings_rows.clear()
        else:
            self._guild_settings_rows.pop(guild_id, None)

    def save_guild_settings(self, row: GuildSettingsRow) -> None:
        """Insert or replace a guild's settings."""
        self.conn.execute(
            f"INSERT INTO guild_settings ({GUILD_SETTINGS.columns}) VALUES ({GUILD_SETTINGS.marks})"
            " ON CONFLICT (guild_id) DO UPDATE SET"
            " alert_channel_id=excluded.alert_channel_id, ops_channel_id=excluded.ops_channel_id,"
            " settings=excluded.settings, updated_at=excluded.updated_at",
            GUILD_SETTINGS.values(row),
        )
        self._guild_settings_rows.pop(row.guild_id, None)
        self.publish_change(SETTINGS, row.guild_id)

    def update_guild_settings(
        self,
        guild_id: int,
        now: int,
        *,
        alert_channel_id: int | None = None,
        ops_channel_id: int | None = None,
        settings: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
    ) -> GuildSettingsRow:
        """Change part of a guild's settings in one transaction and return them.

        A channel given replaces the stored one (None keeps it), ``settings`` keys are set and ``drop`` keys
        removed.
        """
        with self.transaction():
            current = self.guild_settings(guild_id)
            merged = {**(current.settings if current else {}), **(settings or {})}
            for key in drop:
                merged.pop(key, None)
            row = GuildSettingsRow(
                guild_id=guild_id,
                alert_channel_id=alert_channel_id
                if alert_channel_id is not None
                else (current.alert_channel_id if current else None),
                ops_channel_id=ops_channel_id
                if ops_channel_id is not None
                else (current.ops_channel_id if current else None),
                settings=merged,
                updated_at=now,
            )
            self.save_guild_settings(row)
        return row
