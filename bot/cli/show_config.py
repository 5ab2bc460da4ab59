"""``tripwire show-config``: print the effective configuration as TOML, every default filled in.

The output is a config file: every section and every rule with all its options, the detector's defaults
included, so what the bot will do is read in one place, and the output can be saved and loaded again
(``tripwire check-config`` accepts it and finds the same configuration). TOML has no null: an option
left unset is written as a comment saying so. Secrets never come from the file; they are listed as
comments, only as set or unset.

tomlkit writes it (a TOML writer that keeps comments): the standard library reads TOML but does not
write it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from bot.config import Config, RuleSpec, Secrets, load_config, load_secrets, redacted_dump
from detectors.base import MARKET_SYMBOL


def effective_rule(spec: RuleSpec) -> dict[str, Any]:
    """Return a rule's every option: the common ones, then its detector's settings with their defaults.

    A market-wide rule has no symbol option (the file refuses one), so none is written.
    """
    common = spec.common.model_dump(mode="json")
    if common["symbol"] == MARKET_SYMBOL:
        del common["symbol"]
    return {**common, **spec.settings.model_dump(mode="json")}


def effective_toml(config: Config, secrets: Secrets) -> str:
    """Return the effective configuration as a TOML document, secrets redacted."""
    data = config.model_dump(mode="json")
    data["rules"] = [effective_rule(spec) for spec in config.rule_specs()]
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(
            "The effective configuration: every option, defaults included (tripwire show-config)."
        )
    )
    doc.add(tomlkit.comment("Secrets come from the environment, never from this file:"))
    for name, state in redacted_dump(config, secrets)["secrets"].items():
        doc.add(tomlkit.comment(f"  {name}: {state}"))
    _fill(doc, data)
    return tomlkit.dumps(doc)


def _fill(table: Any, data: Mapping[str, Any]) -> None:
    """Add ``data`` to a TOML table: plain values first (TOML needs them before any sub-table)."""
    nested = {k: v for k, v in data.items() if isinstance(v, dict) or _is_table_list(v)}
    for key, value in data.items():
        if key in nested:
            continue
        if value is None:
            table.add(tomlkit.comment(f"{key}: not set"))
        else:
            table.add(key, value)
    for key, value in nested.items():
        if isinstance(value, dict):
            sub: Table = tomlkit.table()
            _fill(sub, value)
            table.add(key, sub)
        else:
            tables: AoT = tomlkit.aot()
            for item in value:
                entry: Table = tomlkit.table()
                _fill(entry, item)
                tables.append(entry)
            table.add(key, tables)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def cmd_show_config(args: argparse.Namespace) -> int:
    """Print the effective configuration as TOML with secrets redacted."""
    config = load_config(args.config)
    print(effective_toml(config, load_secrets()), end="")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str) -> None:
    """Register the `show-config` command."""
    show = sub.add_parser(
        "show-config",
        help="print the effective config as TOML, every default filled in (secrets redacted)",
        description="Print the configuration the bot would run with, as a TOML config file: every section "
        "and every rule with all its options, defaults included. Unset options and the secrets (set or "
        "unset, never their value) are comments. `tripwire check-config` accepts the output.",
    )
    show.add_argument("config", nargs="?", default=default_config, help="config file to show")
    show.set_defaults(handler=cmd_show_config)
