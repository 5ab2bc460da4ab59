"""Inbound webhook routes (the URLs TradingView posts alerts to) and their counters."""

from __future__ import annotations

from storage.repo.base import RepoBase
from storage.repo.mapping import WEBHOOK_ROUTES
from storage.rows import WebhookRouteRow


class WebhooksMixin(RepoBase):
    """Inbound webhook routes, one per ``webhook`` rule."""

    def add_webhook_route(self, route: WebhookRouteRow) -> None:
        """Store a new route (its rule must be stored first, in the same transaction)."""
        self.conn.execute(
            f"INSERT INTO webhook_routes ({WEBHOOK_ROUTES.columns}) VALUES ({WEBHOOK_ROUTES.marks})",
            WEBHOOK_ROUTES.values(route),
        )

    def webhook_route(self, route_id: str) -> WebhookRouteRow | None:
        """Return one route by its public id."""
        row = self.conn.execute(
            f"SELECT {WEBHOOK_ROUTES.columns} FROM webhook_routes WHERE id = ?", (route_id,)
        ).fetchone()
        return WEBHOOK_ROUTES(row) if row else None

    def webhook_routes(self, guild_id: int) -> list[WebhookRouteRow]:
        """Return a guild's routes, oldest first."""
        return [
            WEBHOOK_ROUTES(r)
            for r in self.conn.execute(
                f"SELECT {WEBHOOK_ROUTES.columns} FROM webhook_routes WHERE guild_id = ?"
                " ORDER BY created_at, id",
                (guild_id,),
            )
        ]

    def count_webhook_routes(self, guild_id: int) -> int:
        """Count a guild's routes (for its quota)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM webhook_routes WHERE guild_id = ?", (guild_id,)
            ).fetchone()[0]
        )

    def note_webhook_accepted(self, route_id: str, now: int) -> None:
        """Count one accepted alert of a route and remember when it came."""
        self.conn.execute(
            "UPDATE webhook_routes SET accepted = accepted + 1, last_used_at = ? WHERE id = ?",
            (now, route_id),
        )
