"""Background work stops between runs, never inside one (bot.kernel.periodic)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bot.kernel.context import BotContext
from bot.kernel.periodic import Periodic
from schedules.scheduler import CampaignScheduler, scheduler_tick
from storage import leases
from storage.db import transaction


async def test_stop_waits_for_the_run_in_flight() -> None:
    started, finished = asyncio.Event(), []

    async def work() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(True)

    periodic = Periodic(work, 60, name="t", first_delay=0)
    periodic.start()
    await started.wait()
    await periodic.stop(5)
    assert finished == [True]


async def test_stop_between_runs_is_immediate_and_runs_no_more() -> None:
    runs: list[int] = []
    ran = asyncio.Event()

    async def work() -> None:
        runs.append(1)
        ran.set()

    periodic = Periodic(work, 60, name="t", first_delay=0)
    periodic.start()
    await ran.wait()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await periodic.stop(5)
    assert loop.time() - began < 1 and runs == [1]


async def test_a_run_past_the_grace_is_cut_short(caplog: pytest.LogCaptureFixture) -> None:
    started, cancelled = asyncio.Event(), []

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    periodic = Periodic(work, 60, name="slow", first_delay=0)
    periodic.start()
    await started.wait()
    await periodic.stop(0.1)
    assert cancelled == [True]
    assert "'slow' cut short at shutdown" in caplog.text


async def test_a_failing_run_is_logged_and_the_next_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    again = asyncio.Event()

    async def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        again.set()

    periodic = Periodic(work, 0.01, name="flaky", first_delay=0)
    periodic.start()
    await again.wait()
    await periodic.stop(5)
    assert "flaky failed" in caplog.text and "database away" in caplog.text


async def test_scheduler_stop_lets_a_pass_in_a_transaction_finish(
    bot_context: BotContext,
) -> None:
    """APScheduler's own shutdown cancels the pass wherever it is: inside a transaction that
    left SQLite's write lock held after the process had stopped."""
    inside, finished = asyncio.Event(), []

    class SlowJob:
        name = "slow"

        @staticmethod
        async def run(bot: BotContext) -> int:
            async with transaction(bot.sessions) as session:
                await session.execute(text("SELECT 1"))
                inside.set()
                await asyncio.sleep(0.3)
            finished.append(True)
            return 1

    sched = CampaignScheduler(bot_context, owner="x", jobs=[SlowJob()])
    sched.start()
    tick = asyncio.create_task(scheduler_tick(id(sched)))  # as APScheduler runs it
    await inside.wait()
    await sched.stop()
    assert finished == [True] and tick.done() and not tick.cancelled()
    # The lease was handed over after the pass: the database was free for it.
    now = bot_context.clock.now()
    assert await leases.holder(bot_context.sessions, "campaign-scheduler", now) is None
