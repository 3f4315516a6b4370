"""The one list of features, in order. Everything else (app, CLI, scheduler, purge, config)
reads it: adding a feature is adding it here, nowhere else.

The order is the order routers are asked (after the flow entries; the catch-alls, keyword
answers and the reply to stray media, are ``fallbacks`` and come after every feature's
routers wherever their feature stands) and the order of the features' commands in
``python -m bot --help``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.kernel.config import ConfigSection
from handlers import (
    activities,
    basics,
    followers,
    keywords,
    logo_contest,
    pushes,
    stars,
    stories,
    volunteers,
)
from handlers.conversation import ConversationEngine, Flow
from handlers.feature import Feature, MediaFolder, PeriodicJob, build_router
from handlers.router import Router

FEATURES: tuple[Feature, ...] = (
    # Follow and scan events first: a generic welcome unless a flow's QR scene claimed them.
    basics.FEATURE,
    keywords.FEATURE,
    followers.FEATURE,
    volunteers.FEATURE,
    activities.FEATURE,
    stars.FEATURE,
    logo_contest.FEATURE,
    stories.FEATURE,
    pushes.FEATURE,
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


def build_handlers(
    flow_timeout_seconds: int = 1800, features: Sequence[Feature] = FEATURES
) -> Handlers:
    """Routers in order: flow entries, each feature's routers, then the fallbacks."""
    check(features)
    flows: list[Flow] = [flow for feature in features for flow in feature.flows]
    engine = ConversationEngine(flows, flow_timeout_seconds)
    routers: list[Router] = [
        # Flow entries first: a QR scene that starts a flow beats the generic welcome.
        engine.router(),
        *(build_router(spec) for feature in features for spec in feature.routers),
        *(build_router(spec) for feature in features for spec in feature.fallbacks),
    ]
    return Handlers(routers=routers, engine=engine)


def config_sections(features: Sequence[Feature] = FEATURES) -> list[ConfigSection[Any]]:
    """The features' config sections, in order."""
    return [feature.config for feature in features if feature.config is not None]


def media_folders(features: Sequence[Feature] = FEATURES) -> list[MediaFolder]:
    """Every feature's media folders."""
    return [folder for feature in features for folder in feature.media]


def jobs(features: Sequence[Feature] = FEATURES, *, where: str) -> Iterator[PeriodicJob]:
    """The periodic jobs that run ``where`` (leader or every_process)."""
    return (job for feature in features for job in feature.jobs if job.where == where)
