"""Export jobs of the console: a file written in the background while the page shows its
progress (polled as JSON), then downloaded once ready.

A job is a row (``storage.exports``) and a file under ``data/exports``: the process that
started the job builds the file and writes its progress to the row every ``FLUSH_SECONDS``;
any web process (``serve --workers N``) answers the progress poll and serves the finished
file from the row. Files are created 0600 (only the bot's user reads them) and deleted with
their row after ``[console] export_keep_minutes`` (personal data: names, phones, contacts) or
``report_keep_minutes`` (aggregate reports). A job whose process died stops being written to
and is reported failed after ``STALE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.kernel.context import BotContext
from bot.kernel.privacy import private_dir
from bot.sheets import Sheet, write_sheets
from handlers.operators import CONSOLE
from storage import exports as store
from storage.db import transaction
from storage.exports import FAILED, READY, RUNNING, ExportRow

log = logging.getLogger("bot.console")
# How often a running job's progress reaches the database (and so other processes).
FLUSH_SECONDS = 0.5
# A running job not written for this long died with its process.
STALE_SECONDS = 120


@dataclass
class ExportJob:
    """A job as its builder sees it: where the file goes and how far it is."""

    id: str
    path: Path
    total: int = 0
    done: int = 0

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more rows done."""
        self.done += n


Rows = Callable[[ExportJob], Awaitable[list[Sheet]]]
# Writes the job's file at ``job.path`` itself (a report: workbook, document or PDF).
Writer = Callable[[ExportJob], Awaitable[None]]


def _private(path: Path) -> None:
    """Readable by the bot's user only (the file may hold personal data)."""
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)


class Exports:
    """Starts jobs in this process; reads any process's jobs from the database."""

    def __init__(self, bot: BotContext, folder: Path) -> None:
        self.bot = bot
        self.folder = folder
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, owner: int, fmt: str, stem: str, build: Rows, *, personal: bool) -> str:
        """Start building sheets with ``build`` and writing them as ``fmt``; returns the job's
        id."""

        async def write(job: ExportJob) -> None:
            sheets = await build(job)
            await asyncio.to_thread(write_sheets, job.path, fmt, sheets)

        return await self.start_file(owner, fmt, stem, write, personal=personal)

    async def start_file(
        self, owner: int, fmt: str, stem: str, write: Writer, *, personal: bool
    ) -> str:
        """Start ``write`` producing the job's ``.fmt`` file; returns the job's id."""
        await self.expire()
        await asyncio.to_thread(private_dir, self.folder)
        job = ExportJob(secrets.token_urlsafe(16), Path())
        job.path = self.folder / f"{job.id}.{fmt}"
        now = self.bot.clock.now()
        async with transaction(self.bot.sessions) as session:
            await store.add_export(
                session,
                ExportRow(
                    id=job.id,
                    owner=owner,
                    file=job.path.name,
                    filename=f"{stem}.{fmt}",
                    personal=personal,
                    state=RUNNING,
                    total=0,
                    done=0,
                    started_at=now,
                    updated_at=now,
                ),
            )
        task = asyncio.create_task(self._run(job, write))
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return job.id

    async def _flush(self, job: ExportJob, state: str = RUNNING) -> None:
        async with transaction(self.bot.sessions) as session:
            await store.set_progress(
                session,
                job.id,
                self.bot.clock.now(),
                done=job.done,
                total=job.total,
                state=state,
            )

    async def _report(self, job: ExportJob) -> None:
        """Write the job's progress while it runs (other processes answer the poll)."""
        seen = (-1, -1)
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if (job.done, job.total) != seen:
                seen = (job.done, job.total)
                await self._flush(job)

    async def _run(self, job: ExportJob, write: Writer) -> None:
        reporter = asyncio.create_task(self._report(job))
        state = FAILED
        try:
            await asyncio.to_thread(_private, job.path)
            await write(job)
            await asyncio.to_thread(os.chmod, job.path, 0o600)
            job.done = job.total
            state = READY
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("console export failed")
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            if state == FAILED:
                job.path.unlink(missing_ok=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flush(job, state))

    async def get(self, job_id: str, owner: int) -> ExportRow | None:
        """The job, if it exists, belongs to ``owner`` and is still kept."""
        now = self.bot.clock.now()
        async with transaction(self.bot.sessions) as session:
            await store.fail_stale(session, now - timedelta(seconds=STALE_SECONDS), now)
            return await store.get_export(session, job_id, owner)

    def path(self, row: ExportRow) -> Path:
        """Where the job's file is."""
        return self.folder / row.file

    async def expire(self) -> int:
        """Delete the jobs (and files) past their keeping time; returns how many."""
        console = CONSOLE.of(self.bot.config)
        now = self.bot.clock.now()
        async with transaction(self.bot.sessions) as session:
            old = await store.expired_exports(
                session,
                now - timedelta(minutes=console.export_keep_minutes),
                now - timedelta(minutes=console.report_keep_minutes),
            )
            for row in old:
                task = self._tasks.pop(row.id, None)
                if task is not None:
                    task.cancel()
                await asyncio.to_thread(self.path(row).unlink, True)
            await store.drop_exports(session, [row.id for row in old])
        return len(old)

    async def close(self) -> None:
        """Stop this process's running jobs (they are reported failed)."""
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
