"""Prometheus metrics: requests and latency by route and outcome, handler errors, API errors
by errcode, database errors, probe latency, outbox states.

Served on a port of its own (``[metrics] port``, loopback by default, optionally behind a
bearer token), never on the public webhook port. One registry per process, as Prometheus
expects: with ``serve --workers N`` each worker serves its own port (``port + worker index``).

Handler and API errors are read from the structured log events the dispatcher and the API
clients already emit (``bot.logs.observe``), so counting them needs no hook in that code;
database errors from SQLAlchemy's ``handle_error`` engine event and from the probe.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.base import WEBHOOK
from bot.kernel.context import BotContext
from bot.kernel.logs import observe
from storage.schedules import outbox_counts

REGISTRY = CollectorRegistry()
# Up to the 4.5 s reply deadline and a little past it.
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.5, 10.0)

REQUESTS = Counter(
    "bot_requests", "HTTP requests by route and outcome", ["route", "outcome"], registry=REGISTRY
)
LATENCY = Histogram(
    "bot_request_seconds",
    "Time to answer an HTTP request, by route and outcome",
    ["route", "outcome"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "bot_handler_errors", "Handlers that raised (the user got the apology)", ["handler"],
    registry=REGISTRY,
)  # fmt: skip
API_ERRORS = Counter(
    "bot_api_errors", "Platform API errors by channel and errcode", ["channel", "errcode"],
    registry=REGISTRY,
)  # fmt: skip
DB_ERRORS = Counter(
    "bot_database_errors", "Database errors by where they happened and their type",
    ["where", "error"], registry=REGISTRY,
)  # fmt: skip
PROBE = Histogram(
    "bot_probe_seconds",
    "The per-message flow/notice/retry probe",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "bot_outbox", "Push outbox rows by state (read at scrape)", ["state"], registry=REGISTRY
)


def _on_event(logger: str, name: str, fields: dict[str, Any]) -> None:
    if name == "handler_failed":
        HANDLER_ERRORS.labels(str(fields.get("handler", ""))).inc()
    elif name == "api_error":
        # The clients log as bot.wechat.api and bot.weibo.api.
        channel = next((p for p in logger.split(".") if p in ("wechat", "weibo")), logger)
        API_ERRORS.labels(channel, str(fields.get("errcode", ""))).inc()


observe(_on_event)


# The labelled children of REQUESTS and LATENCY by (route, outcome); both are few.
_series: dict[tuple[str, str], tuple[Any, Any]] = {}


@web.middleware
async def measure(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count and time every request: route is the matched path pattern; outcome the
    webhook's (replied, late, rejected_403 ...) or the HTTP status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        webhook = request.get(WEBHOOK)  # the outcome bot.channels.base logged, if a webhook
        outcome = str(webhook.fields.get("outcome", status)) if webhook else str(status)
        series = _series.get((route, outcome))
        if series is None:  # labels() costs a lock and a tuple each call: look it up once
            series = _series[route, outcome] = (
                REQUESTS.labels(route, outcome),
                LATENCY.labels(route, outcome),
            )
        series[0].inc()
        series[1].observe(time.perf_counter() - started)


def watch_engine(engine: AsyncEngine) -> None:
    """Count the engine's database errors (once per engine)."""
    if getattr(engine.sync_engine, "_bot_metrics", False):
        return
    engine.sync_engine._bot_metrics = True  # type: ignore[attr-defined]

    @event.listens_for(engine.sync_engine, "handle_error")
    def _count(context: Any) -> None:
        DB_ERRORS.labels("sqlalchemy", type(context.original_exception).__name__).inc()


class TimedProbe:
    """The dispatcher's probe, timed, its failures counted as database errors."""

    def __init__(self, probe: Any) -> None:
        self._probe = probe

    async def needs_transaction(self, *args: Any) -> bool:
        started = time.perf_counter()
        try:
            result: bool = await self._probe.needs_transaction(*args)
        except Exception as exc:
            DB_ERRORS.labels("probe", type(exc).__name__).inc()
            raise
        PROBE.observe(time.perf_counter() - started)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._probe, name)


_outbox_seen: set[str] = set()


async def _outbox_states(bot: BotContext) -> None:
    try:
        async with bot.sessions() as session:
            counts = await asyncio.wait_for(outbox_counts(session), 2)
    except Exception:  # counted by watch_engine; the rest of the page still answers
        return
    _outbox_seen.update(counts)
    for state in _outbox_seen:  # a state no row is in any more reads 0, not its last value
        OUTBOX.labels(state).set(counts.get(state, 0))


def metrics_app(bot: BotContext, token: str) -> web.Application:
    """The /metrics application (its own port)."""

    async def page(request: web.Request) -> web.Response:
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=401, text="unauthorized")
        await _outbox_states(bot)
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", page)
    return app


async def start_metrics(bot: BotContext, host: str, port: int, token: str) -> web.AppRunner:
    """Serve /metrics on ``host:port``; the caller cleans the runner up."""
    runner = web.AppRunner(metrics_app(bot, token), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
