"""The one place that decides which routers exist and in which order they are asked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.message import Reply
from handlers import (
    activities,
    basics,
    logo,
    logo_submit,
    logo_withdraw,
    pushes,
    stars,
    stories,
    volunteers,
)
from handlers.context import Ctx
from handlers.conversation import ConversationEngine, Flow
from handlers.keywords import KeywordIndex, build_router
from handlers.router import Router


@dataclass
class Handlers:
    routers: list[Router]
    engine: ConversationEngine
    keywords: KeywordIndex


@dataclass(frozen=True)
class Switchable:
    """A feature a campaign pack may switch off: its flows and routers."""

    flows: Sequence[Flow]
    routers: Sequence[Router]


# By the names of handlers.campaign.FEATURES.
SWITCHABLE: dict[str, Switchable] = {
    "volunteers": Switchable(
        [volunteers.SIGNUP, volunteers.EDIT, volunteers.ERASE], [volunteers.router]
    ),
    "activities": Switchable([], [activities.router]),
    "stars": Switchable([], [stars.router]),
    "logo": Switchable(
        [logo_submit.SUBMIT, logo_withdraw.WITHDRAW], [logo.router, logo_withdraw.router]
    ),
    "stories": Switchable([stories.SUBMIT, stories.DELETE], [stories.router]),
}


def switched_off_clicks(off: Iterable[str]) -> dict[str, str]:
    """Menu click keys answered by a feature in ``off``, with the feature's name (a menu button
    with one of them would only say "not part of this campaign")."""
    keys: dict[str, str] = {}
    for feature in off:
        unit = SWITCHABLE[feature]
        filters = [flow.entry for flow in unit.flows]
        filters += [route.filter for r in unit.routers for route in r.routes]
        for flt in filters:
            keys.update(dict.fromkeys(flt.clicks(), feature))
    return keys


def off_router(feature: str) -> Router:
    """Routes answering every entry of a switched-off feature with the campaign's polite
    "not part of this campaign" (content ``features.off.<feature>``), so its keywords
    neither start a flow nor fall through to the menu as if misunderstood."""
    router = Router(f"{feature}.off")
    unit = SWITCHABLE[feature]
    filters = [flow.entry for flow in unit.flows]
    filters += [route.filter for r in unit.routers for route in r.routes]

    async def not_in_this_campaign(ctx: Ctx) -> Reply | None:
        return ctx.reply(f"features.off.{feature}")

    for flt in filters:
        router.add(flt, not_in_this_campaign, f"{feature}.off", pure=True)
    return router


def build_handlers(flow_timeout_seconds: int = 1800, off: Iterable[str] = ()) -> Handlers:
    """Routers in order: flow entries, events, feature commands, keywords, media fallback.

    A feature in ``off`` (switched off by the campaign pack) has no flows; in its routers'
    place one router answers its flow entries and commands with the pack's "not part of this
    campaign" text (a QR scene of its flow meets the welcome first)."""
    off = set(off)
    unknown = off - SWITCHABLE.keys()
    if unknown:
        raise ValueError(f"unknown features: {sorted(unknown)}")

    def running(feature: str) -> list[Router]:
        return [off_router(feature)] if feature in off else list(SWITCHABLE[feature].routers)

    flows: list[Flow] = [
        flow for name, unit in SWITCHABLE.items() if name not in off for flow in unit.flows
    ]
    engine = ConversationEngine(flows, flow_timeout_seconds)
    keywords = KeywordIndex()
    routers: list[Router] = [
        # Flow entries first: a QR scene that starts a flow beats the generic welcome.
        engine.router(),
        basics.router,
        pushes.router,
        *running("volunteers"),
        *running("activities"),
        *running("stars"),
        *running("logo"),
        *running("stories"),
        build_router(keywords),
        basics.media_router,
    ]
    return Handlers(routers=routers, engine=engine, keywords=keywords)
