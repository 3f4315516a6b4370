"""Volunteers and their service-hours ledger.

Personal fields (name, phone, guardian) are stored encrypted; ``phone_index`` is the cipher's
blind index, so one phone can register once without storing it in clear. Hours rows keep the
volunteer id after 注销, while the volunteer row loses its personal fields: totals stay
countable but no longer name anyone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.kernel.message import UserKey
from storage.db import Prebuilt, added
from storage.models import Base, BigId, PersonRow


class Volunteer(PersonRow, Base):
    """One registered volunteer of one channel identity."""

    __tablename__ = "volunteers"
    __table_args__ = (
        UniqueConstraint("channel", "account", "user_id"),
        UniqueConstraint("phone_index"),
        Index("ix_volunteers_city", "city"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_index: Mapped[str] = mapped_column(String(128))
    city: Mapped[str] = mapped_column(String(32))
    # Optional district / county within the city (free text), '' when skipped.
    district: Mapped[str] = mapped_column(String(32), default="", server_default="")
    birth_year: Mapped[int] = mapped_column(Integer)
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON of guardian name/phone/consent, encrypted; None for volunteers 14 and over.
    guardian_enc: Mapped[str | None] = mapped_column(Text)
    skills: Mapped[str] = mapped_column(Text, default="")
    # When the volunteer can serve: chosen labels joined by commas, like ``skills``.
    availability: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


_VOLUNTEERS: Table = Volunteer.__table__  # type: ignore[assignment]
# The sign-up's last step: built once (see storage.db.Prebuilt); ON CONFLICT DO NOTHING
# instead of a SAVEPOINT around an ORM add and its flush.
_REGISTER = Prebuilt(
    lambda insert: insert(_VOLUNTEERS).on_conflict_do_nothing().returning(_VOLUNTEERS.c.id)
)


async def register(session: AsyncSession, columns: dict[str, Any]) -> int | None:
    """Insert a volunteer row (every column given); its id, or None when the user or the
    phone is registered already (a unique key: another message got there first). The
    message's transaction goes on either way."""
    return await _REGISTER.scalar(session, columns)


class HoursEntry(Base):
    """One change of a volunteer's service hours; rows are never updated or deleted.

    ``activity_id`` is set on hours credited for an activity: the unique key on (volunteer,
    activity) makes crediting exactly once, whatever retries or races. Operators' adjustments
    leave it NULL, and NULLs never collide in a unique key (SQLite and PostgreSQL alike), so a
    volunteer may have any number of them.
    """

    __tablename__ = "volunteer_hours"
    __table_args__ = (
        Index("ix_volunteer_hours_volunteer_id", "volunteer_id"),
        Index("ix_volunteer_hours_at", "at"),
        UniqueConstraint("volunteer_id", "activity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(BigId)
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    activity_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("activities.id"))


async def find_by_user(session: AsyncSession, key: UserKey) -> Volunteer | None:
    """The volunteer registered by this channel identity, if any."""
    result = await session.execute(
        select(Volunteer).where(
            Volunteer.channel == key.channel.value,
            Volunteer.account == key.account,
            Volunteer.user_id == key.user,
        )
    )
    return result.scalar_one_or_none()


async def phone_taken(
    session: AsyncSession, phone_index: str, except_id: int | None = None
) -> bool:
    """Whether another volunteer (not ``except_id``) registered this phone (by blind index)."""
    query = select(Volunteer.id).where(Volunteer.phone_index == phone_index)
    if except_id is not None:
        query = query.where(Volunteer.id != except_id)
    return (await session.execute(query)).first() is not None


async def get_volunteer(
    session: AsyncSession, volunteer_id: int, *, for_update: bool = False
) -> Volunteer | None:
    """Volunteer ``volunteer_id`` (erased ones too), locked for the transaction if asked."""
    return await session.get(Volunteer, volunteer_id, with_for_update=for_update or None)


async def registered(session: AsyncSession, city: str | None = None) -> list[Volunteer]:
    """Volunteers who have not erased their data, by id; only ``city``'s when given."""
    query = select(Volunteer).where(Volunteer.name_enc != "").order_by(Volunteer.id)
    if city:
        query = query.where(Volunteer.city == city)
    return list((await session.scalars(query)).all())


async def add_hours(
    session: AsyncSession,
    volunteer_id: int,
    hours: Decimal,
    reason: str,
    actor: str,
    at: datetime,
    activity_id: int | None = None,
) -> HoursEntry:
    """Record a change of hours in the ledger (IntegrityError: that activity was credited)."""
    return await added(
        session,
        HoursEntry(
            volunteer_id=volunteer_id,
            hours=hours,
            reason=reason,
            actor=actor,
            at=at,
            activity_id=activity_id,
        ),
    )


async def total_hours(session: AsyncSession, volunteer_id: int) -> Decimal:
    """The sum of the volunteer's ledger."""
    result = await session.execute(
        select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
            HoursEntry.volunteer_id == volunteer_id
        )
    )
    return Decimal(str(result.scalar_one()))


async def erase(session: AsyncSession, volunteer: Volunteer, now: datetime) -> None:
    """注销: wipe the personal fields and the identity, keep the row (and so its hours).

    The row stays as an anonymous holder of the ledger: city and skills are kept for
    statistics; name, phone, guardian, birth year and the platform user id are gone, so the
    person may register again as someone new. The caller records the deletion in the audit log.
    """
    volunteer.name_enc = ""
    volunteer.phone_enc = ""
    volunteer.phone_index = f"erased:{volunteer.id}"
    volunteer.user_id = f"erased:{volunteer.id}"
    volunteer.guardian_enc = None
    volunteer.birth_year = 0
    volunteer.updated_at = now
    await session.flush()


async def search_volunteers(
    session: AsyncSession,
    *,
    city: str = "",
    district: str = "",
    skill: str = "",
    availability: str = "",
    minor: bool | None = None,
    phone_index: str = "",
    offset: int = 0,
    limit: int | None = 50,
) -> list[Volunteer]:
    """Registered volunteers (not erased) matching every filter given, by number."""
    query = select(Volunteer).where(Volunteer.name_enc != "").order_by(Volunteer.id)
    if city:
        query = query.where(Volunteer.city == city)
    if district:
        query = query.where(Volunteer.district.contains(district, autoescape=True))
    if skill:
        query = query.where(Volunteer.skills.contains(skill, autoescape=True))
    if availability:
        query = query.where(Volunteer.availability.contains(availability, autoescape=True))
    if minor is not None:
        query = query.where(Volunteer.minor.is_(minor))
    if phone_index:
        query = query.where(Volunteer.phone_index == phone_index)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def ledger_of(session: AsyncSession, volunteer_id: int) -> list[HoursEntry]:
    """One volunteer's hours ledger, newest first."""
    rows = await session.scalars(
        select(HoursEntry)
        .where(HoursEntry.volunteer_id == volunteer_id)
        .order_by(HoursEntry.at.desc(), HoursEntry.id.desc())
    )
    return list(rows)
