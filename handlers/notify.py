"""Telling a user something outside a reply: a customer-service (active) message inside the
platform's 48 h window, otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import ClientError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.clients import ApiError, OutsideWindow
from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from bot.kernel.message import Channel, Reply
from storage.models import InboundMessage, Notice

WINDOW = timedelta(hours=48)


async def last_message_at(
    session: AsyncSession, channel: str, account: str, user_id: str
) -> datetime | None:
    """When the user last wrote to the account (the platforms' reply windows start there)."""
    last = await session.scalar(
        select(func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == channel,
            InboundMessage.account == account,
            InboundMessage.user_id == user_id,
        )
    )
    return None if last is None else as_utc(last)


async def _in_window(
    bot: BotContext, session: AsyncSession, channel: str, account: str, user_id: str
) -> bool:
    """Whether the user's last message is recent enough for an active message."""
    last = await last_message_at(session, channel, account, user_id)
    return last is not None and bot.clock.now() - last < WINDOW


async def _send(bot: BotContext, channel: str, user_id: str, text: str) -> bool:
    try:
        await bot.client(Channel(channel)).send_reply(user_id, Reply.of_text(text))
    except (OutsideWindow, ApiError, KeyError, ClientError, TimeoutError):
        return False  # fall back to a notice: the user still hears at their next message
    return True


def _notice(
    bot: BotContext, session: AsyncSession, channel: str, account: str, user_id: str, text: str
) -> None:
    now = bot.clock.now()
    session.add(
        Notice(channel=channel, account=account, user_id=user_id, text=text, created_at=now)
    )


async def tell(
    bot: BotContext, session: AsyncSession, channel: str, account: str, user_id: str, text: str
) -> str:
    """Deliver ``text``; returns 'sent' or 'notice' (the caller commits the session)."""
    if await _in_window(bot, session, channel, account, user_id) and await _send(
        bot, channel, user_id, text
    ):
        return "sent"
    _notice(bot, session, channel, account, user_id, text)
    return "notice"


async def tell_then(
    bot: BotContext,
    channel: str,
    account: str,
    user_id: str,
    text: str,
    record: Callable[[AsyncSession], Awaitable[None]],
) -> str:
    """Like ``tell``, but sending with no transaction open (a SQLite write transaction would
    hold up every webhook while the platform answers); the notice, if any, and ``record``
    commit together afterwards. Returns 'sent' or 'notice'."""
    async with bot.sessions() as session:
        sent = await _in_window(bot, session, channel, account, user_id)
    sent = sent and await _send(bot, channel, user_id, text)
    async with bot.sessions() as session, session.begin():
        if not sent:
            _notice(bot, session, channel, account, user_id, text)
        await record(session)
    return "sent" if sent else "notice"
