"""US spot BTC and ETH ETF daily net flows, from SoSoValue's open API (a free key; off by default).

Why this source (issue 19): no keyless JSON API publishes these flows. The alternative, parsing a public
daily table (Farside's HTML pages), breaks silently when the page changes, so Tripwire reads a free-key
JSON API instead, with the key from the environment (``TRIPWIRE_ETF_API_KEY`` or a file named by
``TRIPWIRE_ETF_API_KEY_FILE``), never from the TOML file, and only when ``[feeds.etf] enabled = true``.

SoSoValue API docs, "Get ETF historical inflow chart"
(https://sosovalue.gitbook.io/soso-value-api-doc/api-document/get-etf-historical-inflow-chart):
``POST /openapi/v2/etf/historicalInflowChart`` with the header ``x-soso-api-key`` and the body
``{"type": "us-btc-spot"}`` (or ``"us-eth-spot"``) returns up to 300 trading days, newest first::

    {"code": 0, "msg": null, "data": {"list": [{"date": "2024-04-12", "totalNetInflow": -55066297.0,
      "totalValueTraded": 4706120449.0, "totalNetAssets": 56216535367.0, "cumNetInflow": 13534833596.095}]}}

``code`` is 0 for success and 1 for a failure. "Common Errors & Rate Limit": HTTP 401 AUTH_REQUIRED (a
missing or invalid key), 403 PERMISSION_DENIED, 429 RATE_LIMITED, 500 INTERNAL_ERROR; the free plan
allows about 20 calls a minute and 1000 a month. Clients written against the live API in 2026 read
``data`` as the list itself (``{"code": 0, "data": [...]}``); both shapes are accepted and nothing else.

Nothing is guessed. An answer with a missing or renamed field, a field of the wrong type, a number given
as text or not finite, a malformed or repeated date, or an unknown shape is refused whole (a
``PayloadError``: the poll fails, the error shows in the log, the ops channel and ``/status``) and
nothing of it is stored. Each row keeps its source and the time it was read.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any, Final

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob
from feeds.config import EtfFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError, PayloadError
from feeds.http import HttpClient
from feeds.poller import Poller
from storage.rows import DAY_MS, EtfFlow

log = logging.getLogger(__name__)

SOURCE: Final = "sosovalue"
PATH: Final = "/openapi/v2/etf/historicalInflowChart"
KEY_HEADER: Final = "x-soso-api-key"
ETF_TYPES: Final = {"BTC": "us-btc-spot", "ETH": "us-eth-spot"}
# The four daily totals the docs list for every day; a day missing one of them is a changed format.
REQUIRED: Final = ("date", "totalNetInflow", "totalValueTraded", "totalNetAssets", "cumNetInflow")
DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# No fund family's daily flow or assets comes near a trillion dollars: a larger figure is not a reading.
MAX_USD: Final = 1e12


def _number(item: dict[str, Any], name: str, where: str, *, nullable: bool) -> float | None:
    """Return a JSON number field (not text, not a boolean, finite, within MAX_USD), or refuse."""
    value = item[name]
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where}: {name} is {type(value).__name__} {str(value)[:30]!r}, not a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_USD:
        raise PayloadError(f"{where}: {name}={value!r} is not a finite dollar amount")
    return number


def _day(item: dict[str, Any], where: str) -> tuple[str, int]:
    """Return the trading day and its 00:00 UTC (ms), refusing anything but a real YYYY-MM-DD date."""
    date = item["date"]
    if not isinstance(date, str) or DATE.fullmatch(date) is None:
        raise PayloadError(f"{where}: date {str(date)[:30]!r} is not YYYY-MM-DD")
    try:
        day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise PayloadError(f"{where}: date {date!r} is not a calendar date") from None
    return date, int(day.timestamp() * 1000)


def _days(payload: Any, what: str) -> list[Any]:
    """Return the answer's list of days (``data.list`` as documented, or ``data`` itself), or refuse."""
    if not isinstance(payload, dict) or "code" not in payload or "data" not in payload:
        raise PayloadError(f"{what}: not the {{code, msg, data}} envelope: {str(payload)[:80]}")
    code = payload["code"]
    if code != 0:
        raise FeedError("api", f"{what}: code {str(code)[:20]} ({str(payload.get('msg'))[:120]})")
    data = payload["data"]
    if isinstance(data, dict) and set(data) == {"list"}:
        data = data["list"]
    if not isinstance(data, list):
        raise PayloadError(f"{what}: data is neither a list of days nor {{list: [...]}}: {str(data)[:80]}")
    return data


