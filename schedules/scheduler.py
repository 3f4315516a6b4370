"""The scheduler process: APScheduler ticks, a database lease elects the one active scheduler.

The database is the source of truth: posts and the outbox live in tables, and APScheduler's
jobs only call module-level functions that reload everything from storage. So its job store
can stay in memory: a restart rebuilds the two jobs from config and loses nothing, and two
processes can never share (and corrupt) one APScheduler job store, which its FAQ forbids.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.context import BotContext
from bot.logs import log_event
from schedules.outbox import RunReport, run_due
from storage import leases as lease

log = logging.getLogger("bot.schedules")

LEASE_NAME = "campaign-scheduler"
EXTRA_KEY = "scheduler"


class CampaignScheduler:
    """Holds the lease while running; only the holder delivers."""

    def __init__(self, bot: BotContext, owner: str | None = None) -> None:
        self.bot = bot
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._aps: AsyncIOScheduler | None = None

    async def renew(self) -> bool:
        """Take or keep the lease; logs changes of leadership."""
        cfg = self.bot.config.schedules
        won = await lease.acquire(
            self.bot.sessions, LEASE_NAME, self.owner, self.bot.clock.now(), cfg.lease_seconds
        )
        if won != self.is_leader:
            log_event(log, "scheduler_leader" if won else "scheduler_waiting", owner=self.owner)
        self.is_leader = won
        return won

    async def tick(self) -> RunReport | None:
        """One scheduler beat: renew the lease, then deliver what is due if we lead."""
        if not await self.renew():
            return None
        report = await run_due(self.bot)
        if report.created or report.sent or report.failed or report.reconciled:
            log_event(
                log,
                "outbox_pass",
                created=report.created,
                sent=report.sent,
                retried=report.retried,
                failed=report.failed,
                missed=report.missed,
                reconciled=report.reconciled,
            )
        return report

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

    async def stop(self) -> None:
        """Stop ticking and hand the lease over at once."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        _RUNNING.pop(id(self), None)
        if self.is_leader:
            await lease.release(self.bot.sessions, LEASE_NAME, self.owner, self.bot.clock.now())
            self.is_leader = False


_RUNNING: dict[int, CampaignScheduler] = {}


async def scheduler_tick(ref: int) -> None:
    """APScheduler's job: one module-level function that finds its scheduler by id."""
    sched = _RUNNING.get(ref)
    if sched is None:
        return
    try:
        await sched.tick()
    except Exception:
        # Errors of a pass are logged and the next tick tries again; rows stay consistent.
        log.exception("scheduler pass failed")
