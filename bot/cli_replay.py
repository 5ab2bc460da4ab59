"""``tripwire replay``: play recorded market data through the live pipeline."""

from __future__ import annotations

import argparse

from bot.errors import UserError


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay recorded data."""
    raise UserError("replay is not available in this build yet")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `replay` command."""
    replay = sub.add_parser(
        "replay", help="play recorded data (default: the January 2026 squeeze) through the pipeline"
    )
    replay.set_defaults(handler=cmd_replay)
