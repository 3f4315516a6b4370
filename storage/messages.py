"""The inbound message log's upkeep: retention and the cached replies kept for retries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.message import UserKey
from storage.models import InboundMessage


async def purge_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete message-log rows received before ``cutoff``; returns how many."""
    result = await session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def drop_cached_replies(session: AsyncSession, since: datetime, before: datetime) -> None:
    """Forget the cached replies of messages received in [since, before)."""
    await session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.received_at < before,
            InboundMessage.received_at >= since,
            InboundMessage.reply.is_not(None),
        )
        .values(reply=None)
    )


async def recent_texts(
    session: AsyncSession, key: UserKey, limit: int
) -> list[tuple[datetime, str]]:
    """The user's last ``limit`` logged texts (redacted as logged), oldest first."""
    rows = await session.execute(
        select(InboundMessage.received_at, InboundMessage.text)
        .where(InboundMessage.of_user(key), InboundMessage.text.is_not(None))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(limit)
    )
    return [(at, text or "") for at, text in rows][::-1]
