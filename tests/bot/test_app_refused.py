"""/status lists a symbol a venue refuses, with the venue and the venue's reason."""

from __future__ import annotations

from bot.app import HealthStatuses
from bot.discord.render.admin import status_embed
from bot.services.admin import StatusView
from feeds.health import HealthRegistry


def test_status_lists_a_refused_symbol_with_its_venue_and_reason() -> None:
    health = HealthRegistry(lambda: 1)
    health.register("binance_spot", {"candles"}, ["BTCUSDT"], stale_after_s=60).success(1)
    health.rejections.reject("binance", "NOPEUSDT", "binance_spot /api/v3/klines: HTTP 400 (Invalid symbol.)")
    statuses = HealthStatuses(health).statuses()
    assert [(s.name, s.state) for s in statuses] == [("binance_spot", "ok"), ("binance NOPEUSDT", "refused")]
    assert statuses[1].detail == "binance_spot /api/v3/klines: HTTP 400 (Invalid symbol.)"
    view = StatusView("1", 0.0, 0, 0, tuple(statuses), (), 0, 0, 0)
    feeds = next(f for f in status_embed(view).fields if f.name == "Feeds")
    assert "⛔ binance NOPEUSDT: refused" in feeds.value and "Invalid symbol." in feeds.value
