"""Prometheus /metrics on its own port (issue 15, part 12)."""

from __future__ import annotations

import logging
import socket

import pytest
from sqlalchemy import text

from bot.kernel.logs import log_event
from bot.kernel.message import Channel
from tests.conftest import BotHarness


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _free_port()


def _value(page: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of a metrics page (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in page.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


async def _scrape(harness: BotHarness, token: str = "") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with harness.http.get(f"http://127.0.0.1:{PORT}/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


@pytest.mark.config(metrics={"port": PORT})
async def test_requests_errors_probe_and_outbox_are_exported(harness: BotHarness) -> None:
    _, before = await _scrape(harness)
    user = harness.user()
    for _ in range(3):
        assert "新时代" in await harness.say(user, "活动介绍")
    status, _ = await harness.post(user, user.text("x"), bad_signature=True)
    assert status == 403
    async with harness.http.get(harness.server.make_url("/logo")) as resp:
        assert resp.status == 200
    # An API error, a handler failure (as the dispatcher reports it), a database error.
    harness.fake.inject("/cgi-bin/menu/create", 40018)
    with pytest.raises(Exception, match="40018"):
        await harness.bot.client(Channel.WECHAT).call(  # type: ignore[attr-defined]
            "POST", "/cgi-bin/menu/create", json_body={}
        )
    log_event(logging.getLogger("bot.dispatch"), "handler_failed", handler="record_vote")
    with pytest.raises(Exception, match="no_such_table"):
        async with harness.bot.sessions() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    _, after = await _scrape(harness)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("bot_requests_total", route="/wechat", outcome="replied") == 3
    assert grew("bot_requests_total", route="/wechat", outcome="rejected_403") == 1
    assert grew("bot_requests_total", route="/logo", outcome="200") == 1
    assert grew("bot_request_seconds_count", route="/wechat", outcome="replied") == 3
    assert grew("bot_api_errors_total", channel="wechat", errcode="40018") == 1
    assert grew("bot_handler_errors_total", handler="record_vote") == 1

    def db_errors(page: str) -> float:
        return sum(
            float(line.split()[-1])
            for line in page.splitlines()
            if line.startswith("bot_database_errors_total{") and 'where="sqlalchemy"' in line
        )

    assert db_errors(after) > db_errors(before)
    assert grew("bot_probe_seconds_count") >= 3
    assert "# HELP bot_outbox Push outbox rows by state" in after
    # Never on the webhook port.
    async with harness.http.get(harness.server.make_url("/metrics")) as resp:
        assert resp.status == 404


@pytest.mark.config(metrics={"port": PORT, "token": "scrape-secret"})
async def test_a_token_guards_the_page(harness: BotHarness) -> None:
    assert (await _scrape(harness))[0] == 401
    assert (await _scrape(harness, "wrong"))[0] == 401
    status, page = await _scrape(harness, "scrape-secret")
    assert status == 200 and "bot_requests_total" in page


def test_loop_histogram_exports_what_prometheus_client_would() -> None:
    """The plain-number histogram (and its counter) give prometheus-client's own exposition:
    same families, buckets (a value on a bound counts in that bound's bucket), counts and
    sums; only the _created times differ."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from bot.metrics import LoopHistogram

    buckets = (0.002, 0.005, 0.01, 1.0, 10.0)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop = LoopHistogram(
        "x_seconds", "help", ["route", "outcome"], buckets, counter=("x", "count"), registry=ours
    )
    counter = Counter("x", "count", ["route", "outcome"], registry=theirs)
    histogram = Histogram("x_seconds", "help", ["route", "outcome"], buckets=buckets,
                          registry=theirs)  # fmt: skip
    plain = LoopHistogram("p_seconds", "probe", (), buckets, registry=ours)
    unlabelled = Histogram("p_seconds", "probe", buckets=buckets, registry=theirs)
    for labels, value in [
        (("/wechat", "replied"), 0.0011),
        (("/wechat", "replied"), 0.005),
        (("/wechat", "replied"), 0.0),
        (("/wechat", "rejected_403"), 0.03),
        (("/logo", "200"), 20.0),
    ]:
        loop.observe(labels, value)
        counter.labels(*labels).inc()
        histogram.labels(*labels).observe(value)
        plain.observe((), value)
        unlabelled.observe(value)

    def lines(registry: CollectorRegistry) -> list[str]:
        page = generate_latest(registry).decode()
        return [
            line.rsplit(" ", 1)[0] if "_created" in line and not line.startswith("#") else line
            for line in page.splitlines()
        ]

    assert lines(ours) == lines(theirs)
