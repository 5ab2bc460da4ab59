"""Record every request and inject HTTP faults per route, as an aiohttp middleware."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from aiohttp import web

FaultKind = Literal["status", "delay", "body", "truncate", "cut_json", "mangle", "drop", "respond", "flood"]
FAULT_KINDS: tuple[str, ...] = (
    "flood",
    "status",
    "delay",
    "body",
    "truncate",
    "cut_json",
    "mangle",
    "drop",
    "respond",
)
CONTROL_PREFIX = "/_control/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = str | tuple[str, ...]  # a path or shell-style pattern, or several


@dataclass
class RequestRecord:
    """One request the emulator received: what was asked, when, and how it was answered."""

    method: str
    path: str
    query: dict[str, str]
    time: float  # time.monotonic(), for measuring a client's backoff
    wall_ms: int
    headers: dict[str, str]
    status: int | None = None  # None when the connection was dropped without a response
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict (for the control endpoint)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "time": self.time,
            "wall_ms": self.wall_ms,
            "status": self.status,
            "fault": self.fault,
        }


@dataclass
class Fault:
    """A fault for the next `times` requests whose path matches `route` (None: until cleared).

    `route` is an exact path or a shell-style pattern ("/fapi/*"), or a tuple of them; `query` narrows the
    match to requests carrying those parameter values.
    """

    route: Route
    kind: FaultKind
    times: int | None = 1
    method: str | None = None
    query: Mapping[str, str] | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    seconds: float = 0.0
    drop_fields: Sequence[str | int] = ()
    retype: Mapping[str | int, Any] = field(default_factory=dict)
    every: int = 2
    extra_bytes: int = 100
    flood_bytes: int = 8 * 1024 * 1024
    id: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")

    @property
    def exhausted(self) -> bool:
        """Tell whether the fault has been used up."""
        return self.times is not None and self.hits >= self.times

    def matches(self, request: web.BaseRequest) -> bool:
        """Tell whether this fault applies to the request."""
        routes = (self.route,) if isinstance(self.route, str) else self.route
        if self.exhausted or not any(fnmatchcase(request.path, r) for r in routes):
            return False
        if self.method is not None and request.method != self.method.upper():
            return False
        return not self.query or all(request.query.get(k) == v for k, v in self.query.items())

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> Fault:
        """Build a fault from the control endpoint's JSON (body as text, payload as JSON)."""
        spec = dict(spec)
        if isinstance(spec.get("route"), list):
            spec["route"] = tuple(spec["route"])
        if "payload" in spec:
            spec["body"] = json.dumps(spec.pop("payload")).encode()
        if isinstance(spec.get("body"), str):
            spec["body"] = spec["body"].encode()
        if "retry_after" in spec:
            spec["headers"] = {**spec.get("headers", {}), "Retry-After": str(spec.pop("retry_after"))}
        allowed = set(cls.__dataclass_fields__) - {"id", "hits"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**spec)


class RequestLog:
    """Every request the emulator has received, oldest first (control requests excluded)."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def add(self, request: web.BaseRequest) -> RequestRecord:
        """Record an incoming request and return its record."""
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            time=time.monotonic(),
            wall_ms=int(time.time() * 1000),
            headers=dict(request.headers),
        )
        self.records.append(record)
        return record

    def matching(self, route: str | None = None) -> list[RequestRecord]:
        """Return the records whose path matches route (a path or shell-style pattern), or all."""
        return [r for r in self.records if route is None or fnmatchcase(r.path, route)]

    def clear(self) -> None:
        """Forget all records."""
        self.records.clear()


class FaultInjector:
    """Hold the active faults and apply them from an aiohttp middleware."""

    def __init__(self, log: RequestLog) -> None:
        self.log = log
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        """Activate a fault; earlier faults win when several match one request."""
        fault.id = next(self._ids)
        self.faults.append(fault)
        return fault

    def clear(self, route: Route | None = None) -> None:
        """Remove all faults, or those registered for exactly this route."""
        self.faults = [f for f in self.faults if route is not None and f.route != route]

    def remove(self, fault_id: int) -> bool:
        """Remove one fault by id; tell whether it existed."""
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def take(self, request: web.BaseRequest) -> Fault | None:
        """Return the fault for this request, counting one use of it."""
        for fault in self.faults:
            if fault.matches(request):
                fault.hits += 1
                if fault.exhausted:
                    self.faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record the request, then answer it normally or through the matching fault."""
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        record = self.log.add(request)
        fault = self.take(request)
        if fault is not None:
            record.fault = fault.kind
        try:
            response = await handler(request) if fault is None else await apply_fault(fault, request, handler)
        except web.HTTPException as exc:
            record.status = exc.status
            raise
        if fault is None or fault.kind not in ("drop", "truncate"):
            record.status = response.status
        return response


