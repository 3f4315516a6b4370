"""Console export jobs as rows, so every web process can report a job's progress and serve
its file: the process that started a job writes its progress here; any process reads it.

The file itself is under the bot's data folder (shared by the processes of one host), named by
the job's random id; the row says who may download it and until when it is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId

RUNNING, READY, FAILED = "running", "ready", "failed"


class ExportRow(Base):
    """One export: whose, which file, how far, in which state."""

    __tablename__ = "console_exports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[int] = mapped_column(BigId, index=True)
    # The file's name under the exports folder ("<id>.<fmt>") and the name it downloads as.
    file: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(128))
    # Whether the file holds personal data (names, phones, contacts): kept a shorter time.
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(8), default=RUNNING)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    # Moves with every progress write: a running job not heard of for long died with its process.
    updated_at: Mapped[datetime] = mapped_column(index=True)

    @property
    def ready(self) -> bool:
        """Whether the file can be downloaded."""
        return self.state == READY

    @property
    def failed(self) -> bool:
        """Whether the job ended without a file."""
        return self.state == FAILED


async def add_export(session: AsyncSession, row: ExportRow) -> None:
    """Record a new (running) job."""
    session.add(row)
    await session.flush()


async def get_export(session: AsyncSession, job_id: str, owner: int) -> ExportRow | None:
    """The job if it exists and belongs to ``owner`` (nobody reads another's export)."""
    row = await session.get(ExportRow, job_id)
    return row if row is not None and row.owner == owner else None


async def set_progress(
    session: AsyncSession, job_id: str, now: datetime, *, done: int, total: int, state: str
) -> None:
    """The job's progress (and final state) as its process knows it."""
    await session.execute(
        update(ExportRow)
        .where(ExportRow.id == job_id)
        .values(done=done, total=total, state=state, updated_at=now)
    )


async def expired_exports(
    session: AsyncSession, personal_before: datetime, other_before: datetime
) -> list[ExportRow]:
    """Jobs past their keeping time: personal ones started before ``personal_before``, the
    others before ``other_before``."""
    rows = await session.execute(
        select(ExportRow).where(
            (ExportRow.personal.is_(True) & (ExportRow.started_at < personal_before))
            | (ExportRow.started_at < other_before)
        )
    )
    return list(rows.scalars())


async def drop_exports(session: AsyncSession, job_ids: list[str]) -> None:
    """Forget these jobs (their files are deleted by the caller)."""
    if job_ids:
        await session.execute(delete(ExportRow).where(ExportRow.id.in_(job_ids)))


async def fail_stale(session: AsyncSession, before: datetime, now: datetime) -> None:
    """Running jobs whose process stopped writing progress before ``before`` have failed."""
    await session.execute(
        update(ExportRow)
        .where(ExportRow.state == RUNNING, ExportRow.updated_at < before)
        .values(state=FAILED, updated_at=now)
    )
