"""`tripwire replay` on the bundled real data: output format, and resuming on the same database."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from bot.__main__ import main
from tests.conftest import ROOT
from tests.readable import unreadable


def replay_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["-q", "replay", "--format", "jsonl", "--no-progress", *args]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_jsonl_has_only_alert_objects_in_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    alerts = replay_jsonl(capsys)
    assert alerts, "the bundled scenario raises alerts"
    for alert in alerts:
        assert list(alert) == ["at", "rule", "detector", "symbol", "state", "severity", "title", "values"]
        assert alert["state"] in ("firing", "resolved")
        assert str(alert["at"]).endswith("Z")


def test_btc_95k_fires_exactly_once_in_the_breakout_hour(capsys: pytest.CaptureFixture[str]) -> None:
    alerts = replay_jsonl(capsys)
    btc = [a for a in alerts if a["rule"] == "btc-95k" and a["state"] == "firing"]
    assert len(btc) == 1
    assert btc[0]["at"] in ("2026-01-13T23:00:00Z",) or str(btc[0]["at"]).startswith("2026-01-13T22:")
    daily = [a for a in alerts if a["rule"] == "btc-95k-daily-close" and a["state"] == "firing"]
    assert [a["at"] for a in daily] == ["2026-01-14T00:00:00Z"]
    assert not [a for a in alerts if a["rule"] == "eth-3500-close"]


# Messages the bundled replay delivered before issue 18's example rules (the previous closing note).
MESSAGES_BEFORE_INDICATOR_RULES = 57


def test_text_output_has_a_header_readable_lines_and_a_summary_of_what_it_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-q", "replay", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, alerts, summary = lines[0], lines[1:-1], lines[-1]
    # Counted from the file, so adding an example rule does not make this test about the count.
    rules = len(tomllib.loads((ROOT / "config.example.toml").read_text())["rules"])
    assert header == (
        f"Replay of 2026-01-01 00:00 UTC to 2026-01-21 00:00 UTC, {rules} rules from the bundled "
        "config.example.toml. One line per alert: market time (UTC), symbol, severity, what happened, "
        "<rule>, [its values]."
    )
    assert "BTC broke above $95,000" in "\n".join(alerts)
    # The summary's counts are the lines above: every alert fired is printed, and of the alerts that ended,
    # the announced ends are the "Ended:" lines; it says why the others are not printed.
    counts = re.match(
        r"replayed [\d,]+ rows over [\d,]+ steps: (\d+) alerts fired, (\d+) ended \((\d+) announced, "
        r'shown above as "Ended: \.\.\.", and (\d+) without a notice: an alert on a moment, .*\), '
        r"(\d+) messages delivered, in [\d.]+ s$",
        summary,
    )
    assert counts is not None, summary
    fired, ended, announced, silent, delivered = map(int, counts.groups())
    ends = [line for line in alerts if re.search(r" (info|warning|critical) +Ended: ", line)]
    assert (fired, announced, delivered) == (len(alerts) - len(ends), len(ends), len(alerts))
    assert ended == announced + silent and silent > 0
    # No raw value: each value by its kind, named in words (the rule ids in <...> are names).
    for line in alerts:
        assert unreadable(line, re.findall(r"<([^>]+)>", line)) == [], line
    assert "Liquidated: $109.0M" in "\n".join(alerts)
    # Issue 18: the example rules added for indicators must not drown the scenario. At most 30% more
    # messages than the 57 the bundled replay delivered before them, and the breakout hour still opens
    # with the cascade, the squeeze and the $95,000 break, in that order.
    assert delivered <= MESSAGES_BEFORE_INDICATOR_RULES * 1.3, delivered
    breakout = [line for line in alerts if line.startswith("2026-01-13 23:00 UTC  BTCUSDT")]
    said = [re.sub(r"^.*?(critical|warning|info) +", "", line) for line in breakout[:3]]
    assert [line.split("  <")[0] for line in said] == [
        "$109.0M of BTC shorts liquidated in 1h",
        "BTC: mechanical short squeeze (+1.8% in 1h, $109.0M of shorts liquidated)",
        "BTC broke above $95,000",
    ]


def test_replay_interrupted_and_resumed_on_same_db_matches_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = replay_jsonl(capsys)
    db = str(tmp_path / "replay.db")
    first = replay_jsonl(capsys, "--db", db, "--to", "2026-01-13T23:30Z")
    second = replay_jsonl(capsys, "--db", db)
    assert first + second == whole
    assert replay_jsonl(capsys, "--db", db) == []  # a third run has nothing left to say


def test_replay_on_an_already_played_db_says_it_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "replay.db")
    assert main(["-q", "replay", "--no-progress", "--db", db, "--to", "2026-01-13T23:30Z"]) == 0
    assert "resumed after" not in capsys.readouterr().out  # a fresh database starts at the start
    assert main(["-q", "replay", "--no-progress", "--db", db, "--to", "2026-01-13T23:30Z"]) == 0
    last_lines = capsys.readouterr().out.strip().splitlines()[-2:]
    assert "0 alerts fired" in last_lines[0]
    assert last_lines[1].startswith("resumed after 2026-01-13 23:")
    assert "use another --db" in last_lines[1]


def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--from", "yesterday-ish"]) == 2
    assert "--from: 'yesterday-ish' is not a date" in capsys.readouterr().err
    assert main(["replay", "--data", str(tmp_path)]) == 2
    assert "holds no .csv files" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scenario_alerts() -> list[dict[str, object]]:
    """Replay the bundled scenario once for the acceptance checks below."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["-q", "replay", "--format", "jsonl", "--no-progress"]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def fired(
    alerts: list[dict[str, object]], detector: str, symbol: str | None = None
) -> list[dict[str, object]]:
    return [
        a
        for a in alerts
        if a["detector"] == detector and a["state"] == "firing" and (symbol is None or a["symbol"] == symbol)
    ]


