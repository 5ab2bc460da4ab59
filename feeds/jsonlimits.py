"""Decode an upstream's JSON without letting it exhaust memory, the event loop or the interpreter stack.

Three bounds, each refusing with ``FeedError`` (never a ``RecursionError`` or an unbounded read):

- **Size**: the HTTP client stops reading a body past ``[feeds.limits] max_body_mib`` (``feeds.http``);
  websocket frames past ``max_frame_mib`` are refused by aiohttp itself (``max_msg_size``).
- **Depth**: orjson refuses more than 1024 levels of nesting on its own ("depth limit exceeded", a
  ``JSONDecodeError``, checked in tests/feeds/test_jsonlimits.py), but 1024 is already too deep for the
  rest of Python: ``repr()`` or ``json.dumps`` of a 1000-deep list raises RecursionError (default
  recursion limit 1000), and a parser naming a bad field shows its value. The venues' documented payloads
  are at most five levels deep (Bybit ``{"result": {"list": [{...}]}}``), so ``MAX_DEPTH`` is 32.
  Counting the opening brackets first (``bytes.count`` runs in C) proves almost every frame shallow
  without walking it; only a document with more than ``MAX_DEPTH`` brackets is walked, iteratively.
- **Time on the event loop**: a body above ``off_loop_bytes`` is decoded in a worker thread
  (``asyncio.to_thread``), so a multi-MiB answer does not stall the websockets (orjson releases no lock,
  but the loop keeps running its other tasks between the thread's slices).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from feeds.errors import FeedError

MAX_DEPTH = 32
FRAME = "JSON frame"  # the ``where`` of a websocket frame
# orjson's own limit (documented in its README: "recursion limit of 1024 levels"), verified by a test.
ORJSON_MAX_DEPTH = 1024


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Tell whether a decoded JSON value nests arrays/objects more than ``limit`` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _brackets(raw: bytes | str) -> int:
    if isinstance(raw, bytes):
        return raw.count(b"[") + raw.count(b"{")
    return raw.count("[") + raw.count("{")


def decode(raw: bytes | str, where: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode strict JSON, or raise FeedError("malformed") for invalid, non-finite or too deep input.

    ``where`` starts the message: "binance /api/v3/klines: invalid JSON (...)"; "JSON frame" for frames
    reads "invalid JSON frame (...)".
    """
    return _decode(raw, where, max_depth)


def _decode(raw: bytes | str, where: str, max_depth: int) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = f"invalid JSON frame ({_first_line(exc)})" if where == FRAME else f"{where}: invalid JSON"
        if where != FRAME:
            message += f" ({_first_line(exc)})"
        raise FeedError("malformed", message) from None
    # Fewer opening brackets than the limit cannot nest deeper than it: no walk needed (nearly every frame).
    if _brackets(raw) > max_depth and too_deep(value, max_depth):
        raise FeedError("malformed", f"{where}: JSON nested deeper than {max_depth} levels, refused")
    return value


async def decode_async(raw: bytes, where: str, *, off_loop_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Decode like ``decode``; a body larger than ``off_loop_bytes`` is decoded in a worker thread."""
    if len(raw) <= off_loop_bytes:
        return decode(raw, where, max_depth=max_depth)
    return await asyncio.to_thread(decode, raw, where, max_depth=max_depth)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:160] or type(exc).__name__
