"""The one list of features, in order. Everything else (app, CLI, scheduler, purge, config)
reads it: adding a feature is adding it here, nowhere else.

The order is the order routers are asked (after the flow entries; the catch-alls, keyword
answers and the reply to stray media, are ``fallbacks`` and come after every feature's
routers wherever their feature stands) and the order of the features' commands in
``python -m bot --help``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.kernel.config import ConfigCheck, ConfigSection
from bot.kernel.message import Reply
from handlers import (
    activities,
    basics,
    faq,
    followers,
    inbox,
    keywords,
    logo_contest,
    operators,
    pushes,
    reports,
    stars,
    stories,
    volunteers,
)
from handlers.context import Ctx
from handlers.conversation import ConversationEngine, Flow
from handlers.feature import Feature, MediaFolder, PeriodicJob, build_router
from handlers.router import Router

FEATURES: tuple[Feature, ...] = (
    # An operator scanning their binding QR code (我的通知) is not greeted like a follower.
    operators.FEATURE,
    # Follow and scan events first: a generic welcome unless a flow's QR scene claimed them.
    basics.FEATURE,
    keywords.FEATURE,
    faq.FEATURE,
    inbox.FEATURE,
    followers.FEATURE,
    volunteers.FEATURE,
    activities.FEATURE,
    stars.FEATURE,
    logo_contest.FEATURE,
    stories.FEATURE,
    pushes.FEATURE,
    reports.FEATURE,
)


@dataclass
class Handlers:
    routers: list[Router]
    engine: ConversationEngine


def check(features: Sequence[Feature]) -> None:
    """Refuse two features (or two flows) with one name: state and config are keyed by it."""
    for label, names in (
        ("feature", [f.name for f in features]),
        ("flow", [flow.name for f in features for flow in f.flows]),
        ("config section", [f.config.key for f in features if f.config]),
    ):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"two {label}s are called {name!r}")
            seen.add(name)


def _entries(feature: Feature) -> list[Any]:
    """The filters of everything that starts a feature: its flows' entries, its routes."""
    routers = [build_router(spec) for spec in feature.routers]
    return [flow.entry for flow in feature.flows] + [
        route.filter for router in routers for route in router.routes
    ]


def off_router(feature: Feature) -> Router:
    """Routes answering every entry of a feature the campaign pack switched off with the
    pack's polite "not part of this campaign" (content ``features.off.<name>``), so its
    keywords neither start a flow nor fall through to the menu as if misunderstood."""
    router = Router(f"{feature.name}.off")

    async def not_in_this_campaign(ctx: Ctx) -> Reply | None:
        return ctx.reply(f"features.off.{feature.name}")

    for flt in _entries(feature):
        router.add(flt, not_in_this_campaign, f"{feature.name}.off", pure=True)
    return router


def switched_off_clicks(
    off: Iterable[str], features: Sequence[Feature] = FEATURES
) -> dict[str, str]:
    """Menu click keys answered by a feature in ``off``, with the feature's name (a menu button
    with one of them would only say "not part of this campaign")."""
    off = set(off)
    return {
        key: feature.name
        for feature in features
        if feature.name in off
        for flt in _entries(feature)
        for key in flt.clicks()
    }


def build_handlers(
    flow_timeout_seconds: int = 1800,
    features: Sequence[Feature] = FEATURES,
    off: Iterable[str] = (),
) -> Handlers:
    """Routers in order: flow entries, each feature's routers, then the fallbacks.

    A feature in ``off`` (switched off by the campaign pack) has no flows; in its routers'
    place one router answers its flow entries and commands with the pack's "not part of this
    campaign" text (a QR scene of its flow meets the welcome first)."""
    check(features)
    off = set(off)
    unknown = off - {feature.name for feature in features}
    if unknown:
        raise ValueError(f"unknown features: {sorted(unknown)}")
    running = [feature for feature in features if feature.name not in off]
    flows: list[Flow] = [flow for feature in running for flow in feature.flows]
    engine = ConversationEngine(flows, flow_timeout_seconds)
    routers: list[Router] = [
        # Flow entries first: a QR scene that starts a flow beats the generic welcome.
        engine.router(),
        *(
            router
            for feature in features
            for router in (
                [off_router(feature)]
                if feature.name in off
                else [build_router(spec) for spec in feature.routers]
            )
        ),
        *(build_router(spec) for feature in running for spec in feature.fallbacks),
    ]
    return Handlers(routers=routers, engine=engine)


def config_sections(features: Sequence[Feature] = FEATURES) -> list[ConfigSection[Any]]:
    """The features' config sections, in order."""
    return [feature.config for feature in features if feature.config is not None]


def config_checks(features: Sequence[Feature] = FEATURES) -> list[ConfigCheck]:
    """The features' checks of the whole config, in order."""
    return [check for feature in features for check in feature.config_checks]


def media_folders(features: Sequence[Feature] = FEATURES) -> list[MediaFolder]:
    """Every feature's media folders."""
    return [folder for feature in features for folder in feature.media]


def jobs(features: Sequence[Feature] = FEATURES, *, where: str) -> Iterator[PeriodicJob]:
    """The periodic jobs that run ``where`` (leader or every_process)."""
    return (job for feature in features for job in feature.jobs if job.where == where)
