"""Alert and ops embeds: plain-words titles, colours by direction, numbers as fields, Discord timestamps,
rule and source in the footer."""

from __future__ import annotations

from bot.notify.discord.render import alerts as render_alerts
from bot.notify.discord.render import base as render
from tests.bot.discord.support import alert_payload


def test_an_alert_embed_has_the_numbers_a_timestamp_and_its_rule_and_source() -> None:
    payload = {
        **alert_payload("btc-level-7f3a", "BTC broke above $95,000", guild_id=1, note="watch"),
        "late": True,
    }
    payload["values"] = {
        **payload["values"],
        "hysteresis_pct": 0.5,
        "short_usd": 108_990_314.9,
        "duration_s": 5400,
    }
    embed = render_alerts.alert_embed(payload, "binance").to_dict()
    assert embed["title"] == "BTC broke above $95,000"
    assert embed["color"] == render.UP.value
    assert embed["description"].startswith("📝 watch\n<t:1768345200:R> · <t:1768345200:f>")
    assert "late" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "Level": "$95,000",
        "Price": "$95,400.50",
        "Based on": "1h close",
        "Re-arms beyond": "0.5%",
        "Short": "$109.0M",  # not declared by level_cross: read from its name's "_usd"
        "Lasted": "1h 30m",
    }
    assert embed["footer"]["text"] == "rule btc-level-7f3a · level_cross · BTCUSDT · source binance"
    assert embed["timestamp"].startswith("2026-01-13T23:00:00")


def test_colours_follow_direction_state_and_severity() -> None:
    base = alert_payload("r", "t", guild_id=None)
    assert render_alerts.alert_colour({**base, "direction": "down"}) == render.DOWN
    assert render_alerts.alert_colour({**base, "state": "resolved"}) == render.ENDED
    assert (
        render_alerts.alert_colour({**base, "direction": "neutral", "severity": "critical"})
        == render.CRITICAL
    )
    assert render_alerts.alert_colour({**base, "direction": "neutral"}) == render.WARNING


def test_an_ops_embed_names_the_rule() -> None:
    embed = render_alerts.ops_embed(
        {"title": "An alert cannot be delivered", "text": "fix it", "rule_id": "r1"}
    )
    assert (embed.title, embed.description, embed.footer.text) == (
        "An alert cannot be delivered",
        "fix it",
        "rule r1",
    )


def test_a_list_is_cut_at_a_line_and_says_how_many_more() -> None:
    lines = [f"line {i:02d} " + "x" * 90 for i in range(30)]  # 98 characters each
    kept = render.fit_lines(lines, 1024)
    assert kept[:-1] == lines[: len(kept) - 1] and kept[-1] == f"… and {31 - len(kept)} more"
    assert len("\n".join(kept)) <= 1024
    # A list that fits whole has no "more" line, even when it fills the limit to the last character.
    assert render.fit_lines(lines[:3], 3 * 98 + 2) == lines[:3]
    assert render.fit_lines(lines, 10_000, most=5) == [*lines[:5], "… and 25 more"]
    assert render.fit_lines(lines[:2], 150, more=lambda left: f"{left} earlier") == [lines[0], "1 earlier"]