def test_breakout_hour_volume_spike_for_btc_and_eth(scenario_alerts: list[dict[str, object]]) -> None:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        spikes = fired(scenario_alerts, "volume_spike", symbol)
        assert "2026-01-13T23:00:00Z" in [a["at"] for a in spikes], symbol


def test_eth_percent_move_fires_on_the_13th_or_14th(scenario_alerts: list[dict[str, object]]) -> None:
    moves = fired(scenario_alerts, "pct_move", "ETHUSDT")
    assert any(str(a["at"]).startswith(("2026-01-13", "2026-01-14")) for a in moves)


def test_fear_greed_regime_change_to_greed_on_the_15th(scenario_alerts: list[dict[str, object]]) -> None:
    (greed,) = [a for a in fired(scenario_alerts, "fear_greed") if a["at"] == "2026-01-15T00:00:00Z"]
    values = greed["values"]
    assert isinstance(values, dict)
    assert values["value"] == 61 and values["classification"] == "Greed"
    assert values["highest_since"] == "2025-10-10"  # the last day the index stood higher


def test_squeeze_labels_the_breakout_hour_mechanical_with_evidence(
    scenario_alerts: list[dict[str, object]],
) -> None:
    (squeeze,) = [
        a for a in fired(scenario_alerts, "squeeze", "BTCUSDT") if a["at"] == "2026-01-13T23:00:00Z"
    ]
    values = squeeze["values"]
    assert isinstance(values, dict)
    assert values["label"] == "mechanical short squeeze"
    assert values["short_liquidated_usd"] == pytest.approx(109_000_000, rel=0.01)
    assert -1.5 < values["oi_change_pct"] < 0  # open interest slightly down
    assert values["funding_after_pct"] < 0  # funding negative: no new leveraged longs
    # It names the venues: CoinGlass's open interest (itself summed over exchanges) drove the dip, and
    # funding is weighted by open interest, so Binance's settlements (no open interest bundled) weigh 0.
    assert values["oi_venues"] == "coinglass -0.8%"
    assert sorted(values["funding_venues"]) == ["binance", "coinglass"]
    cascade = fired(scenario_alerts, "liquidation_cascade", "BTCUSDT")
    assert "2026-01-13T23:00:00Z" in [a["at"] for a in cascade]


def test_quiet_days_stay_quiet(scenario_alerts: list[dict[str, object]]) -> None:
    per_day: dict[tuple[str, str], int] = {}
    for alert in scenario_alerts:
        day = str(alert["at"])[:10]
        if alert["state"] == "firing" and "2026-01-09" <= day <= "2026-01-12":
            key = (str(alert["symbol"]), day)
            per_day[key] = per_day.get(key, 0) + 1
    assert per_day, "the quiet days are replayed"
    assert max(per_day.values()) <= 2, per_day
