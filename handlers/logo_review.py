"""Telling an author the review outcome: a customer-service message inside the 48 h window,
otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import BotContext
from handlers.notify import tell
from storage.logo import LogoEntry


def outcome_text(bot: BotContext, entry: LogoEntry) -> str:
    """The author's message for an approved or rejected entry."""
    if entry.status == "approved":
        return bot.texts("logo.approved", title=entry.title, number=entry.id)
    return bot.texts("logo.rejected", title=entry.title, number=entry.id, reason=entry.reason or "")


async def tell_author(bot: BotContext, session: AsyncSession, entry: LogoEntry) -> str:
    """Deliver the outcome; returns 'sent' or 'notice' (the caller commits the session)."""
    text = outcome_text(bot, entry)
    return await tell(bot, session, entry.channel, entry.account, entry.user_id, text)
