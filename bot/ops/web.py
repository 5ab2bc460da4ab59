"""The optional HTTP server for operators: ``/healthz``, ``/readyz`` and ``/metrics``.

Off by default and bound to 127.0.0.1 unless ``[http] host`` says otherwise: the endpoints reveal which
feeds and symbols a bot watches, which is nobody else's business. It reads only what it is given (a
metrics ``Registry`` and readiness checks), so it can be started and tested without the rest of the bot.

* ``GET /healthz``: liveness. The process and its event loop answer; JSON, always 200.
* ``GET /readyz``: readiness. Every check passes: 200, else 503; JSON lists each check's result.
* ``GET /metrics``: Prometheus text exposition format 0.0.4.
* ``POST /webhook/...``: inbound alerts, when ``[webhooks_in]`` is on (``bot.inbound.endpoint``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

from aiohttp import web

from bot.config import HttpConfig
from bot.ops.instruments import tripwire_version
from bot.ops.metrics import CONTENT_TYPE, Registry
from bot.ops.readiness import DEFAULT_TIMEOUT_S, Check, run_checks

log = logging.getLogger(__name__)

# How long stop() waits for a request in progress (a scrape takes milliseconds).
SHUTDOWN_TIMEOUT_S = 2.0


class WebServerError(Exception):
    """The server could not start, with a message meant for the operator."""


class WebServer:
    """Serve health, readiness and metrics over HTTP until stopped."""

    def __init__(
        self,
        registry: Registry,
        checks: Mapping[str, Check] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 9108,
        check_timeout_s: float = DEFAULT_TIMEOUT_S,
        extra_routes: Sequence[Callable[[web.Application], None]] = (),
    ) -> None:
        self.registry = registry
        # More routes (the inbound webhooks), each added by a function given the application.
        self.extra_routes = list(extra_routes)
        self.checks = dict(checks or {})
        self.check_timeout_s = check_timeout_s
        self.host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._started = time.monotonic()

    @classmethod
    def from_config(
        cls,
        config: HttpConfig,
        registry: Registry,
        checks: Mapping[str, Check] | None = None,
        extra_routes: Sequence[Callable[[web.Application], None]] = (),
    ) -> WebServer:
        """Build the server the ``[http]`` section describes (the caller checks ``config.enabled``)."""
        return cls(registry, checks, host=config.host, port=config.port, extra_routes=extra_routes)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        for install in self.extra_routes:
            install(app)
        return app

    async def start(self) -> None:
        """Listen on the configured address (port 0 picks a free port, see ``port``)."""
        if self._runner is not None:
            raise RuntimeError("the web server is already running")
        # access_log=None: a scrape every 15 s would otherwise fill the log with one line each.
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except OSError as exc:
            await runner.cleanup()
            raise WebServerError(
                f"cannot listen on {self.host}:{self._requested_port} ({exc.strerror or exc}); "
                "change [http] host/port or stop what is using that port"
            ) from exc
        self._runner = runner
        self._started = time.monotonic()
        log.info(
            "http: serving /healthz /readyz /metrics%s on %s",
            " /webhook" if self.extra_routes else "",
            self.url,
        )

    @property
    def port(self) -> int:
        """Return the port actually listened on."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the web server is not running")
        return int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        """Return the base URL (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop listening and close every connection; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("http: stopped")

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": tripwire_version(),
                "uptime_seconds": round(time.monotonic() - self._started, 3),
            }
        )

    async def _readyz(self, request: web.Request) -> web.Response:
        results = await run_checks(self.checks, self.check_timeout_s)
        ready = all(r.ok for r in results.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()},
        }
        if not ready:
            failing = ", ".join(f"{n} ({r.detail})" for n, r in results.items() if not r.ok)
            log.debug("http: not ready: %s", failing)
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.registry.render().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}
        )
