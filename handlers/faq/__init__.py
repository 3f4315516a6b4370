"""The FAQ feature: free-text questions answered from topics with example questions, and the
watchlist that flags messages for operators. Its route sits in the keywords feature's fallback
router (the old fallback's place, see handlers/keywords.py); its operator actions are in
``operations``; the inbox it files into is the ``inbox`` feature."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from handlers import keywords
from handlers.faq.routes import build_router
from handlers.faq.service import FAQ, entry_specs
from handlers.feature import ConsolePage, Feature, content_file
from storage.db import Conflict, transaction, unique_transaction
from storage.faq import purge_choices, seed_entries

log = logging.getLogger("bot.faq")


async def seed(bot: BotContext) -> tuple[int, int, int]:
    """Make the seeded topics match the faq content file; returns (added, updated, removed)."""
    specs = entry_specs(bot.texts, keywords.seed_replies(bot.texts), bot.pack.off())
    try:
        async with unique_transaction(bot.sessions) as session:
            counts = await seed_entries(session, specs, bot.clock.now())
    except Conflict:
        return 0, 0, 0  # another worker seeded at the same moment; its topics are the same
    if any(counts):
        log_event(log, "faq_seeded", added=counts[0], updated=counts[1], removed=counts[2])
    return counts


async def start(bot: BotContext) -> None:
    """Seed the topics (the app and the CLI)."""
    await seed(bot)


async def purge_expired_choices(bot: BotContext, now: datetime) -> int:
    """Forget "您是想问" lists nobody picked from; returns how many went."""
    async with transaction(bot.sessions) as session:
        return await purge_choices(session, now)


FEATURE = Feature(
    name="faq",
    # The old fallback's place: keyword answers, then free text (watchlist, FAQ, inbox).
    fallbacks=[build_router],
    cli=["bot.cli.faq:register"],
    config=FAQ,
    content=[content_file("faq"), content_file("watchlist")],
    on_start=[start],
    purges=[purge_expired_choices],
    console=[ConsolePage.section("faq")],
    audit_actions=[
        "faq.add",
        "faq.add_question",
        "faq.remove_question",
        "faq.enable",
        "faq.disable",
        "faq.learn",
    ],
    # What the FAQ did with free text, the inbox it filed into, the watchlist's flags.
    report=["storage.reports.faq:section"],
)
