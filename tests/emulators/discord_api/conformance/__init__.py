"""Check the emulator's recorded traffic against Discord's OpenAPI document (spec/openapi.json).

`check_requests(emu.requests)` returns a `Report` whose `mismatches` list every request whose path is
not in the document, whose body does not fit the operation's requestBody schema, and every emulator
answer that does not fit the response schema for its status. The `discord_emu` fixture runs it after
each test and adds to `TALLY`, which tests/conftest.py prints in the terminal summary.
"""

from __future__ import annotations

from .check import NOT_IN_SPEC, Mismatch, Report, check_record, check_requests
from .tally import TALLY, Tally, check_and_tally

__all__ = [
    "NOT_IN_SPEC",
    "TALLY",
    "Mismatch",
    "Report",
    "Tally",
    "check_and_tally",
    "check_record",
    "check_requests",
]
