"""The scheduler process: APScheduler ticks, a database lease elects the one active scheduler.

The database is the source of truth: posts and the outbox live in tables, and APScheduler's
jobs only call module-level functions that reload everything from storage. So its job store
can stay in memory: a restart rebuilds the two jobs from config and loses nothing, and two
processes can never share (and corrupt) one APScheduler job store, which its FAQ forbids.

What a tick does is the features' ``leader`` jobs (``handlers.feature.PeriodicJob``), in
registry order: the app passes them in, so this module names no feature.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.periodic import STOP_WAIT_SECONDS, stop_task
from storage import leases as lease

log = logging.getLogger("bot.schedules")

LEASE_NAME = "campaign-scheduler"
EXTRA_KEY = "scheduler"


class LeaderJob(Protocol):
    """What the scheduler needs of a job: a name and ``run(bot) -> count``."""

    @property
    def name(self) -> str: ...

    @property
    def run(self) -> Callable[[BotContext], Awaitable[int]]: ...


class CampaignScheduler:
    """Holds the lease while running; only the holder delivers."""

    def __init__(
        self, bot: BotContext, owner: str | None = None, jobs: Sequence[LeaderJob] = ()
    ) -> None:
        self.bot = bot
        self.jobs = list(jobs)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._aps: AsyncIOScheduler | None = None
        self._ticking: asyncio.Task[object] | None = None

    async def renew(self) -> bool:
        """Take or keep the lease; logs changes of leadership."""
        cfg = self.bot.config.schedules
        won = await lease.acquire(
            self.bot.sessions,
            LEASE_NAME,
            self.owner,
            self.bot.clock.now(),
            cfg.lease_seconds,
        )
        if won != self.is_leader:
            log_event(log, "scheduler_leader" if won else "scheduler_waiting", owner=self.owner)
        self.is_leader = won
        return won

    async def tick(self) -> dict[str, int] | None:
        """One scheduler beat: renew the lease, then run every job if we lead; returns what
        each job did, by name (None: another process leads)."""
        if not await self.renew():
            return None
        done: dict[str, int] = {}
        for job in self.jobs:
            try:
                done[job.name] = await job.run(self.bot)
            except Exception:
                # One job's failure must not starve the others; the next tick tries again.
                log.exception("scheduler job %s failed", job.name)
        return done

    def start(self) -> None:
        """Start APScheduler's ticking job on the running event loop."""
        cfg = self.bot.config.schedules
        # APScheduler logs every run at INFO; our own events say what a pass did.
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
        aps = AsyncIOScheduler(
            timezone=ZoneInfo(cfg.timezone),
            job_defaults={
                "coalesce": cfg.coalesce,
                "misfire_grace_time": cfg.misfire_grace_seconds,
                "max_instances": 1,
            },
        )
        self.bot.extras[EXTRA_KEY] = self
        interval = max(1, min(cfg.poll_seconds, cfg.lease_seconds // 3))
        aps.add_job(
            scheduler_tick, "interval", seconds=interval, id="campaign-tick", args=[id(self)]
        )
        _RUNNING[id(self)] = self
        aps.start()
        self._aps = aps

    async def stop(self, grace: float = STOP_WAIT_SECONDS) -> None:
        """Stop ticking, let a pass in flight finish (up to ``grace`` seconds) and hand the
        lease over at once."""
        _RUNNING.pop(id(self), None)  # a tick starting now does nothing
        if self._ticking is not None:
            # APScheduler's shutdown would cancel it, maybe inside a transaction (see
            # bot.kernel.periodic), or between a post's send and its record.
            await stop_task(self._ticking, grace)
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self.is_leader:
            await lease.release(self.bot.sessions, LEASE_NAME, self.owner, self.bot.clock.now())
            self.is_leader = False


_RUNNING: dict[int, CampaignScheduler] = {}


async def scheduler_tick(ref: int) -> None:
    """APScheduler's job: one module-level function that finds its scheduler by id."""
    sched = _RUNNING.get(ref)
    if sched is None:
        return
    sched._ticking = asyncio.current_task()
    try:
        await sched.tick()
    except Exception:
        # Errors of a pass are logged and the next tick tries again; rows stay consistent.
        log.exception("scheduler pass failed")
    finally:
        sched._ticking = None
