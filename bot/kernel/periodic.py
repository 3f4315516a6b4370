"""Background work repeated on the event loop, stopped without cutting a run short.

A task cancelled while it awaits a database statement leaves the connection to be torn down
under a live statement: with SQLite the closed connection can keep the write lock until the
garbage collector finds the cursor, and every other writer (the message log, the next
process) waits on it. So stopping only interrupts the sleep between runs; a run in flight is
awaited, and cancelled only when it outlasts the stop's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("bot.periodic")

# How long a stopping process waits for the features' work in flight (Feature.on_stop), and
# for background runs in flight; the supervisor's grace time (bot.cli.workers.GRACE_SECONDS,
# 10 s) bounds the whole shutdown.
STOP_WAIT_SECONDS = 5.0


class Periodic:
    """Runs ``work`` every ``interval`` seconds (the first run after ``first_delay``) until
    ``stop``. An exception from a run is logged and the next run comes as planned."""

    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        interval: float,
        *,
        name: str,
        first_delay: float | None = None,
    ) -> None:
        self.work = work
        self.interval = interval
        self.name = name
        self.first_delay = interval if first_delay is None else first_delay
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        delay = self.first_delay
        while not await self._stopped_within(delay):
            try:
                await self.work()
            except Exception:
                log.exception("%s failed", self.name)
            delay = self.interval

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def stop(self, grace: float) -> None:
        """No more runs; wait up to ``grace`` seconds for the one in flight."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        await stop_task(task, grace)


async def stop_task(task: asyncio.Task[Any], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``task``, then cancel it (the last resort: a run
    that does not finish must not hold the process's shutdown)."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("background work %r cut short at shutdown", task.get_name())
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
