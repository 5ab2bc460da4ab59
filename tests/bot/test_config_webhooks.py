"""[webhooks_in] and [[webhooks_out]]: what the config accepts, what it refuses and says why, and signing
secrets read only from the environment or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, parse_config

HOOK = {"name": "ops", "url": "https://hooks.example.com/tripwire", "secret_env": "TRIPWIRE_HOOK_OPS_SECRET"}


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config({"symbols": ["BTCUSDT"], **data})
    return str(caught.value)


def test_webhooks_in_need_the_http_server() -> None:
    assert "webhooks_in needs the [http] server" in problems({"webhooks_in": {"enabled": True}})
    config = parse_config(
        {"symbols": ["BTCUSDT"], "http": {"enabled": True}, "webhooks_in": {"enabled": True}}
    )
    assert config.webhooks_in.rate_per_minute == 30 and config.webhooks_in.max_body_bytes == 4096


def test_webhooks_in_refuse_bad_addresses_and_urls() -> None:
    assert "'52.89.214' is not an IP address" in problems({"webhooks_in": {"allowed_ips": ["52.89.214"]}})
    assert "webhooks_in.public_url" in problems({"webhooks_in": {"public_url": "alerts.example.com"}})


def test_a_signing_secret_is_never_read_from_the_file() -> None:
    text = problems({"webhooks_out": [{**HOOK, "secret": "hunter2"}]})
    assert "webhooks_out[0].secret: secrets are not read from the config file" in text
    assert "either secret_env" in problems(
        {"webhooks_out": [{k: v for k, v in HOOK.items() if k != "secret_env"}]}
    )
    both = problems({"webhooks_out": [{**HOOK, "secret_file": "/run/secrets/x"}]})
    assert "not both" in both
    assert "same name" in problems({"webhooks_out": [HOOK, HOOK]})


def test_the_secret_comes_from_the_environment_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "webhooks_out": [HOOK]})
    (hook,) = config.webhooks_out
    monkeypatch.delenv("TRIPWIRE_HOOK_OPS_SECRET", raising=False)
    with pytest.raises(ConfigError, match="TRIPWIRE_HOOK_OPS_SECRET is not set"):
        hook.secret()
    monkeypatch.setenv("TRIPWIRE_HOOK_OPS_SECRET", " s3cret\n")
    assert hook.secret() == b"s3cret"
    secret_file = tmp_path / "hook"
    secret_file.write_text("from-a-file\n")
    file_hook = hook.model_copy(update={"secret_env": None, "secret_file": secret_file})
    assert file_hook.secret() == b"from-a-file"
    missing = hook.model_copy(update={"secret_env": None, "secret_file": tmp_path / "nope"})
    with pytest.raises(ConfigError, match="cannot read"):
        missing.secret()
    # The redacted dump shows where the secret comes from, never a secret.
    assert "s3cret" not in str(config.model_dump())
