"""Embeds of /history, /why and /alert test: marks for silenced, folded and late alerts, an ended alert's
explanation, deliveries that failed, and a market-wide backtest without a chart."""

from __future__ import annotations

from dataclasses import replace

from bot.discord.render import history as render_history
from bot.notify.discord.render.base import TOTAL_LIMIT
from bot.replay.backtest import BacktestAlert, BacktestResult
from bot.services.backtest import BacktestPreview
from bot.services.history import (
    AlertLine,
    DeliveryLine,
    HistoryPage,
    HistoryQuery,
    RuleSnapshot,
    SourceFreshness,
    WhyView,
)
from detectors.base import MARKET_SYMBOL
from storage.repo import RuleRow

AT = 1_768_345_200_000


def line(event_id: int, **changes: object) -> AlertLine:
    """Return a plain alert line, changed as asked."""
    title = "BTC broke above $95,000"
    base = AlertLine(
        event_id, "btc-95k", "level_cross", "BTCUSDT", title, "warning", AT, AT, False, False, None
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_history_lines_mark_silenced_folded_and_late_alerts_and_fit_discords_limits() -> None:
    items = (
        line(3, silenced=True),
        line(2, folded_into=1),
        line(1, late=True, recorded_at=AT + 7_200_000),
    )
    page = HistoryPage(HistoryQuery(1, 2, symbol="BTCUSDT", since=AT), items, 0, 1, 3, 8)
    embed = render_history.history_embed(page).to_dict()
    rows = embed["description"].splitlines()
    assert rows[0] == f"BTCUSDT · since <t:{AT // 1000}:f> · newest first"
    assert rows[1].endswith("🔕 silenced (not posted)") and rows[2].endswith("📎 folded into #1")
    assert rows[3].endswith("⏱ late (recorded 2h after)")
    long = tuple(line(n, title="x" * 250) for n in range(40))
    huge = render_history.history_embed(HistoryPage(HistoryQuery(1, 2), long, 0, 5, 200, 40))
    assert len(huge) <= TOTAL_LIMIT and len(huge.description or "") <= 4096
    empty = render_history.history_embed(HistoryPage(HistoryQuery(1, 2, rule_id="r"), (), 0, 1, 0, 8))
    assert empty.description == "No alerts match (all symbols · rule r)."


def test_why_of_an_ended_alert_names_what_it_ends_and_failed_deliveries() -> None:
    view = WhyView(
        event_id=9,
        title="Ended: $109.0M of BTC shorts liquidated in 1h",
        state="resolved",
        kind="cascade",
        severity="critical",
        symbol="BTCUSDT",
        detector="liquidation_cascade",
        at=AT + 3_600_000,
        recorded_at=AT + 3_600_000 + 600_000,
        late=True,
        late_after_s=300,
        values={"usd": 108_990_315.0, "duration_s": 3600, "fired_event_id": 8, "nested": {"a": 1}},
        rule=RuleSnapshot("btc-liq", "liquidation_cascade", "BTCUSDT", None, {}, "", False, 0, 120),
        rule_now="removed",
        rule_now_summary=None,
        silenced_by=None,
        folded_into=None,
        fired_event_id=8,
        sources=(SourceFreshness("liquidations", "coinglass", "hourly totals", AT, 3600.0),),
        deliveries=(DeliveryLine("channel:5", "resolve", "failed", None, "no access (50001)"),),
    )
    embed = render_history.why_embed(view).to_dict()
    assert embed["title"] == "Why #9 ended: $109.0M of BTC shorts liquidated in 1h"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    # No bookkeeping, nothing nested.
    assert list(fields)[:3] == ["Lasted", "Liquidated", "Rule when it fired"]
    assert (fields["Liquidated"], fields["Lasted"]) == ("$109.0M", "1h")
    assert fields["Rule when it fired"] == (
        "`btc-liq` (origin unknown) · defaults · one-shot, cooldown 0s, holds 2m before firing"
    )
    assert fields["Rule now"] == "removed since (its history is kept)"
    assert fields["Data"] == f"coinglass hourly totals: newest <t:{AT // 1000}:f>, 1h before it"
    assert fields["Timing"].endswith(
        "(10m later)\n⏱ late: recorded more than 5m after its market time (found after a gap in the data)"
    )
    assert fields["Delivery"] == "ends alert #8\nnot delivered to <#5> (failed: no access (50001))"


def test_a_market_wide_backtest_has_no_chart_and_says_so_plainly() -> None:
    rule = RuleRow("backtest", "discord", "fear_greed", MARKET_SYMBOL, {}, cooldown_s=900, repeat=False)
    fired = BacktestAlert(
        1, AT, AT, "firing", "regime", "info", "Fear & Greed now Greed (61)", {}, False, True
    )
    result = BacktestResult(rule, AT - 86_400_000, AT, 0, 24, (fired,), None, 0.05)
    embed = render_history.backtest_embed(BacktestPreview(1.0, result, None), "", None).to_dict()
    assert embed["title"] == "Backtest: backtest would have fired 1 time in 1 day"
    assert embed["description"].startswith("`fear_greed` market-wide · defaults\n")
    assert embed["description"].endswith("(cooldown 15m, one-shot)") and "candles" not in embed["description"]
    assert "image" not in embed