def _copy_headers(response: web.StreamResponse) -> dict[str, str]:
    skip = {"content-length", "content-type", "transfer-encoding"}
    return {k: v for k, v in response.headers.items() if k.lower() not in skip}


def _body_of(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        raise TypeError(f"cannot rewrite a streamed response from {type(response).__name__}")
    return body


async def _drop(request: web.Request) -> web.StreamResponse:
    # Closing the transport without writing anything is what a crashed proxy or a reset looks like to
    # the client (aiohttp raises ServerDisconnectedError). The server cancels this handler when it
    # notices the lost connection (handler_cancellation=True), so the sleep never finishes.
    transport = request.transport
    if transport is not None:
        transport.close()
    await asyncio.sleep(3600)
    raise AssertionError("unreachable: the dropped connection cancels this handler")


async def _flood(fault: Fault, request: web.Request) -> web.StreamResponse:
    # A runaway upstream: a chunked body (no Content-Length to refuse it by) of `flood_bytes` bytes of a
    # JSON array that would be valid if it ever ended, written in 64 KiB pieces. A client that stops
    # reading makes the write fail; that ends this handler.
    stream = web.StreamResponse(status=200)
    stream.content_type = "application/json"
    stream.enable_chunked_encoding()
    await stream.prepare(request)
    piece = b"0," * 32768
    sent = 0
    try:
        await stream.write(b"[")
        while sent < fault.flood_bytes:
            await stream.write(piece)
            sent += len(piece)
        await stream.write(b"0]")
        await stream.write_eof()
    except (ConnectionError, RuntimeError):
        pass
    return stream


async def apply_fault(fault: Fault, request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer one request through a fault."""
    if fault.kind == "drop":
        return await _drop(request)
    if fault.kind == "delay":
        # Longer than the client's timeout: the client gives up, then this handler is cancelled.
        await asyncio.sleep(fault.seconds)
        return await handler(request)
    if fault.kind == "flood":
        return await _flood(fault, request)
    if fault.kind in ("status", "body", "respond"):
        response = web.Response(status=fault.status, headers=dict(fault.headers), body=fault.body or b"")
        if fault.body:
            response.content_type = fault.content_type
        return response

    real = await handler(request)
    body = _body_of(real)
    headers = _copy_headers(real)
    if fault.kind == "cut_json":
        # Complete HTTP message, broken document: the client reads it fully and the JSON parse fails.
        return web.Response(
            status=real.status,
            headers=headers,
            body=body[: max(1, len(body) // 2)],
            content_type=real.content_type,
        )
    if fault.kind == "truncate":
        # Content-Length promises more than is sent, then the connection closes mid-body.
        stream = web.StreamResponse(status=real.status, headers=headers)
        stream.content_type = real.content_type
        stream.content_length = len(body) + fault.extra_bytes
        await stream.prepare(request)
        await stream.write(body[: len(body) // 2])
        return await _drop(request)
    # mangle
    payload = mangle_payload(json.loads(body), fault.drop_fields, fault.retype, fault.every)
    return web.json_response(payload, status=real.status, headers=headers)


def _record_list(payload: Any) -> list[Any]:
    """Find the list of records inside a venue's envelope."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if isinstance(payload.get("data"), list):  # OKX, alternative.me
            return list(payload["data"])
        result = payload.get("result")
        if isinstance(result, dict):
            if isinstance(result.get("list"), list):  # Bybit
                return list(result["list"])
            lists = [v for v in result.values() if isinstance(v, list)]  # Kraken: result[pair]
            if lists:
                return list(lists[0])
        return [payload]  # a single object (premiumIndex with symbol, openInterest)
    return []


def mangle_payload(
    payload: Any, drop_fields: Sequence[str | int], retype: Mapping[str | int, Any], every: int
) -> Any:
    """Return a copy of payload where every `every`-th record misses fields or has wrong-typed ones.

    Records are dict items (fields by name) or kline-style arrays (fields by index; a digit string
    from the control endpoint counts as an index).
    """
    payload = copy.deepcopy(payload)
    for i, item in enumerate(_record_list(payload)):
        if (i + 1) % max(1, every):
            continue
        if isinstance(item, dict):
            for name in drop_fields:
                item.pop(str(name), None)
            for name, value in retype.items():
                if str(name) in item:
                    item[str(name)] = value
        elif isinstance(item, list):
            for name, value in retype.items():
                index = int(name)
                if index < len(item):
                    item[index] = value
            for index in sorted((int(n) for n in drop_fields), reverse=True):
                if index < len(item):
                    del item[index]
    return payload
