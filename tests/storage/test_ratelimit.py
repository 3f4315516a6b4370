"""The per-user rate limit shared by web processes through the database (issue 15, part 11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.kernel.message import Reply
from bot.middlewares import RateLimit
from storage.db import create_engine, create_sessions
from storage.ratelimit import (
    RateCounter,
    SharedRateLimiter,
    WindowCounter,
    purge_rate_counters,
)

LIMIT = 10
NOW = 1_800_000_000.0  # a minute boundary plus 0 s: the previous minute counts in full


@pytest.fixture
async def two_workers(db_url: str) -> AsyncIterator[tuple[SharedRateLimiter, SharedRateLimiter]]:
    """Two limiters with engines of their own, as two processes would have; the tests sync
    them at their fake times (the background sync would use the real time)."""
    engines = [create_engine(db_url), create_engine(db_url)]
    limiters = [SharedRateLimiter(create_sessions(e), LIMIT, interval=3600) for e in engines]
    yield limiters[0], limiters[1]
    for limiter in limiters:
        await limiter.close()
    for engine in engines:
        await engine.dispose()


async def test_the_limit_holds_across_two_workers(
    two_workers: tuple[SharedRateLimiter, SharedRateLimiter],
) -> None:
    a, b = two_workers
    allowed = 0
    for i in range(3 * LIMIT):
        worker, other = (a, b) if i % 2 == 0 else (b, a)
        allowed += worker.allow("wechat:o1", NOW + i)
        # More than an interval between messages: both processes have synced since.
        await worker.sync(NOW + i)
        await other.sync(NOW + i)
    assert allowed == LIMIT
    # Per process, the same traffic gets twice as far.
    local = [RateLimit(LIMIT, lambda: Reply.of_text("")) for _ in range(2)]
    admitted = sum(local[i % 2].allow("wechat:o1", f"k{i}", NOW + i) for i in range(3 * LIMIT))
    assert admitted == 2 * LIMIT
    # Other users are not affected, and a minute later the user may go on.
    assert a.allow("wechat:o2", NOW + 31)
    assert b.allow("wechat:o1", NOW + 150)


async def test_hits_a_sync_is_writing_still_count(
    two_workers: tuple[SharedRateLimiter, SharedRateLimiter],
) -> None:
    """Regression: while a sync wrote this process's hits, they were neither pending nor
    known, so a busy user's next messages passed (seen on a loaded machine)."""
    a, _ = two_workers
    assert all(a.allow("wechat:o1", NOW + i) for i in range(LIMIT))
    writing = asyncio.create_task(a.sync(NOW + LIMIT))
    await asyncio.sleep(0)  # the sync has taken the hits and waits for the database
    assert not writing.done()
    assert not a.allow("wechat:o1", NOW + LIMIT)
    await writing
    assert not a.allow("wechat:o1", NOW + LIMIT + 1)


async def test_a_burst_faster_than_the_sync_is_bounded(
    two_workers: tuple[SharedRateLimiter, SharedRateLimiter],
) -> None:
    a, b = two_workers
    burst = sum(w.allow("weibo:5001", NOW) for _ in range(LIMIT * 2) for w in (a, b))
    assert burst == 2 * LIMIT  # each admitted up to the limit before they could know
    await a.sync(NOW)
    await b.sync(NOW)
    assert not a.allow("weibo:5001", NOW + 1) and not b.allow("weibo:5001", NOW + 1)
    async with a.sessions() as session:
        total = await session.scalar(select(func.sum(RateCounter.hits)))
    assert total == 2 * LIMIT


async def test_counts_are_purged_and_a_dead_database_limits_per_process(
    two_workers: tuple[SharedRateLimiter, SharedRateLimiter],
) -> None:
    a, _ = two_workers
    assert a.allow("wechat:o3", NOW - 600)
    await a.sync(NOW - 600)
    async with a.sessions() as session, session.begin():
        assert await purge_rate_counters(session, NOW) == 1
    dead = SharedRateLimiter(
        create_sessions(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")),
        LIMIT,
        interval=0.01,
    )
    assert sum(dead.allow("wechat:o4", NOW) for _ in range(LIMIT + 5)) == LIMIT
    await dead.sync(NOW)  # fails quietly, keeps the hits
    assert dead.sync_failures >= 1 and not dead.allow("wechat:o4", NOW + 1)
    await dead.close()


async def test_window_counts_are_exact_across_processes_at_once(db_url: str) -> None:
    """A WindowCounter (the console's login throttle): events from two processes at the same
    moment are each told their exact place in the window; given back, aged out, purged."""
    engines = [create_engine(db_url), create_engine(db_url)]
    try:
        counters = [WindowCounter(create_sessions(e), "login-ip", 15) for e in engines]
        told = await asyncio.gather(*(counters[i % 2].add("198.51.100.7", NOW) for i in range(24)))
        assert sorted(told) == list(range(1, 25))
        a, b = counters
        await b.add("198.51.100.7", NOW, -1)
        assert await a.count("198.51.100.7", NOW + 60) == (23, NOW + 15 * 60)
        assert (await a.count("198.51.100.7", NOW + 15 * 60))[0] == 0  # out of the window
        async with a.sessions() as session, session.begin():
            assert await purge_rate_counters(session, NOW + 3600) == 0  # windows last a day
            assert await purge_rate_counters(session, NOW + 2 * 86400) == 1
    finally:
        for engine in engines:
            await engine.dispose()