def parse_inflow_chart(payload: Any, asset: str, fetched_at: int) -> list[EtfFlow]:
    """Parse a historicalInflowChart answer into daily flows, oldest first; refuse it whole if any is bad."""
    what = f"sosovalue {ETF_TYPES[asset]}"
    rows: dict[str, EtfFlow] = {}
    for index, item in enumerate(_days(payload, what)):
        where = f"{what} day {index}"
        if not isinstance(item, dict):
            raise PayloadError(f"{where}: not an object: {str(item)[:40]}")
        missing = [name for name in REQUIRED if name not in item]
        if missing:
            raise PayloadError(f"{where}: no {', '.join(missing)} (fields: {', '.join(sorted(item))[:120]})")
        date, ts = _day(item, where)
        if date in rows:
            raise PayloadError(f"{where}: {date} is given twice")
        if ts > fetched_at:
            raise PayloadError(f"{where}: {date} is after the time it was read")
        net = _number(item, "totalNetInflow", where, nullable=False)
        assert net is not None  # not nullable: _number refused a null
        rows[date] = EtfFlow(
            asset,
            date,
            ts,
            SOURCE,
            net,
            _number(item, "totalValueTraded", where, nullable=True),
            _number(item, "totalNetAssets", where, nullable=True),
            _number(item, "cumNetInflow", where, nullable=True),
            fetched_at,
        )
    return sorted(rows.values(), key=lambda r: r.ts)


class EtfFlowFeed(Feed):
    """Poll each asset's daily ETF flows; each asset polls, fails and retries on its own."""

    name = "etf"

    def __init__(self, config: EtfFeedConfig, http: HttpClient, context: FeedContext) -> None:
        self.config = config
        self.http = http
        self.context = context
        tuning = context.tuning
        self.pollers: list[Poller] = []
        for asset in dict.fromkeys(config.assets):
            name = f"{self.name}.{asset.lower()}"
            # Market-wide (symbols=None): a day's flow is the asset's, whatever market a rule watches.
            health = context.registry.register(
                name,
                {"etf_flow"},
                None,
                stale_after_s=config.stale_after_seconds,
                max_lag_s=config.max_lag_seconds,
            )
            backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
            sync = self._poll_for(asset)
            self.pollers.append(Poller(name, sync, health, context.failures, context.now_ms, backoff))

    def jobs(self) -> list[PollJob]:
        """Return one poll per asset (a failed one is retried with backoff before its next turn)."""
        return [PollJob(p.name, self.config.poll_seconds, p.run) for p in self.pollers]

    async def backfill(self) -> None:
        """Read the ~300 days the API keeps (one call per asset: it has no shorter answer)."""
        for poller in self.pollers:
            await poller.run()

    def _poll_for(self, asset: str) -> Any:
        async def poll() -> int | None:
            return await self.poll(asset)

        return poll

    async def poll(self, asset: str) -> int | None:
        """Store an asset's daily flows as read now, returning the newest day's time."""
        payload = await self.http.post_json(PATH, {"type": ETF_TYPES[asset]})
        rows = parse_inflow_chart(payload, asset, self.context.now_ms())
        self.context.ingest.etf_flows(rows)
        return rows[-1].ts + DAY_MS if rows else None
