"""Telling an author the review outcome: a customer-service message inside the 48 h window,
otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clients.base import ApiError, OutsideWindow
from bot.clock import as_utc
from bot.context import BotContext
from bot.message import Channel, Reply
from handlers.logo_phases import ContestState, contest_state, format_date
from storage.logo import LogoEntry
from storage.models import InboundMessage, Notice

WINDOW = timedelta(hours=48)


def outcome_text(bot: BotContext, entry: LogoEntry, state: ContestState) -> str:
    """The author's message for an approved or rejected entry; an approval says when the
    entry can be voted for."""
    if entry.status != "approved":
        return bot.texts(
            "logo.rejected", title=entry.title, number=entry.id, reason=entry.reason or ""
        )
    voting = state.upcoming("voting")
    if state.voting_open:
        when = bot.texts("logo.approved_voting", number=entry.id)
    elif voting is not None:
        start = format_date(bot.texts, voting.starts, state.now)
        when = bot.texts("logo.approved_later", number=entry.id, start=start)
    else:
        when = bot.texts("logo.approved_other")
    return bot.texts("logo.approved", title=entry.title, number=entry.id, voting=when)


async def tell_author(bot: BotContext, session: AsyncSession, entry: LogoEntry) -> str:
    """Deliver the outcome; returns 'sent' or 'notice' (the caller commits the session)."""
    state = await contest_state(session, bot.config.logo, bot.clock.now())
    text = outcome_text(bot, entry, state)
    last = await session.scalar(
        select(func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == entry.channel,
            InboundMessage.account == entry.account,
            InboundMessage.user_id == entry.user_id,
        )
    )
    now = bot.clock.now()
    if last is not None and now - as_utc(last) < WINDOW:
        try:
            await bot.client(Channel(entry.channel)).send_reply(entry.user_id, Reply.of_text(text))
            return "sent"
        except (OutsideWindow, ApiError, KeyError):
            pass  # fall back to a notice: the author still hears at their next message
    session.add(
        Notice(
            channel=entry.channel,
            account=entry.account,
            user_id=entry.user_id,
            text=text,
            created_at=now,
        )
    )
    return "notice"
