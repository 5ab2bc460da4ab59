"""Discord's error answers: an HTTP status, a JSON error code and, for 50035, the nested `errors` tree."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error Discord would answer with: HTTP status plus JSON error code and optional field errors."""

    def __init__(
        self, status: int, code: int, message: str | None = None, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} code {code}: {message or ''}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


def _field_error(path: str, code: str, message: str) -> dict[str, Any]:
    """Build Discord's nested `errors` object for one field path like "embeds.0.title"."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    # An empty path is an error about the whole body: `_errors` at the root of `errors`.
    for key in reversed(path.split(".") if path else []):
        node = {key: node}
    return node


def invalid_form(path: str, code: str, message: str) -> ApiError:
    """Return a 400 code 50035 Invalid Form Body error for one field."""
    return ApiError(400, 50035, "Invalid Form Body", _field_error(path, code, message))


def under(key: str, error: ApiError) -> ApiError:
    """Return ``error`` with its field errors moved under ``key`` (a message inside a callback's `data`)."""
    if not error.errors:
        return error
    return ApiError(error.status, error.code, error.message, {key: error.errors})
