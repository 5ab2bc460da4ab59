"""Read the small YAML subset compose.yaml is written in, refusing anything beyond it.

No YAML library is a dependency of Tripwire, and the deployment tests only need to read one file, so
this reads block mappings, block sequences of scalars or of one-line mappings, comments, and plain or
quoted scalars. Anything else (flow collections, anchors, multi-line strings, tabs) raises, so an edit
that leaves the subset fails the test loudly instead of being misread.
"""

from __future__ import annotations

import re
from typing import Any

_KEY = re.compile(r"^([A-Za-z0-9_.-]+):(?:\s+(.*))?$")


class SubsetError(ValueError):
    """The text uses YAML this reader does not support."""


def _strip_comment(line: str) -> str:
    out = []
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _scalar(text: str, where: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        inner = text[1:-1]
        if text[0] == '"' and "\\" in inner:
            raise SubsetError(f"{where}: escapes in double-quoted strings are not supported")
        return inner
    if not text or text[0] in "[{&*!|>%@`\"'" or ": " in text or text.endswith(":"):
        raise SubsetError(f"{where}: unsupported value {text!r}")
    return text


def parse(text: str) -> dict[str, Any]:
    """Return the document as nested dicts, lists and strings."""
    lines: list[tuple[int, str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw:
            raise SubsetError(f"line {number}: tabs are not allowed")
        content = _strip_comment(raw)
        if content.strip():
            lines.append((len(content) - len(content.lstrip(" ")), content.strip(), number))
    value, end = _block(lines, 0, 0)
    if end != len(lines):
        raise SubsetError(f"line {lines[end][2]}: unexpected indentation")
    if not isinstance(value, dict):
        raise SubsetError("the document must be a mapping")
    return value


def _block(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        _, content, number = lines[i]
        match = _KEY.match(content)
        if not match:
            raise SubsetError(f"line {number}: expected `key: value`, got {content!r}")
        key, rest = match.group(1), match.group(2)
        if key in result:
            raise SubsetError(f"line {number}: duplicate key {key!r}")
        i += 1
        if rest:
            result[key] = _scalar(rest, f"line {number}")
        elif i < len(lines) and lines[i][0] > indent:
            result[key], i = _block(lines, i, lines[i][0])
        elif i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            result[key], i = _sequence(lines, i, indent)  # a sequence may sit at its key's indentation
        else:
            result[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise SubsetError(f"line {lines[i][2]}: unexpected indentation")
    return result, i


def _sequence(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[list[Any], int]:
    result: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        _, content, number = lines[i]
        item = content[2:].strip()
        match = _KEY.match(item)
        if match and match.group(2):
            result.append({match.group(1): _scalar(match.group(2), f"line {number}")})
        else:
            result.append(_scalar(item, f"line {number}"))
        i += 1
    return result, i
