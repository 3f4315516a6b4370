"""Export jobs of the console: a file written in the background while the page shows its
progress (polled as JSON), then downloaded once ready.

Jobs live in the memory of the process that started them (the status and the file are asked
of the same process: behind a proxy with several web processes, keep sessions sticky or give
the console one process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.sheets import Sheet, write_sheets

log = logging.getLogger("bot.console")
# A finished file is kept this long, then deleted with its job.
KEEP_SECONDS = 3600


@dataclass
class ExportJob:
    """One export: who asked, how far it is, where the file goes."""

    id: str
    owner: int
    path: Path
    filename: str
    total: int = 0
    done: int = 0
    ready: bool = False
    failed: bool = False
    started: float = field(default_factory=time.monotonic)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more rows done."""
        self.done += n


Rows = Callable[[ExportJob], Awaitable[list[Sheet]]]
# Writes the job's file at ``job.path`` itself (a report: workbook, document or PDF).
Writer = Callable[[ExportJob], Awaitable[None]]


class Exports:
    """The running and finished export jobs of this process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.jobs: dict[str, ExportJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, owner: int, fmt: str, stem: str, build: Rows) -> ExportJob:
        """Start building sheets with ``build`` and writing them as ``fmt``; returns the job."""

        async def write(job: ExportJob) -> None:
            sheets = await build(job)
            await asyncio.to_thread(write_sheets, job.path, fmt, sheets)

        return self.start_file(owner, fmt, stem, write)

    def start_file(self, owner: int, fmt: str, stem: str, write: Writer) -> ExportJob:
        """Start ``write`` producing the job's ``.fmt`` file; returns the job."""
        self._expire()
        self.folder.mkdir(parents=True, exist_ok=True)
        job_id = secrets.token_urlsafe(16)
        job = ExportJob(
            id=job_id,
            owner=owner,
            path=self.folder / f"{job_id}.{fmt}",
            filename=f"{stem}.{fmt}",
        )
        self.jobs[job_id] = job
        task = asyncio.create_task(self._run(job, write))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: ExportJob, write: Writer) -> None:
        try:
            await write(job)
            job.done = job.total
            job.ready = True
        except Exception:
            job.failed = True
            log.exception("console export failed")

    def get(self, job_id: str, owner: int) -> ExportJob | None:
        """The job, if it exists and belongs to ``owner`` (nobody downloads another's file)."""
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def _expire(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            if now - job.started > KEEP_SECONDS:
                job.path.unlink(missing_ok=True)
                del self.jobs[job_id]

    async def close(self) -> None:
        """Stop running jobs and delete every file."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in self.jobs.values():
            job.path.unlink(missing_ok=True)
        self.jobs.clear()
