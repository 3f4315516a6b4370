"""The figures of the console's dashboard, each one query."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.clock import as_utc
from storage.inbox import InboxItem
from storage.logo import LogoVote
from storage.models import InboundMessage
from storage.schedules import FAILED, OutboxItem
from storage.volunteers import HoursEntry, Volunteer


async def message_times(session: AsyncSession, since: datetime, until: datetime) -> list[datetime]:
    """When each user message of a period arrived (events excluded), for the by-hour chart."""
    rows = await session.scalars(
        select(InboundMessage.received_at).where(
            InboundMessage.received_at >= as_utc(since),
            InboundMessage.received_at < as_utc(until),
            InboundMessage.kind != "event",
        )
    )
    return list(rows)


async def volunteers_by_city(session: AsyncSession) -> list[tuple[str, int]]:
    """(city, volunteers), most first."""
    rows = await session.execute(
        select(Volunteer.city, func.count(Volunteer.id))
        .group_by(Volunteer.city)
        .order_by(func.count(Volunteer.id).desc(), Volunteer.city)
    )
    return [(str(city), int(n)) for city, n in rows]


async def hours_between(session: AsyncSession, since: datetime, until: datetime) -> Decimal:
    """Service hours recorded in a period (adjustments included)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
            HoursEntry.at >= as_utc(since), HoursEntry.at < as_utc(until)
        )
    )
    return Decimal(total or 0)


async def counted_votes(session: AsyncSession) -> int:
    """Logo votes that count (not voided)."""
    n = await session.scalar(
        select(func.count()).select_from(LogoVote).where(LogoVote.voided.is_(False))
    )
    return int(n or 0)


async def failed_deliveries(session: AsyncSession, limit: int = 20) -> list[OutboxItem]:
    """Pushes that failed for good, newest first."""
    rows = await session.scalars(
        select(OutboxItem)
        .where(OutboxItem.status == FAILED)
        .order_by(OutboxItem.updated_at.desc())
        .limit(limit)
    )
    return list(rows)


async def open_inbox(session: AsyncSession) -> tuple[int, int]:
    """Open inbox items (new or assigned): questions nobody could answer, flagged messages."""
    rows = await session.execute(
        select(InboxItem.reason, func.count())
        .where(InboxItem.status.in_(("new", "assigned")))
        .group_by(InboxItem.reason)
    )
    counts = {reason: int(n) for reason, n in rows}
    return counts.get("unanswered", 0), counts.get("flagged", 0)
