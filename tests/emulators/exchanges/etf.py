"""SoSoValue's open API, the ETF flow source: ``POST /openapi/v2/etf/historicalInflowChart``.

What the docs say and this emulator enforces (SoSoValue API docs, "Get ETF historical inflow chart" and
"Common Errors & Rate Limit", sosovalue.gitbook.io/soso-value-api-doc):

- the key in the ``x-soso-api-key`` header; missing or wrong: HTTP 401 ``AUTH_REQUIRED``;
- a JSON body with ``type`` (required, a string: "us-btc-spot" or "us-eth-spot");
- the free (Demo) plan's 20 requests a minute per key: more is HTTP 429 ``RATE_LIMITED``;
- success: ``{"code": 0, "msg": null, "data": ...}`` with the days newest first; ``code`` 1 is a failure.

The docs give each error's HTTP status and error code but no body: the bodies here, ``{"code": <error
code>, "msg": <its description>, "data": null}``, are an [unverified] assumption, and Tripwire reads only
the status (and shows the message). Likewise what an unknown ``type`` answers is not documented: here
``code`` 1 with a message. The days served are the corpus files (tests/data/corpus/README.md): the docs'
own BTC example and a SYNTHETIC ETH answer in the documented shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .context import Context, json_response
from .data import DATA_DIR
from .hyperliquid_info import SlidingWeight

PATH = "/openapi/v2/etf/historicalInflowChart"
KEY_HEADER = "x-soso-api-key"
# The key the emulator accepts; a test configures Tripwire with it (or another, to be refused).
API_KEY = "emulator-sosovalue-key"
CORPUS = DATA_DIR / "corpus"
ANSWERS = {
    "us-btc-spot": CORPUS / "sosovalue_docs_historicalInflowChart_btc.json",
    "us-eth-spot": CORPUS / "sosovalue_synthetic_historicalInflowChart_eth.json",
}
# "Demo Plan: 1000 calls a month, 20 a minute" (Common Errors & Rate Limit).
REQUESTS_PER_MINUTE = 20


def soso_error(status: int, code: str, msg: str) -> web.Response:
    """Return an error in the assumed envelope (the docs give the status and code, not the body)."""
    return json_response({"code": code, "msg": msg, "data": None}, status=status)


class EtfVenue:
    """The historical inflow chart endpoint, behind its key and rate limit."""

    def __init__(self, ctx: Context, now: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.key = API_KEY
        self.rate = SlidingWeight(REQUESTS_PER_MINUTE, 60.0, now)
        # type -> the answer served (a test may replace one, e.g. with a changed format).
        self.answers: dict[str, Any] = {
            t: json.loads(p.read_text(encoding="utf-8")) for t, p in ANSWERS.items()
        }

    def routes(self) -> list[web.RouteDef]:
        """Return the one POST route."""
        return [web.post(PATH, self.inflow_chart)]

    async def inflow_chart(self, request: web.Request) -> web.Response:
        """Answer an asset's daily totals, after the key and the rate limit."""
        if request.headers.get(KEY_HEADER) != self.key:
            return soso_error(401, "AUTH_REQUIRED", "Missing/invalid API key")
        if not self.rate.charge(1):
            return soso_error(429, "RATE_LIMITED", "Too many requests")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return json_response({"code": 1, "msg": "request body is not JSON", "data": None})
        kind = body.get("type") if isinstance(body, dict) else None
        if not isinstance(kind, str) or not kind:
            return json_response({"code": 1, "msg": "type is required", "data": None})
        answer = self.answers.get(kind)
        if answer is None:
            return json_response({"code": 1, "msg": f"unsupported type {kind}", "data": None})
        return json_response(answer)
