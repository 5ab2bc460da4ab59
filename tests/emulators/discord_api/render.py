"""Readable one-line descriptions of messages and replies, for logs and the command-line tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .state import StoredMessage


def describe_embed(embed: Mapping[str, Any]) -> str:
    """Return an embed as "[title] description | field: value ..."."""
    parts = []
    if embed.get("title"):
        parts.append(f"[{embed['title']}]")
    if embed.get("description"):
        parts.append(str(embed["description"]).replace("\n", " / "))
    for fld in embed.get("fields") or []:
        parts.append(f"{fld.get('name')}: {fld.get('value')}")
    if (embed.get("image") or {}).get("url"):
        parts.append(f"image={embed['image']['url'].rsplit('/', 1)[-1]}")
    return " | ".join(parts)


def describe_parts(
    content: str, embeds: Sequence[Mapping[str, Any]], files: Sequence[tuple[str, int]], flags: int = 0
) -> str:
    """Return content, embeds and files on one line."""
    pieces = []
    if flags & 64:
        pieces.append("(ephemeral)")
    if content:
        pieces.append(repr(content))
    pieces.extend("embed " + describe_embed(e) for e in embeds)
    pieces.extend(f"file {name} ({size} bytes)" for name, size in files)
    return " ".join(pieces) or "(empty)"


def describe_message(message: StoredMessage) -> str:
    """Return "#channel author: content | embed ... | files" for a stored message."""
    author = message.payload.get("author", {}).get("username", "?")
    state = " (deleted)" if message.deleted else (f" (edited x{message.edits})" if message.edits else "")
    files = [(a.filename, a.size) for a in message.attachments]
    text = describe_parts(message.content, message.embeds, files, message.flags)
    return f"channel={message.channel_id} id={message.id} {author}{state}: {text}"
