"""Telling an author the review outcome: a customer-service message inside the 48 h window,
otherwise a notice the dispatcher puts in front of their next reply."""

from __future__ import annotations

from bot.kernel.context import BotContext
from handlers.logo_phases import LOGO, ContestState, contest_state, format_date
from handlers.notify import tell
from storage.db import Session
from storage.logo import EntryStatus, LogoEntry


def outcome_text(
    bot: BotContext,
    entry: LogoEntry,
    state: ContestState,
    *,
    status: str | None = None,
    reason: str | None = None,
) -> str:
    """The author's message for an approved or rejected entry; an approval says when the
    entry can be voted for. ``status`` and ``reason``: the outcome about to be recorded
    (default: the entry's own)."""
    if (status or entry.status) != EntryStatus.APPROVED:
        reason = reason if status else entry.reason
        return bot.texts("logo.rejected", title=entry.title, number=entry.id, reason=reason or "")
    voting = state.upcoming("voting")
    if state.voting_open:
        when = bot.texts("logo.approved_voting", number=entry.id)
    elif voting is not None:
        start = format_date(bot.texts, voting.starts, state.now)
        when = bot.texts("logo.approved_later", number=entry.id, start=start)
    else:
        when = bot.texts("logo.approved_other")
    return bot.texts("logo.approved", title=entry.title, number=entry.id, voting=when)


async def tell_author(bot: BotContext, session: Session, entry: LogoEntry) -> str:
    """Deliver the outcome; returns 'sent' or 'notice' (the caller commits the session)."""
    state = await contest_state(session, LOGO.of(bot.config), bot.clock.now())
    text = outcome_text(bot, entry, state)
    return await tell(bot, session, entry.user_key, text)
