"""Where the OpenAPI document disagrees with Discord's documentation: the corrections the check applies.

Discord's README for the document: "This is a preview and it may be not correct. If you find
discrepancies between the spec and our docs ... follow the docs, not the spec." Each correction here
replaces one schema node of the loaded document (the vendored file stays byte for byte) and names the
documentation that settles it. Keep the list short: anything not settled by the documentation is fixed
in the emulator or the bot instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Correction:
    """Replace the schema node at `pointer` with `schema`, because `source` says so."""

    pointer: str
    schema: dict[str, Any]
    reason: str
    source: str


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        pointer="/components/schemas/InnerErrors/properties/_errors/items",
        schema={
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        },
        reason=(
            "field errors in a 400 50035 body carry string codes such as BASE_TYPE_CHOICES; the document "
            "reuses Error, whose code is an integer"
        ),
        source="developers/reference.mdx, Error Messages (Array Error and Object Error examples)",
    ),
    Correction(
        pointer="/components/schemas/RatelimitedResponse/allOf/0",
        schema={
            "type": "object",
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            "required": ["message"],
        },
        reason=(
            "a 429 body has `code` only for some limits; the document builds it on Error, which requires it"
        ),
        source="developers/topics/rate-limits.mdx, Rate Limit Response Structure (code? integer)",
    ),
)


def apply_corrections(spec: dict[str, Any]) -> dict[str, Any]:
    """Apply every correction to a parsed document in place and return it."""
    for correction in CORRECTIONS:
        *parents, last = correction.pointer.strip("/").split("/")
        node: Any = spec
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node[token]
        key: Any = int(last) if isinstance(node, list) else last
        present = key < len(node) if isinstance(node, list) else key in node
        if not present:
            raise KeyError(f"correction target {correction.pointer} is not in the document")
        node[key] = correction.schema
    return spec
