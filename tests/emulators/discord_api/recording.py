"""Parse request bodies (JSON or multipart) and keep a record of every request the emulator served."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.multipart import parse_content_disposition

from .faults import path_matches


@dataclass
class BodyPart:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        """Return the part decoded as UTF-8."""
        return self.data.decode("utf-8", errors="replace")


@dataclass
class ParsedBody:
    """A request body: JSON (for plain JSON or multipart payload_json), files, or raw text."""

    raw: bytes = b""
    json: Any = None
    parts: list[BodyPart] = field(default_factory=list)
    is_multipart: bool = False

    @property
    def files(self) -> list[BodyPart]:
        """Return the parts that carry a file."""
        return [p for p in self.parts if p.filename is not None]


#: Where the middleware stores the parsed body on the request.
BODY_KEY = web.RequestKey("body", ParsedBody)


def _boundary(content_type: str) -> str | None:
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip('"')
    return None


def parse_multipart(raw: bytes, boundary: str) -> list[BodyPart]:
    """Split a multipart/form-data body into parts, keeping file bytes exact."""
    delimiter = b"--" + boundary.encode()
    parts: list[BodyPart] = []
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        body = body.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        _, params = parse_content_disposition(headers.get("content-disposition"))
        parts.append(
            BodyPart(
                name=params.get("name", ""),
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
                data=body,
            )
        )
    return parts


def parse_body(raw: bytes, content_type: str) -> ParsedBody:
    """Parse a body by its Content-Type; invalid JSON leaves `json` as None."""
    body = ParsedBody(raw=raw)
    mime = content_type.split(";")[0].strip().lower()
    if mime == "multipart/form-data":
        boundary = _boundary(content_type)
        body.is_multipart = True
        body.parts = parse_multipart(raw, boundary) if boundary else []
        payload = next((p for p in body.parts if p.name == "payload_json"), None)
        if payload is not None:
            try:
                body.json = json.loads(payload.data)
            except ValueError:
                body.json = None
    elif raw and mime == "application/json":
        try:
            body.json = json.loads(raw)
        except ValueError:
            body.json = None
    return body


@dataclass
class RecordedPart:
    """A multipart part as recorded (file bytes kept for assertions)."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as the emulator saw it; the Authorization value is never stored."""

    method: str
    path: str
    route: str | None
    query: dict[str, str]
    headers: dict[str, str]
    has_authorization: bool
    json: Any
    parts: list[RecordedPart]
    at: float
    status: int = 0
    injected: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    # The bytes the emulator answered with, and whether a fault made them up on purpose (`injected`
    # alone also covers delay-only faults, whose answer is the real one).
    response_body: bytes = b""
    response_faked: bool = False

    @property
    def response(self) -> Any:
        """Return the response body parsed as JSON (None when empty or not JSON)."""
        try:
            return json.loads(self.response_body) if self.response_body else None
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class Recorder:
    """Keep every request in arrival order and answer queries about them."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []

    def add(self, request: RecordedRequest) -> None:
        """Append a request."""
        self.requests.append(request)

    def matching(
        self, method: str | None = None, path: str | None = None, *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Return requests with this method, path pattern (see faults.path_matches) and status."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or path_matches(path, r.path))
            and (status is None or r.status == status)
        ]
