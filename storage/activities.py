"""Volunteer activities, enrolments, check-in and the hours they credit.

Places are taken in SQL, never counted in Python: ``enrolled`` is incremented by a conditional
UPDATE (``... WHERE enrolled < capacity``) inside the same SAVEPOINT as the enrolment insert,
so concurrent 参加 from any number of processes can never overfill an activity, and an insert
refused by UNIQUE(activity, volunteer) gives its place back. Check-in and check-out are
conditional UPDATEs (``... WHERE checked_in_at IS NULL``), and the hours ledger's
UNIQUE(volunteer, activity) makes crediting happen once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypedDict, Unpack

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.kernel.clock import as_utc
from storage.db import added
from storage.models import Base, BigId
from storage.volunteers import HoursEntry, Volunteer, add_hours


class ActivityStatus(StrEnum):
    """An activity is on until an operator cancels it."""

    ACTIVE = "active"
    CANCELLED = "cancelled"


ACTIVE, CANCELLED = ActivityStatus.ACTIVE, ActivityStatus.CANCELLED
# Check-in codes people type from a poster: no 0/O or 1/I to confuse.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTHS = (4, 8)


class Activity(Base):
    """An offline activity volunteers enrol in and check in to; ``id`` is its public number."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_status_starts_at", "status", "starts_at"),
        Index("ix_activities_code", "code"),
        # The counter is kept by conditional UPDATEs; the check is the last line of defence.
        CheckConstraint("enrolled >= 0 AND enrolled <= capacity", name="enrolled_within_capacity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(100))
    # '' : open to volunteers of every city.
    city: Mapped[str] = mapped_column(String(32), default="")
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    capacity: Mapped[int] = mapped_column(Integer)
    enrolled: Mapped[int] = mapped_column(Integer, default=0)
    # Stored upper case; volunteers' codes are folded before comparing.
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE.value)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class Enrolment(Base):
    """One volunteer's place in one activity; kept (anonymous) after the volunteer's 注销."""

    __tablename__ = "activity_enrolments"
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id"),
        Index("ix_activity_enrolments_volunteer_id", "volunteer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigId, ForeignKey("activities.id"))
    volunteer_id: Mapped[int] = mapped_column(BigId, ForeignKey("volunteers.id"))
    enrolled_at: Mapped[datetime]
    checked_in_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    # When the volunteer was told the activity was cancelled (message or notice).
    told_at: Mapped[datetime | None]


def new_code() -> str:
    """A random six-character check-in code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def fold_code(text: str) -> str:
    """The stored form of a code typed by anyone: upper case, no spaces."""
    return "".join(text.split()).upper()


def valid_code(code: str) -> bool:
    """4-8 ASCII letters or digits."""
    low, high = CODE_LENGTHS
    return low <= len(code) <= high and code.isascii() and code.isalnum()


async def add_activity(session: AsyncSession, activity: Activity) -> Activity:
    """Store a new activity (times aware UTC): active, nobody enrolled, its code folded."""
    activity.code = fold_code(activity.code)
    activity.enrolled = 0
    activity.status = ACTIVE
    return await added(session, activity)


async def get_activity(
    session: AsyncSession, activity_id: int, *, for_update: bool = False
) -> Activity | None:
    """Activity ``activity_id``, if it exists (locked for the transaction with ``for_update``)."""
    return await session.get(Activity, activity_id, with_for_update=for_update or None)


async def code_in_use(session: AsyncSession, code: str, now: datetime) -> Activity | None:
    """An active, not yet ended activity already using ``code`` (codes must tell them apart)."""
    result = await session.execute(
        select(Activity).where(
            Activity.code == fold_code(code), Activity.status == ACTIVE, Activity.ends_at > now
        )
    )
    return result.scalars().first()


async def upcoming(
    session: AsyncSession, now: datetime, city: str | None, limit: int
) -> list[Activity]:
    """Active activities not yet started, soonest first; ``city`` adds the all-city ones."""
    query = select(Activity).where(Activity.status == ACTIVE, Activity.starts_at > now)
    if city is not None:
        query = query.where(Activity.city.in_((city, "")))
    query = query.order_by(Activity.starts_at, Activity.id).limit(limit)
    return list((await session.execute(query)).scalars())


async def with_checked_in(
    session: AsyncSession, now: datetime, include_all: bool
) -> list[tuple[Activity, int]]:
    """Activities (by default only active ones not yet ended) with their checked-in counts."""
    checked = (
        select(Enrolment.activity_id, func.count(Enrolment.id).label("n"))
        .where(Enrolment.checked_in_at.is_not(None))
        .group_by(Enrolment.activity_id)
        .subquery()
    )
    query = select(Activity, func.coalesce(checked.c.n, 0)).outerjoin(
        checked, checked.c.activity_id == Activity.id
    )
    if not include_all:
        query = query.where(Activity.status == ACTIVE, Activity.ends_at > now)
    query = query.order_by(Activity.starts_at, Activity.id)
    return [(a, int(n)) for a, n in (await session.execute(query)).all()]


async def enrolment_of(
    session: AsyncSession, activity_id: int, volunteer_id: int
) -> Enrolment | None:
    """The volunteer's enrolment in the activity, if any."""
    result = await session.execute(
        select(Enrolment).where(
            Enrolment.activity_id == activity_id, Enrolment.volunteer_id == volunteer_id
        )
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class Enrolled:
    """What 参加 did: ``ok``, ``cancelled``, ``started``, ``already`` or ``full``."""

    status: str
    places_left: int = 0


async def enrol(
    session: AsyncSession, activity: Activity, volunteer_id: int, now: datetime
) -> Enrolled:
    """Take one place for the volunteer, unless full, started, cancelled or already taken."""
    if activity.status != ACTIVE:
        return Enrolled("cancelled")
    if as_utc(activity.starts_at) <= now:
        return Enrolled("started")
    if await enrolment_of(session, activity.id, volunteer_id) is not None:
        return Enrolled("already")
    try:
        async with session.begin_nested():
            taken: Any = await session.execute(
                update(Activity)
                .where(
                    Activity.id == activity.id,
                    Activity.status == ACTIVE,
                    Activity.enrolled < Activity.capacity,
                )
                .values(enrolled=Activity.enrolled + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                return Enrolled("full")
            session.add(
                Enrolment(activity_id=activity.id, volunteer_id=volunteer_id, enrolled_at=now)
            )
            await session.flush()
    except IntegrityError:
        # The same volunteer's other message enrolled meanwhile; the savepoint gave the place back.
        return Enrolled("already")
    left = await session.scalar(
        select(Activity.capacity - Activity.enrolled).where(Activity.id == activity.id)
    )
    return Enrolled("ok", int(left or 0))


async def withdraw(session: AsyncSession, activity: Activity, volunteer_id: int) -> bool:
    """Give the volunteer's place back; False when they were not enrolled."""
    gone: Any = await session.execute(
        delete(Enrolment).where(
            Enrolment.activity_id == activity.id, Enrolment.volunteer_id == volunteer_id
        )
    )
    if gone.rowcount != 1:
        return False
    await session.execute(
        update(Activity)
        .where(Activity.id == activity.id, Activity.enrolled > 0)
        .values(enrolled=Activity.enrolled - 1)
        .execution_options(synchronize_session=False)
    )
    return True


async def withdraw_upcoming(session: AsyncSession, volunteer_id: int, now: datetime) -> int:
    """Free the volunteer's places in active activities not yet started (on 注销); returns
    how many. Enrolments of started or past activities stay, anonymous, with their hours."""
    result = await session.execute(
        select(Activity)
        .join(Enrolment, Enrolment.activity_id == Activity.id)
        .where(
            Enrolment.volunteer_id == volunteer_id,
            Enrolment.checked_in_at.is_(None),
            Activity.status == ACTIVE,
            Activity.starts_at > now,
        )
    )
    freed = 0
    for activity in result.scalars().all():
        freed += await withdraw(session, activity, volunteer_id)
    return freed


async def enrolments_of(
    session: AsyncSession, volunteer_id: int, *, code: str | None = None, limit: int = 50
) -> list[tuple[Enrolment, Activity]]:
    """The volunteer's enrolments (only those of activities with ``code``), latest start first."""
    query = (
        select(Enrolment, Activity)
        .join(Activity, Activity.id == Enrolment.activity_id)
        .where(Enrolment.volunteer_id == volunteer_id)
    )
    if code is not None:
        query = query.where(Activity.code == fold_code(code))
    query = query.order_by(Activity.starts_at.desc(), Activity.id.desc()).limit(limit)
    return [(e, a) for e, a in (await session.execute(query)).all()]


async def any_with_code(session: AsyncSession, code: str) -> Activity | None:
    """The latest activity using ``code``, enrolled or not."""
    result = await session.execute(
        select(Activity)
        .where(Activity.code == fold_code(code))
        .order_by(Activity.starts_at.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def stamp(session: AsyncSession, enrolment: Enrolment, column: str, now: datetime) -> bool:
    """Set ``checked_in_at`` or ``checked_out_at`` once; False when it was already set."""
    field = getattr(Enrolment, column)
    result: Any = await session.execute(
        update(Enrolment)
        .where(Enrolment.id == enrolment.id, field.is_(None))
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    setattr(enrolment, column, now)
    return True


async def credit(
    session: AsyncSession,
    volunteer_id: int,
    activity: Activity,
    reason: str,
    actor: str,
    now: datetime,
) -> bool:
    """Credit the activity's hours to the volunteer once; False when already credited."""
    try:
        async with session.begin_nested():
            await add_hours(
                session, volunteer_id, activity.hours, reason, actor, now, activity_id=activity.id
            )
    except IntegrityError:
        return False
    return True


async def cancel(
    session: AsyncSession, activity_id: int, reason: str, now: datetime
) -> Activity | None:
    """Mark an active activity cancelled; None when there is no such active activity."""
    result: Any = await session.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.status == ACTIVE)
        .values(status=CANCELLED, cancel_reason=reason, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return await session.get(Activity, activity_id, populate_existing=True)


async def mark_told(session: AsyncSession, enrolment_id: int, now: datetime) -> None:
    """Record that the enrolled volunteer was told of the cancellation."""
    await session.execute(update(Enrolment).where(Enrolment.id == enrolment_id).values(told_at=now))


async def roster(session: AsyncSession, activity_id: int) -> list[tuple[Enrolment, Volunteer]]:
    """The activity's enrolments with their volunteers, in enrolment order."""
    result = await session.execute(
        select(Enrolment, Volunteer)
        .join(Volunteer, Volunteer.id == Enrolment.volunteer_id)
        .where(Enrolment.activity_id == activity_id)
        .order_by(Enrolment.enrolled_at, Enrolment.id)
    )
    return [(e, v) for e, v in result.all()]


@dataclass(frozen=True)
class LedgerRow:
    """One hours-ledger row with what an export shows next to it."""

    entry: HoursEntry
    name_enc: str
    city: str
    activity_title: str
    channel: str


class LedgerSelection(TypedDict, total=False):
    """Which hours-ledger rows (the export operation passes its keywords through): one city's
    (None: every city), those with ``since`` <= at < ``until`` (None: unbounded)."""

    city: str | None
    since: datetime | None
    until: datetime | None


async def ledger(session: AsyncSession, **selection: Unpack[LedgerSelection]) -> list[LedgerRow]:
    """Hours-ledger rows of the selection, oldest first."""
    query = (
        select(HoursEntry, Volunteer.name_enc, Volunteer.city, Activity.title, Volunteer.channel)
        .join(Volunteer, Volunteer.id == HoursEntry.volunteer_id)
        .outerjoin(Activity, Activity.id == HoursEntry.activity_id)
    )
    if city := selection.get("city"):
        query = query.where(Volunteer.city == city)
    if (since := selection.get("since")) is not None:
        query = query.where(HoursEntry.at >= since)
    if (until := selection.get("until")) is not None:
        query = query.where(HoursEntry.at < until)
    query = query.order_by(HoursEntry.at, HoursEntry.id)
    rows = (await session.execute(query)).all()
    return [LedgerRow(e, n, c, t or "", ch) for e, n, c, t, ch in rows]


@dataclass(frozen=True)
class Star:
    """A volunteer's hours credited in one month (for 志愿之星)."""

    volunteer_id: int
    name_enc: str
    city: str
    hours: Decimal


async def monthly_hours(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    city: str | None = None,
    limit: int | None = None,
) -> list[Star]:
    """Volunteers by hours credited in [since, until), most first; erased ones never appear."""
    total = func.sum(HoursEntry.hours)
    query = (
        select(Volunteer.id, Volunteer.name_enc, Volunteer.city, total)
        .join(Volunteer, Volunteer.id == HoursEntry.volunteer_id)
        .where(HoursEntry.at >= since, HoursEntry.at < until, Volunteer.name_enc != "")
        .group_by(Volunteer.id, Volunteer.name_enc, Volunteer.city)
        .having(total > 0)
        .order_by(total.desc(), Volunteer.id)
    )
    if city:
        query = query.where(Volunteer.city == city)
    if limit is not None:
        query = query.limit(limit)
    return [Star(i, n, c, Decimal(str(h))) for i, n, c, h in (await session.execute(query)).all()]


async def update_activity(
    session: AsyncSession,
    activity_id: int,
    *,
    title: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
) -> Activity | None:
    """Change an active activity's details; None when it is not active or the capacity would
    fall below the places already taken (checked in the same statement, so no race)."""
    result: Any = await session.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.status == ACTIVE, Activity.enrolled <= capacity)
        .values(title=title, place=place, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return await session.get(Activity, activity_id, populate_existing=True)
