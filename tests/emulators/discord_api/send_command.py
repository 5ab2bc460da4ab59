"""Send a slash command through a running emulator, or press a button, and print the bot's reply.

    python -m tests.emulators.discord_api.send_command --port 8765 /price symbol:BTCUSDT
    python -m tests.emulators.discord_api.send_command --port 8765 /alert test detector:level_cross \
        symbol:BTCUSDT settings:level=95000 direction=up
    python -m tests.emulators.discord_api.send_command --port 8765 --click MESSAGE_ID CUSTOM_ID
    python -m tests.emulators.discord_api.send_command --port 8765 --autocomplete symbol /price symbol:bt

Words before the first `name:value` are the command and its subcommand path; a later word without
`name:` continues the previous option's value (`settings:level=95000 direction=up` is one value, as a
user types it in Discord). Values are converted to the option types the bot synced.

Every reply names the message it lives in (`message 1190...`) and lists its buttons with their custom
ids, so the next call can press one with `--click MESSAGE_ID CUSTOM_ID`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from .render import describe_embed

# Discord's option names: 1-32 lower-case letters, digits, - and _ (application-commands.mdx).
OPTION_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")


def parse_command(words: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split ["/alert", "add", "symbol:BTC", "settings:a=1", "b=2"] into (["alert", "add"],
    {"symbol": "BTC", "settings": "a=1 b=2"})."""
    path: list[str] = []
    options: dict[str, str] = {}
    last: str | None = None
    for word in words:
        name, sep, value = word.partition(":")
        if sep and OPTION_NAME.match(name):
            options[name] = value
            last = name
        elif last is not None:
            options[last] = f"{options[last]} {word}"
        else:
            path.extend(word.lstrip("/").split())
    if not path:
        raise ValueError("no command given")
    return path, options


def post(url: str, payload: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
    """POST JSON and return (status, JSON body), also for error statuses."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def format_reply(reply: dict[str, Any]) -> str:
    """Return the reply as the user would read it."""
    kind = "ephemeral" if reply.get("ephemeral") else "public"
    if reply.get("deferred"):
        kind += ", deferred"
    where = f" message {reply['message_id']}" if reply.get("message_id") else ""
    lines = [f"reply ({kind}){where}"]
    if reply.get("content"):
        lines.append(f"  {reply['content']}")
    lines.extend(f"  embed {describe_embed(e)}" for e in reply.get("embeds") or [])
    for att in reply.get("attachments") or []:
        lines.append(f"  file {att['filename']} ({att['size']} bytes, {att['content_type']}) {att['url']}")
    for row in reply.get("components") or []:
        for comp in row.get("components") or []:
            if comp.get("type") == 2:
                lines.append(f"  button [{comp.get('label')}] custom_id={comp.get('custom_id')}")
    for followup in reply.get("followups") or []:
        embeds = len(followup.get("embeds") or [])
        lines.append(
            f"  followup message {followup.get('id')}: {followup.get('content')!r} ({embeds} embeds)"
        )
    return "\n".join(lines)


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Return the control endpoint and payload for the command line: a click or a command."""
    if args.click:
        if args.command or args.autocomplete:
            raise ValueError("--click presses a button; give no command with it")
        message_id, custom_id = args.click
        if not message_id.isdigit():
            raise ValueError(f"--click: {message_id!r} is not a message id (the number after 'message')")
        return "/click", {"message_id": message_id, "custom_id": custom_id, "user_id": args.user}
    path, options = parse_command(args.command)
    payload: dict[str, Any] = {
        "name": path,
        "options": options,
        "guild_id": args.guild,
        "channel_id": args.channel,
        "user_id": args.user,
        "permissions": args.permissions,
        "timeout": args.timeout,
    }
    if args.autocomplete:
        return "/autocomplete", {**payload, "focused": args.autocomplete}
    return "/slash", payload


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.discord_api.send_command")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--guild", help="guild id (default: the first guild)")
    parser.add_argument("--channel", help="channel id (default: the guild's first channel)")
    parser.add_argument("--user", help="invoking user id (default: the guild's first member)")
    parser.add_argument("--permissions", help="member permissions bitfield, e.g. 8 for Administrator")
    parser.add_argument("--autocomplete", metavar="OPTION", help="ask for autocomplete choices of OPTION")
    parser.add_argument(
        "--click",
        nargs=2,
        metavar=("MESSAGE_ID", "CUSTOM_ID"),
        help="press a button of a message (both as a reply printed them) instead of sending a command",
    )
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print the raw JSON reply")
    parser.add_argument("command", nargs="*", help="/name [group] [sub] option:value ...")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Send the command (or press the button) and print the reply; exit 1 on an error or timeout."""
    parser = build_parser()
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}/_control"
    try:
        endpoint, payload = _request(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        status, body = post(base + endpoint, payload, args.timeout + 5)
    except OSError as exc:
        print(f"cannot reach the emulator at {base}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"error {status}: {body.get('error', body)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
    elif args.autocomplete:
        for choice in body["choices"]:
            print(f"{choice['name']} = {choice['value']!r}")
    else:
        print(format_reply(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
