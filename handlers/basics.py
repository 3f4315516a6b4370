"""Follow / unfollow / scan events and the answer to media nobody else claims."""

from __future__ import annotations

from bot.kernel.message import Event, Kind, Reply
from handlers.context import Ctx
from handlers.feature import Feature, content_file
from handlers.keywords import fallback
from handlers.router import IsKind, OnEvent, Router

router = Router("basics")


@router.on(OnEvent(Event.SUBSCRIBE))
async def welcome(ctx: Ctx) -> Reply | None:
    """Greet a new follower."""
    return ctx.reply("common.welcome")


@router.on(OnEvent(Event.SCAN))
async def welcome_back(ctx: Ctx) -> Reply | None:
    """A follower scanned one of our QR codes again."""
    return ctx.reply("common.welcome_back")


@router.on(OnEvent(Event.UNSUBSCRIBE, Event.LOCATION, Event.VIEW, Event.OTHER))
async def stay_silent(ctx: Ctx) -> Reply | None:
    """Events that need no answer (an unfollowed user cannot even receive one)."""
    return None


# Asked after every feature router, so flows and commands see media first.
media_router = Router("media")


@media_router.on(
    IsKind(Kind.IMAGE, Kind.VIDEO, Kind.SHORTVIDEO, Kind.LOCATION, Kind.LINK), pure=True
)
async def thank_for_media(ctx: Ctx) -> Reply | None:
    """Media outside any flow: thank the sender and say where it can go."""
    return await fallback(ctx)


FEATURE = Feature(
    name="basics",
    routers=[router],
    fallbacks=[media_router],
    content=[content_file("common")],
    # The message log: every message any feature answered.
    report=["storage.reports.messages:section", "storage.reports.questions:section"],
)
