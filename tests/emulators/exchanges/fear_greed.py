"""alternative.me Crypto Fear & Greed Index: GET /fng/?limit=N&format=json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import Context, json_response
from .data import DAY_MS


class FearGreedVenue:
    """alternative.me's /fng/ endpoint served from the recorded daily values."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        """Return the /fng/ route (with and without the trailing slash)."""
        return [web.get("/fng/", self.fng), web.get("/fng", self.fng)]

    async def fng(self, request: web.Request) -> web.Response:
        """Answer newest first; limit default 1, 0 for the whole history.

        `value` and `timestamp` (unix seconds of the publication day, 00:00 UTC) are strings;
        `time_until_update` (seconds to the next daily value) appears on the newest item only. The
        `date_format` option is not emulated [its behaviour is unverified].
        """
        raw_limit = request.query.get("limit", "1")
        if not raw_limit.isdigit():
            # [unverified] how alternative.me words a bad limit; the error goes in metadata.error.
            return json_response(
                {"name": "Fear and Greed Index", "data": [], "metadata": {"error": "Invalid limit"}}
            )
        limit = int(raw_limit)
        clock = self.ctx.clock
        now = clock.now_ms()
        days = [d for d in self.ctx.data.fear_greed if clock.served(d.day_ms) <= now]
        days.reverse()
        if limit:
            days = days[:limit]
        items: list[dict[str, Any]] = []
        for i, day in enumerate(days):
            served = clock.served(day.day_ms)
            item = {
                "value": str(day.value),
                "value_classification": day.classification,
                "timestamp": str(served // 1000),
            }
            if i == 0:
                next_update = served + DAY_MS
                item["time_until_update"] = str(max(0, (next_update - now) // 1000))
            items.append(item)
        return json_response({"name": "Fear and Greed Index", "data": items, "metadata": {"error": None}})
