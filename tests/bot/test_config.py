"""Config loading: the example file, every kind of error with its path, secrets."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_config, load_secrets, parse_config, parse_rule, redacted_dump
from detectors.registry import detector_classes
from tests.conftest import ROOT

EXAMPLE = ROOT / "config.example.toml"


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return [str(p) for p in info.value.problems]


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.symbols == ["BTCUSDT", "ETHUSDT"]
    specs = config.rule_specs()
    assert len(specs) == len(config.rules) > 0
    assert {s.common.detector for s in specs} <= set(detector_classes())


def _commented_rules() -> list[dict[str, Any]]:
    """Return the example rules left commented out (their feed is off by default), uncommented."""
    blocks = EXAMPLE.read_text().split("# [[rules]]\n")[1:]
    rules = []
    for block in blocks:
        lines = []
        for line in block.splitlines():
            if not line.startswith("# ") or line.startswith("# [[") or not line[2:3].isalpha():
                break
            lines.append(line[2:])
        rules.append(tomllib.loads("\n".join(lines)))
    return rules


def test_commented_example_rules_are_valid_rules() -> None:
    commented = _commented_rules()
    assert {r["detector"] for r in commented} >= {"etf_flow"}
    config = parse_config({**_example(), "rules": _example()["rules"] + commented})
    assert len(config.rule_specs()) == len(_example()["rules"]) + len(commented)


def test_example_documents_every_detector() -> None:
    used = {rule["detector"] for rule in _example()["rules"] + _commented_rules()}
    assert set(detector_classes()) <= used, "every detector needs an example rule in config.example.toml"
    text = EXAMPLE.read_text()
    for name in detector_classes():
        assert f"# {name}:" in text, f"{name} needs a comment explaining it in config.example.toml"


def test_unknown_key_is_reported_with_its_path() -> None:
    data = _example()
    data["feeds"]["binance_spot"]["pol_seconds"] = 10
    assert "feeds.binance_spot.pol_seconds: unknown option" in _problems(data)[0]


def test_wrong_type_is_reported_with_its_path() -> None:
    data = _example()
    data["engine"]["evaluate_seconds"] = "often"
    assert _problems(data)[0].startswith("engine.evaluate_seconds: ")


def test_interval_below_source_minimum() -> None:
    data = _example()
    data["feeds"]["fear_greed"]["poll_seconds"] = 60
    assert _problems(data) == ["feeds.fear_greed.poll_seconds: Input should be greater than or equal to 300"]


def test_rule_setting_error_has_rule_index_path() -> None:
    data = _example()
    data["rules"][3]["level"] = -1
    assert _problems(data) == ["rules[3].level: Input should be greater than 0"]


def test_unknown_detector_and_symbol_and_rule_option() -> None:
    data = _example()
    data["rules"][0]["detector"] = "moon_detector"
    data["rules"][1]["symbol"] = "DOGEUSDT"
    data["rules"][2]["levle"] = 3
    problems = _problems(data)
    assert problems[0].startswith("rules[0].detector: unknown detector 'moon_detector'")
    assert problems[1].startswith("rules[1].symbol: unknown symbol 'DOGEUSDT'")
    assert problems[2].startswith("rules[2].levle: unknown option")


def test_duplicate_rule_ids_and_all_problems_at_once() -> None:
    data = _example()
    data["rules"][1]["id"] = data["rules"][0]["id"]
    data["rules"][2]["level"] = 0
    problems = _problems(data)
    assert len(problems) == 2
    assert "already used by rules[0]" in problems[0]


def test_token_in_toml_is_refused_with_directions() -> None:
    data = _example()
    data["discord"]["token"] = "MTIz.abc.def"
    (problem,) = _problems(data)
    assert problem.startswith("discord.token: secrets are not read from the config file")
    assert "TRIPWIRE_DISCORD_TOKEN" in problem
    assert "MTIz" not in problem


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("symbols = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_secrets_come_from_environment_and_are_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "super-secret-token")
    secrets = load_secrets()
    assert secrets.token() == "super-secret-token"
    dumped = redacted_dump(load_config(EXAMPLE), secrets)
    assert "super-secret-token" not in repr(dumped)
    assert dumped["secrets"]["TRIPWIRE_DISCORD_TOKEN"] == "<set, redacted>"


def test_token_file_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIPWIRE_DISCORD_TOKEN", raising=False)
    (tmp_path / ".env").write_text("TRIPWIRE_DISCORD_TOKEN=from-dotenv\n")
    assert load_secrets().token() == "from-dotenv"
    (tmp_path / ".env").unlink()
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN_FILE", str(token_file))
    assert load_secrets().token() == "from-file"


def test_parse_rule_validates_one_rule_table() -> None:
    spec = parse_rule(
        {"id": "x", "detector": "level_cross", "symbol": "BTCUSDT", "level": 95000, "cooldown_seconds": 60}
    )
    assert spec.id == "x" and spec.common.cooldown_seconds == 60
    assert spec.settings.model_dump()["level"] == 95000


@pytest.mark.parametrize(
    ("raw", "problems"),
    [
        (
            {"id": "x", "detector": "level_cross", "symbol": "BTCUSDT", "level": 0, "colour": "red"},
            [
                "level: Input should be greater than 0",
                "colour: unknown option (check the spelling; config.example.toml lists every option)",
            ],
        ),
        (
            {"id": "x", "detector": "level_cross", "level": 1},
            ["symbol: a symbol is required for this detector"],
        ),
        (
            {"id": "x", "detector": "level_cross", "symbol": "btc", "level": 1},
            ["symbol: 'btc' is not a symbol like BTCUSDT"],
        ),
        (
            {"id": "Bad Id", "detector": "level_cross"},
            ["id: String should match pattern '^[a-z0-9][a-z0-9_-]{0,39}$'"],
        ),
    ],
)
def test_parse_rule_names_each_problem_by_option(raw: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rule(raw)
    assert [str(p) for p in info.value.problems] == problems


def test_parse_rule_rejects_an_unknown_detector() -> None:
    with pytest.raises(ConfigError, match=r"detector: unknown detector 'nope'; known: .*level_cross"):
        parse_rule({"id": "x", "detector": "nope", "symbol": "BTCUSDT"})


def test_readme_lists_every_detector() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in detector_classes():
        assert f"| `{name}` |" in readme, f"README's detector table lacks {name}"


def test_a_servers_everyone_role_is_refused_as_an_alert_role() -> None:
    data = _example()
    data["routes"] = [{"guild_id": 42, "channel_id": 7, "role_id": 42}]
    data["rules"][0]["role_id"] = 42
    problems = _problems(data)
    assert [p.split(":")[0] for p in problems] == ["routes[0].role_id", "rules[0].role_id"]
    assert all("@everyone" in p for p in problems)


@pytest.mark.parametrize(
    ("section", "problems"),
    [
        ({"max_candles": 0}, ["backtest.max_candles: Input should be greater than or equal to 1"]),
        (
            {"max_candles": 10_000_000},
            ["backtest.max_candles: Input should be less than or equal to 600000"],
        ),
        ({"max_days": 0}, ["backtest.max_days: Input should be greater than or equal to 1"]),
        ({"max_days": 5000}, ["backtest.max_days: Input should be less than or equal to 3650"]),
        ({"warmup_days": -1}, ["backtest.warmup_days: Input should be greater than or equal to 0"]),
        (
            {"max_days": 20},
            ["backtest.default_days: must be at most max_days (20); 30 was given"],
        ),
        ({"max_candles": "many"}, ["backtest.max_candles: Input should be a valid integer, unable to parse"]),
    ],
)
def test_backtest_limits_are_checked_with_their_path(section: dict[str, Any], problems: list[str]) -> None:
    data = _example()
    data["backtest"] = {**data["backtest"], **section}
    found = _problems(data)
    assert [p[: len(want)] for p, want in zip(found, problems, strict=True)] == problems


def test_backtest_limits_from_the_file() -> None:
    data = _example()
    assert data["backtest"]["max_candles"] == 150_000, "the example documents the default"
    data["backtest"] = {"max_days": 180, "max_candles": 300_000, "default_days": 14, "warmup_days": 0}
    section = parse_config(data).backtest
    assert (section.max_days, section.max_candles, section.default_days, section.warmup_days) == (
        180,
        300_000,
        14,
        0,
    )


def test_the_retired_channel_rate_is_accepted_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config = parse_config({"symbols": ["BTCUSDT"], "discord": {"channel_rate": [5, 5.0]}})
    assert "channel_rate" not in config.discord.model_dump()
    assert "channel_rate is no longer used" in caplog.text


def test_discord_global_rate_defaults_to_the_sinks_ceiling_and_stays_below_discords_50_per_second() -> None:
    from bot.notify.discord.sink import DEFAULT_GLOBAL_RATE

    data = _example()
    assert parse_config(data).discord.global_rate_per_s == DEFAULT_GLOBAL_RATE.limit == 40
    data["discord"]["global_rate_per_s"] = 25
    assert parse_config(data).discord.global_rate_per_s == 25
    # Discord's global limit is 50 requests per second (developers/topics/rate-limits.mdx).
    data["discord"]["global_rate_per_s"] = 51
    assert any("global_rate_per_s" in p for p in _problems(data))


def test_the_etf_key_comes_from_the_environment_or_its_file_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIPWIRE_ETF_API_KEY", raising=False)
    assert load_secrets().etf_key() is None
    key_file = tmp_path / "etf_key"
    key_file.write_text("from-file\n")
    monkeypatch.setenv("TRIPWIRE_ETF_API_KEY_FILE", str(key_file))
    assert load_secrets().etf_key() == "from-file"
    monkeypatch.setenv("TRIPWIRE_ETF_API_KEY", "etf-secret-key")
    secrets = load_secrets()
    assert secrets.etf_key() == "etf-secret-key"  # the variable first, as for the Discord token
    dumped = redacted_dump(load_config(EXAMPLE), secrets)
    assert "etf-secret-key" not in repr(dumped)
    assert dumped["secrets"]["TRIPWIRE_ETF_API_KEY"] == "<set, redacted>"
    monkeypatch.delenv("TRIPWIRE_ETF_API_KEY")
    monkeypatch.setenv("TRIPWIRE_ETF_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="TRIPWIRE_ETF_API_KEY_FILE: cannot read"):
        load_secrets().etf_key()


def test_an_etf_key_in_the_toml_file_is_refused() -> None:
    problems = _problems({**_example(), "feeds": {"etf": {"enabled": True, "api_key": "x"}}})
    assert any(p.startswith("feeds.etf.api_key") for p in problems), problems
