"""Load the vendored OpenAPI document once and match request paths to its operations."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errata import apply_corrections

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "openapi.json"

# OpenAPI path-item keys that are HTTP methods (the others are `parameters`, `summary`, ...).
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Operation:
    """One operation of the document: its method, path template and JSON pointer."""

    method: str
    template: str
    operation_id: str
    pointer: str

    @property
    def route(self) -> str:
        """Return "METHOD /template" (what the tally counts as a distinct route)."""
        return f"{self.method} {self.template}"


@functools.cache
def load_spec() -> dict[str, Any]:
    """Return the parsed OpenAPI document with the documented corrections (read once per process)."""
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return apply_corrections(data)


def pointer_escape(token: str) -> str:
    """Escape one JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


class RouteIndex:
    """Find the operation for a method and a concrete path like /channels/123/messages."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._by_method: dict[str, list[tuple[tuple[str, ...], Operation]]] = {}
        for template, item in spec["paths"].items():
            segments = tuple(template.strip("/").split("/"))
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                pointer = f"/paths/{pointer_escape(template)}/{method}"
                operation = Operation(method.upper(), template, op.get("operationId", ""), pointer)
                self._by_method.setdefault(method.upper(), []).append((segments, operation))

    def match(self, method: str, path: str) -> Operation | None:
        """Return the operation whose template fits the path, literal segments winning over parameters.

        `/users/@me` is its own template next to `/users/{user_id}`, and so is
        `/webhooks/{id}/{token}/messages/@original` next to `.../messages/{message_id}`: the template
        with more literal segments is the one Discord routes to.
        """
        segments = tuple(path.strip("/").split("/"))
        best: tuple[int, Operation] | None = None
        for template, operation in self._by_method.get(method.upper(), []):
            if len(template) != len(segments):
                continue
            literals = 0
            for want, got in zip(template, segments, strict=True):
                if _is_param(want):
                    if not got:
                        break
                elif want == got:
                    literals += 1
                else:
                    break
            else:
                if best is None or literals > best[0]:
                    best = (literals, operation)
        return best[1] if best else None

    def methods_for(self, path: str) -> list[str]:
        """Return the methods the document has for this path (to say "wrong method" rather than "unknown")."""
        return [m for m in self._by_method if self.match(m, path) is not None]


@functools.cache
def route_index() -> RouteIndex:
    """Return the route index over the vendored document (built once per process)."""
    return RouteIndex(load_spec())
