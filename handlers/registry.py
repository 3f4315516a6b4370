"""The one place that decides which routers exist and in which order they are asked."""

from __future__ import annotations

from dataclasses import dataclass

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
from handlers.conversation import ConversationEngine, Flow
from handlers.faq import routes as faq
from handlers.keywords import KeywordIndex, build_router
from handlers.router import Router


@dataclass
class Handlers:
    routers: list[Router]
    engine: ConversationEngine
    keywords: KeywordIndex


def build_handlers(flow_timeout_seconds: int = 1800) -> Handlers:
    """Routers in order: flow entries, events, feature commands, keywords, FAQ, media fallback."""
    flows: list[Flow] = [
        volunteers.SIGNUP,
        volunteers.EDIT,
        volunteers.ERASE,
        logo_submit.SUBMIT,
        logo_withdraw.WITHDRAW,
        stories.SUBMIT,
        stories.DELETE,
    ]
    engine = ConversationEngine(flows, flow_timeout_seconds)
    keywords = KeywordIndex()
    routers: list[Router] = [
        # Flow entries first: a QR scene that starts a flow beats the generic welcome.
        engine.router(),
        basics.router,
        pushes.router,
        volunteers.router,
        activities.router,
        stars.router,
        logo.router,
        logo_withdraw.router,
        stories.router,
        build_router(keywords),
        # Free text no keyword answers: the watchlist, then the FAQ (the old fallback's place).
        faq.router,
        basics.media_router,
    ]
    return Handlers(routers=routers, engine=engine, keywords=keywords)
