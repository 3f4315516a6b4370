"""Pending notices (texts waiting for a user's next message) and the last-message time that
decides whether an active message is still allowed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboundMessage, Notice


async def last_message_at(
    session: AsyncSession, channel: str, account: str, user_id: str
) -> datetime | None:
    """When the user last sent the account anything (None: never, or purged from the log)."""
    last: datetime | None = await session.scalar(
        select(func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == channel,
            InboundMessage.account == account,
            InboundMessage.user_id == user_id,
        )
    )
    return last


def add_notice(
    session: AsyncSession, channel: str, account: str, user_id: str, text: str, now: datetime
) -> None:
    """Queue ``text`` for the user's next message (committed with the session)."""
    session.add(
        Notice(channel=channel, account=account, user_id=user_id, text=text, created_at=now)
    )
