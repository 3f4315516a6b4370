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
import bisect
import hmac
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.base import WEBHOOK
from bot.kernel.context import BotContext
from bot.kernel.logs import observe
from storage.schedules import outbox_counts

REGISTRY = CollectorRegistry()
# Up to the 4.5 s reply deadline and a little past it.
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.5, 10.0)


class LoopHistogram(Collector):
    """A histogram by label values (and, optionally, a counter of the same observations),
    kept as plain numbers and handed to prometheus at scrape time, in the exposition that
    prometheus-client's Histogram and Counter give (``_bucket``, ``_count``, ``_sum``,
    ``_total``, ``_created``).

    For the series every request updates: prometheus-client takes a lock for each update (a
    counter's one, an observation's two) and finds the bucket in a Python loop, about 2.5 % of
    a keyword request's instructions (callgrind). Requests and scrapes both run on the event
    loop's thread (the metrics app serves on the same loop), so no lock is needed here.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        *,
        counter: tuple[str, str] | None = None,
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(buckets)
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        self.counter = counter  # also export the count as this counter (name, help)
        # label values -> [created, sum, one count per bucket (not cumulative), +Inf last]
        self._series: dict[tuple[str, ...], list[float]] = {}
        if not self.labelnames:  # an unlabelled histogram is exported from the start
            self._new(())
        registry.register(self)

    def _new(self, labels: tuple[str, ...]) -> list[float]:
        series = self._series[labels] = [time.time(), 0.0] + [0] * (len(self.bounds) + 1)
        return series

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """One observation of ``value`` for the series ``labels`` (values in label order)."""
        series = self._series.get(labels) or self._new(labels)
        series[1] += value
        # bisect_left: a value equal to a bound falls in that bound's bucket (le).
        series[2 + bisect.bisect_left(self.bounds, value)] += 1

    def describe(self) -> Iterator[Metric]:
        """The families without samples (the registry checks their names at registration)."""
        if self.counter:
            yield CounterMetricFamily(*self.counter, labels=self.labelnames)
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        """The families for a scrape."""
        histogram = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        total = CounterMetricFamily(*self.counter, labels=self.labelnames) if self.counter else None
        for labels, series in list(self._series.items()):
            created, value_sum, counts = series[0], series[1], series[2:]
            cumulative, buckets = 0.0, []
            for le, count in zip(self._les, counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            histogram.add_metric(list(labels), buckets, value_sum)
            named = dict(zip(self.labelnames, labels, strict=True))
            histogram.add_sample(self.name + "_created", named, created)
            if total is not None:
                total.add_metric(list(labels), cumulative, created=created)
        if total is not None:
            yield total
        yield histogram


# HTTP requests by route and outcome: bot_requests_total and bot_request_seconds.
REQUESTS = LoopHistogram(
    "bot_request_seconds",
    "Time to answer an HTTP request, by route and outcome",
    ["route", "outcome"],
    _BUCKETS,
    counter=("bot_requests", "HTTP requests by route and outcome"),
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
PROBE = LoopHistogram(
    "bot_probe_seconds",
    "The per-message flow/notice/retry probe",
    (),
    (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
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
        REQUESTS.observe((route, outcome), time.perf_counter() - started)


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
        PROBE.observe((), time.perf_counter() - started)
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
