"""Rules: round trip and quota count."""

from __future__ import annotations

from storage.repo import Repo, RuleRow

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def test_rules_round_trip_and_quota_count(repo: Repo) -> None:
    rule = RuleRow("r1", "discord", "level_cross", "BTCUSDT", {"level": 95000.0}, guild_id=7, owner_id=9)
    repo.save_rule(rule)
    assert repo.rule("r1") == rule
    assert repo.count_rules(guild_id=7, owner_id=9) == 1
    assert repo.set_rule_enabled("r1", False, "paused by admin", 5)
    stored = repo.rule("r1")
    assert stored is not None and not stored.enabled and stored.status_reason == "paused by admin"
    assert repo.delete_rule("r1") and repo.rule("r1") is None


def test_detector_states_saved_together_insert_and_update(repo: Repo) -> None:
    # The engine's flush writes every evaluated rule's state in one go: new rows and changed ones.
    for i in range(5):
        repo.save_rule(RuleRow(f"r{i}", "config", "rsi", "BTCUSDT", {}))
    repo.save_detector_state("r0", {"t": 1}, T0)
    with repo.transaction():
        repo.save_detector_states([(f"r{i}", f'{{"t":{i + 10}}}', T0 + i) for i in range(5)])
    assert repo.all_detector_states() == {f"r{i}": ({"t": i + 10}, T0 + i) for i in range(5)}
    with repo.transaction():
        repo.save_detector_states([("r3", '{"off":["above"],"t":20}', T0 + 60_000)])
        repo.save_detector_states([])  # nothing evaluated: nothing written
    assert repo.detector_state("r3") == ({"off": ["above"], "t": 20}, T0 + 60_000)
    assert repo.detector_state("r4") == ({"t": 14}, T0 + 4)
