"""Check recorded requests and the emulator's answers against the operations of the OpenAPI document."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from ..recording import RecordedRequest
from .spec import Operation, load_spec, pointer_escape, route_index
from .validators import validator_at

#: Requests the emulator serves that are not HTTP API operations, so the document cannot have them.
NOT_IN_SPEC: dict[str, str] = {
    "GET /": "the gateway websocket upgrade (the gateway protocol is not part of the HTTP API document)",
}

# How many mismatches a failing test lists (the rest are counted).
_MAX_LISTED = 40


@dataclass(frozen=True)
class Mismatch:
    """One way a request or response differs from the document."""

    kind: str  # "route", "request" or "response"
    request: str  # "POST /channels/1/messages -> 200"
    route: str | None  # "POST /channels/{channel_id}/messages", when the document has it
    detail: str

    def __str__(self) -> str:
        where = f" [{self.route}]" if self.route else ""
        return f"{self.kind}: {self.request}{where}: {self.detail}"


@dataclass
class Report:
    """What one batch of recorded requests gave: counts, routes seen and mismatches."""

    requests: int = 0
    routes: set[str] = field(default_factory=set)
    faked_responses: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    # Bad requests a test sent on purpose and the emulator refused (see check_record).
    expected: list[Mismatch] = field(default_factory=list)

    def describe(self) -> str:
        """Return the mismatches as a readable numbered list."""
        lines = [f"{len(self.mismatches)} request(s)/response(s) do not match Discord's OpenAPI document:"]
        lines += [f"  {i}. {m}" for i, m in enumerate(self.mismatches[:_MAX_LISTED], 1)]
        if len(self.mismatches) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.mismatches) - _MAX_LISTED} more")
        return "\n".join(lines)


def _resolve(node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    """Follow a local `$ref` (responses use #/components/responses/...); return the node and its pointer."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, pointer
    target: Any = load_spec()
    for token in ref.removeprefix("#/").split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    return target, ref.removeprefix("#")


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def _errors(instance: Any, pointer: str, *, request: bool) -> list[str]:
    """Return readable schema errors for an instance against the schema at a pointer."""
    # Tests repeat the same bodies (every bot syncs the same command tree): check each one once.
    return list(_errors_of(json.dumps(instance, sort_keys=True), pointer, request))


@functools.lru_cache(maxsize=4096)
def _errors_of(canonical: str, pointer: str, request: bool) -> tuple[str, ...]:
    errors = validator_at(pointer, request=request).iter_errors(json.loads(canonical))
    return tuple(_describe(e) for e in sorted(errors, key=lambda e: list(e.absolute_path)))


def _closest(error: ValidationError) -> ValidationError:
    """Return the most telling error under a failed oneOf/anyOf: in the branch that got furthest.

    A union of object types (message components, command options, callback resources) fails in every
    branch; the branch whose errors lie deepest in the instance is the one the instance meant to be
    (its `type` matched), and its first error is the real problem.
    """
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        # Deepest first; then a branch that failed on more than its type (`null` in a nullable union
        # says nothing); then the one with fewest errors.
        furthest = max(
            branches.values(),
            key=lambda errs: (
                min(len(e.relative_path) for e in errs),
                any(e.validator != "type" for e in errs),
                -len(errs),
            ),
        )
        error = best_match(furthest)
    return error


def _describe(error: ValidationError) -> str:
    text = f"at {error.json_path}: {_short(error.message)}"
    if error.context:
        inner = _closest(error)
        text = f"at {error.json_path}: no branch of the union fits; closest: at {inner.json_path}: "
        text += _short(inner.message)
    return text


def _short(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _request_instance(record: RecordedRequest, media: str) -> tuple[Any, str | None]:
    """Return what to validate for the body: the JSON, or payload_json plus file parts for multipart."""
    if media != "multipart/form-data":
        return record.json, None
    has_payload = any(p.name == "payload_json" for p in record.parts)
    if has_payload and not isinstance(record.json, dict):
        return None, "payload_json is not a JSON object"
    instance: dict[str, Any] = dict(record.json) if isinstance(record.json, dict) else {}
    for part in record.parts:
        if part.name != "payload_json":
            # The document lists file parts as `files[n]`: strings with contentEncoding binary.
            instance[part.name] = f"<{len(part.data)} bytes>"
    return instance, None


def _check_request(record: RecordedRequest, op: Operation, spec_op: dict[str, Any]) -> list[str]:
    media = _header(record.headers, "Content-Type").split(";")[0].strip().lower()
    has_body = record.json is not None or bool(record.parts)
    body_spec = spec_op.get("requestBody")
    if body_spec is None:
        return [f"a body ({media or 'no Content-Type'}) for an operation that takes none"] * has_body
    body_spec, body_pointer = _resolve(body_spec, op.pointer + "/requestBody")
    if not has_body:
        if media == "application/json":
            return ["the body is not valid JSON"]
        return ["the operation requires a body; none was sent"] if body_spec.get("required") else []
    content = body_spec.get("content", {})
    if media not in content:
        return [f"Content-Type {media or '(none)'} is not one the operation accepts ({', '.join(content)})"]
    instance, problem = _request_instance(record, media)
    if problem:
        return [problem]
    pointer = f"{body_pointer}/content/{pointer_escape(media)}/schema"
    return _errors(instance, pointer, request=True)


def _check_response(record: RecordedRequest, op: Operation, spec_op: dict[str, Any]) -> list[str]:
    responses = spec_op.get("responses", {})
    status = str(record.status)
    key = next((k for k in (status, f"{status[0]}XX", "default") if k in responses), None)
    if key is None:
        return [f"status {status} is not among the documented responses ({', '.join(responses)})"]
    response, pointer = _resolve(responses[key], f"{op.pointer}/responses/{pointer_escape(key)}")
    content = response.get("content")
    if not content:
        extra = len(record.response_body)
        return [f"status {status} has no body in the document, got {extra} bytes"] * bool(extra)
    if "application/json" not in content:
        return []
    body = record.response
    if body is None and record.response_body.strip() != b"null":
        return [f"status {status} should carry JSON, got {record.response_body[:60]!r}"]
    return _errors(body, f"{pointer}/content/application~1json/schema", request=False)


def check_record(
    record: RecordedRequest,
    report: Report,
    *,
    invalid_requests_expected: bool = False,
    even_accepted: bool = False,
) -> None:
    """Check one recorded request (and the answer to it), adding to the report.

    With `invalid_requests_expected` (a test that sends bad requests on purpose to see the emulator
    refuse them), a request to a path the document lacks or with a body that does not fit it is
    expected when the emulator refused it with a 4xx; one it accepted is still a mismatch, and so is
    any answer that does not fit. `even_accepted` also expects accepted ones: for a test of a documented
    rule the document gets wrong (the marker then names the page in `accepted="..."`).
    """
    report.requests += 1
    seen = f"{record.method} {record.path} -> {record.status}"
    if f"{record.method} {record.path}" in NOT_IN_SPEC:
        return
    refused = 400 <= record.status < 500 and not record.response_faked
    expected = invalid_requests_expected and (refused or even_accepted)
    request_side = report.expected if expected else report.mismatches
    op = route_index().match(record.method, record.path)
    if op is None:
        others = route_index().methods_for(record.path)
        detail = f"the document has only {', '.join(others)} here" if others else "no such path"
        request_side.append(Mismatch("route", seen, None, f"not in the document ({detail})"))
        return
    report.routes.add(op.route)
    spec_op = load_spec()["paths"][op.template][op.method.lower()]
    for detail in _check_request(record, op, spec_op):
        request_side.append(Mismatch("request", seen, op.route, detail))
    if record.response_faked:
        # A fault made this answer up on purpose (an HTML page, a 5xx): there is nothing real to check.
        report.faked_responses += 1
    elif record.status:
        for detail in _check_response(record, op, spec_op):
            report.mismatches.append(Mismatch("response", seen, op.route, detail))


def check_requests(
    records: Iterable[RecordedRequest],
    *,
    invalid_requests_expected: bool = False,
    even_accepted: bool = False,
) -> Report:
    """Check every recorded request and answer; return the report."""
    report = Report()
    for record in records:
        check_record(
            record, report, invalid_requests_expected=invalid_requests_expected, even_accepted=even_accepted
        )
    return report
