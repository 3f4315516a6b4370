"""Logo contest tables (entries, votes) and the queries that keep every vote counted once.

Per-day limits live in unique keys, not in memory: a vote takes a free ``slot`` 1..N for
(channel, user, day) and a free ``entry_slot`` 1..M for (entry, channel, user, day). Two
concurrent votes that pick the same slot collide on the constraint; the loser tries the next
slot inside a SAVEPOINT, so no read-modify-write race can exceed a limit in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId

STATUSES = ("pending", "approved", "rejected")


class LogoEntry(Base):
    """One submitted design; its ``id`` is the public entry number."""

    __tablename__ = "logo_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text, default="")
    image_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]


class LogoVote(Base):
    """One counted vote; ``voided`` votes stay for the record but no longer count."""

    __tablename__ = "logo_votes"
    __table_args__ = (
        UniqueConstraint("channel", "user_id", "vote_date", "slot"),
        UniqueConstraint("entry_id", "channel", "user_id", "vote_date", "entry_slot"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("logo_entries.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    vote_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[int] = mapped_column(Integer)
    entry_slot: Mapped[int] = mapped_column(Integer)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    void_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class VoteOutcome:
    """What happened to a vote: ``ok``, ``day_limit`` or ``entry_limit``."""

    status: str
    slot: int = 0


async def add_entry(
    session: AsyncSession,
    *,
    channel: str,
    user_id: str,
    title: str,
    account: str = "",
    now: datetime,
    statement: str = "",
    image_hash: str | None = None,
    status: str = "pending",
) -> LogoEntry:
    """Insert an entry and return it with its number."""
    entry = LogoEntry(
        channel=channel,
        account=account,
        user_id=user_id,
        title=title,
        statement=statement,
        image_hash=image_hash,
        status=status,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    return entry


async def get_entry(session: AsyncSession, entry_id: int) -> LogoEntry | None:
    """One entry by number."""
    return await session.get(LogoEntry, entry_id)


async def list_entries(session: AsyncSession, status: str | None = None) -> list[LogoEntry]:
    """Entries by number, optionally only one status."""
    q = select(LogoEntry).order_by(LogoEntry.id)
    if status:
        q = q.where(LogoEntry.status == status)
    return list((await session.scalars(q)).all())


async def review_entry(
    session: AsyncSession, entry_id: int, status: str, now: datetime, reason: str | None = None
) -> LogoEntry | None:
    """Approve or reject an entry; None when there is no such entry."""
    entry = await session.get(LogoEntry, entry_id)
    if entry is None:
        return None
    entry.status, entry.reason, entry.reviewed_at = status, reason, now
    await session.flush()
    return entry


async def cast_vote(
    session: AsyncSession,
    *,
    entry_id: int,
    channel: str,
    user_id: str,
    day: date,
    now: datetime,
    per_day: int,
    per_entry: int,
) -> VoteOutcome:
    """Record one vote if a day slot and an entry slot are free (constraints decide races)."""
    # A second pass re-reads after losing every race, so the answer names the right limit.
    for _attempt in range(2):
        used = (
            await session.execute(
                select(LogoVote.slot, LogoVote.entry_id, LogoVote.entry_slot).where(
                    LogoVote.channel == channel,
                    LogoVote.user_id == user_id,
                    LogoVote.vote_date == day,
                )
            )
        ).all()
        free_slots = [s for s in range(1, per_day + 1) if s not in {r.slot for r in used}]
        taken_entry = {r.entry_slot for r in used if r.entry_id == entry_id}
        free_entry = [s for s in range(1, per_entry + 1) if s not in taken_entry]
        if not free_slots:
            return VoteOutcome("day_limit")
        if not free_entry:
            return VoteOutcome("entry_limit")
        for slot in free_slots:
            for entry_slot in free_entry:
                if await _try_insert(
                    session,
                    LogoVote(
                        entry_id=entry_id,
                        channel=channel,
                        user_id=user_id,
                        vote_date=day,
                        slot=slot,
                        entry_slot=entry_slot,
                        created_at=now,
                    ),
                ):
                    return VoteOutcome("ok", slot)
    return VoteOutcome("day_limit")


async def _try_insert(session: AsyncSession, vote: LogoVote) -> bool:
    """Insert inside a SAVEPOINT; False when a unique key says the slot is taken."""
    try:
        async with session.begin_nested():
            session.add(vote)
    except IntegrityError:
        return False
    return True


async def votes_of(
    session: AsyncSession, channel: str, user_id: str, day: date
) -> list[tuple[int, str]]:
    """(entry number, title) of the user's votes that day, in order."""
    rows = await session.execute(
        select(LogoEntry.id, LogoEntry.title)
        .join(LogoVote, LogoVote.entry_id == LogoEntry.id)
        .where(LogoVote.channel == channel, LogoVote.user_id == user_id, LogoVote.vote_date == day)
        .order_by(LogoVote.slot)
    )
    return [(r[0], r[1]) for r in rows]


async def ranking(session: AsyncSession) -> list[tuple[int, str, int]]:
    """(entry number, title, counted votes) of approved entries, most votes first."""
    counted = func.count(LogoVote.id).filter(LogoVote.voided.is_(False))
    rows = await session.execute(
        select(LogoEntry.id, LogoEntry.title, counted)
        .outerjoin(LogoVote, LogoVote.entry_id == LogoEntry.id)
        .where(LogoEntry.status == "approved")
        .group_by(LogoEntry.id, LogoEntry.title)
        .order_by(counted.desc(), LogoEntry.id)
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def votes_per_day(session: AsyncSession) -> list[tuple[date, int]]:
    """(day, counted votes) for every day with votes."""
    rows = await session.execute(
        select(LogoVote.vote_date, func.count(LogoVote.id))
        .where(LogoVote.voided.is_(False))
        .group_by(LogoVote.vote_date)
        .order_by(LogoVote.vote_date)
    )
    return [(r[0], int(r[1])) for r in rows]


async def void_votes(
    session: AsyncSession, *, entry_id: int, reason: str, user_id: str | None = None
) -> int:
    """Void an entry's counted votes (optionally one user's); returns how many."""
    q = update(LogoVote).where(LogoVote.entry_id == entry_id, LogoVote.voided.is_(False))
    if user_id:
        q = q.where(LogoVote.user_id == user_id)
    result = await session.execute(q.values(voided=True, void_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)  # CursorResult of an UPDATE
