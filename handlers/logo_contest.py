"""The logo contest (网络公益标识征集) as one feature: submissions, review, the public vote,
withdrawals and the gallery page. Its parts live in ``handlers/logo*.py``; this module only
declares them."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.kernel.context import BotContext
from handlers import logo, logo_submit, logo_withdraw
from handlers.feature import ConsolePage, Feature, MediaFolder, content_file
from handlers.logo_phases import LOGO, logo_media_path
from storage.db import transaction
from storage.logo import image_paths, purge_vote_rates

# The vote-rate counters are needed for one minute; an hour leaves room for clock skew.
VOTE_RATE_KEEP = timedelta(hours=1)


async def purge_old_vote_rates(bot: BotContext, now: datetime) -> int:
    """Forget vote-rate counters older than an hour; returns how many rows went."""
    async with transaction(bot.sessions) as session:
        return await purge_vote_rates(session, now - VOTE_RATE_KEEP)


FEATURE = Feature(
    name="logo",
    routers=[logo.router, logo_withdraw.router],
    flows=[logo_submit.SUBMIT, logo_withdraw.WITHDRAW],
    cli=["bot.cli.logos:register", "bot.cli.votes:register"],
    console=[
        ConsolePage.section("logo"),
    ],
    web=["bot.gallery:gallery_routes"],
    config=LOGO,
    content=[content_file("logo"), content_file("gallery")],
    media=[MediaFolder("logo", logo_media_path, image_paths)],
    purges=[purge_old_vote_rates],
    audit_actions=[
        "logo.approve",
        "logo.reject",
        "logo.phase_set",
        "logo.phase_clear",
        "logo.withdraw",
        "votes.void",
    ],
    report=["storage.reports.logo:section"],
)
