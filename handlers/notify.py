"""Telling a user something outside a reply: a customer-service (active) message inside the
platform's 48 h window, otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import ClientError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clients.base import ApiError, OutsideWindow
from bot.clock import as_utc
from bot.context import BotContext
from bot.message import Channel, Reply
from storage.models import InboundMessage, Notice

WINDOW = timedelta(hours=48)


async def tell(
    bot: BotContext, session: AsyncSession, channel: str, account: str, user_id: str, text: str
) -> str:
    """Deliver ``text``; returns 'sent' or 'notice' (the caller commits the session)."""
    last = await session.scalar(
        select(func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == channel,
            InboundMessage.account == account,
            InboundMessage.user_id == user_id,
        )
    )
    now = bot.clock.now()
    if last is not None and now - as_utc(last) < WINDOW:
        try:
            await bot.client(Channel(channel)).send_reply(user_id, Reply.of_text(text))
            return "sent"
        except (OutsideWindow, ApiError, KeyError, ClientError, TimeoutError):
            pass  # fall back to a notice: the user still hears at their next message
    session.add(
        Notice(channel=channel, account=account, user_id=user_id, text=text, created_at=now)
    )
    return "notice"
