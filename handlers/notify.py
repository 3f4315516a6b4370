"""Telling a user something outside a reply: a customer-service (active) message inside the
platform's 48 h window, otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import ClientError

from bot.kernel.clients import ApiError, OutsideWindow
from bot.kernel.context import BotContext
from bot.kernel.message import Reply, UserKey
from storage.db import Session, transaction
from storage.notices import add_notice, last_message_at

WINDOW = timedelta(hours=48)


async def _in_window(bot: BotContext, session: Session, key: UserKey) -> bool:
    """Whether the user's last message is recent enough for an active message."""
    last = await last_message_at(session, key)
    return last is not None and bot.clock.now() - last < WINDOW


async def _send(bot: BotContext, key: UserKey, text: str) -> bool:
    try:
        await bot.client(key.channel).send_reply(key.user, Reply.of_text(text))
    except (OutsideWindow, ApiError, KeyError, ClientError, TimeoutError):
        return False  # fall back to a notice: the user still hears at their next message
    return True


async def tell(bot: BotContext, session: Session, key: UserKey, text: str) -> str:
    """Deliver ``text``; returns 'sent' or 'notice' (the caller commits the session)."""
    if await _in_window(bot, session, key) and await _send(bot, key, text):
        return "sent"
    add_notice(session, key, text, bot.clock.now())
    return "notice"


async def tell_then(
    bot: BotContext, key: UserKey, text: str, record: Callable[[Session], Awaitable[None]]
) -> str:
    """Like ``tell``, but sending with no transaction open (a SQLite write transaction would
    hold up every webhook while the platform answers); the notice, if any, and ``record``
    commit together afterwards. Returns 'sent' or 'notice'."""
    async with bot.sessions() as session:
        sent = await _in_window(bot, session, key)
    sent = sent and await _send(bot, key, text)
    async with transaction(bot.sessions) as session:
        if not sent:
            add_notice(session, key, text, bot.clock.now())
        await record(session)
    return "sent" if sent else "notice"
